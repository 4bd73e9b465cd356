import { describe, expect, it } from 'vitest';
import { fitPage, historyPageBytes } from '../../actors/gateway/history-page.js';
import { toMsg } from '../../actors/stored-msg.js';
import { encodeFrame } from '../../protocol/codec.js';
import { MAX_HISTORY_PAGE_BYTES } from '../../protocol/limits.js';
import type { StoredMessage } from '../../storage/message-store.js';

/** A 128-byte id in a script of three UTF-8 bytes a character (42 of them, and two ASCII). */
const wideId = (i: number): string => `${'名'.repeat(42)}${String(i % 100).padStart(2, '0')}`;

function message(seq: number): StoredMessage {
  return {
    convId: wideId(0),
    seq,
    prevSeq: seq - 1,
    senderUid: wideId(1),
    senderDid: wideId(2),
    clientMsgId: seq,
    body: new TextEncoder().encode('hi'),
    createdAt: 1_800_000_000_000 + seq,
    mentions: Array.from({ length: 50 }, (_, i) => wideId(i)),
    replyTo: seq > 1 ? seq - 1 : undefined,
    replyUid: seq > 1 ? wideId(3) : undefined,
  };
}

describe('history page – what one pull answers', () => {
  it('history page – 200 messages full of wide ids and mentions are cut to a frame within the page limit, oldest kept for an after-pull', () => {
    const msgs = Array.from({ length: 200 }, (_, i) => message(i + 1));
    const page = fitPage(msgs, false);
    expect(page.cut).toBe(true);
    expect(page.msgs[0]!.seq).toBe(1);
    const bytes = encodeFrame({ type: 'history', rid: 1, conv: wideId(0), msgs: page.msgs.map(toMsg), more: true });
    expect(bytes.byteLength).toBeLessThanOrEqual(MAX_HISTORY_PAGE_BYTES);
    // Not cut far below the limit either: the next pull goes on from there.
    expect(bytes.byteLength).toBeGreaterThan(MAX_HISTORY_PAGE_BYTES / 2);
    const before = fitPage(msgs, true);
    expect(before.msgs[before.msgs.length - 1]!.seq).toBe(200);
  });

  it('history page – a page of small messages goes whole', () => {
    const small = Array.from({ length: 200 }, (_, i) => ({ ...message(i + 1), mentions: undefined, convId: 'c', senderUid: 'u', senderDid: 'd' }));
    expect(fitPage(small, false)).toMatchObject({ msgs: small, cut: false });
  });

  it('history page – under a lower slow-reader limit a page stays within half of it, and says about how big it is', () => {
    expect(historyPageBytes(1 << 20)).toBe(MAX_HISTORY_PAGE_BYTES);
    expect(historyPageBytes(256 * 1024)).toBe(128 * 1024);
    const msgs = Array.from({ length: 200 }, (_, i) => message(i + 1));
    const page = fitPage(msgs, false, historyPageBytes(256 * 1024));
    expect(page.cut).toBe(true);
    const bytes = encodeFrame({ type: 'history', rid: 1, conv: wideId(0), msgs: page.msgs.map(toMsg), more: true }).byteLength;
    expect(bytes).toBeLessThanOrEqual(128 * 1024);
    // The estimate errs high (what the gateway waits for room for), and not by much.
    expect(page.bytes).toBeGreaterThanOrEqual(bytes);
    expect(page.bytes).toBeLessThan(bytes * 1.5);
  });
});
