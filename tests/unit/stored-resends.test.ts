import { describe, expect, it } from 'vitest';
import { REFANOUT_WITHIN_MS, StoredResends } from '../../actors/stored-resends.js';
import type { StoredMessage } from '../../storage/message-store.js';

const NOW = 1_000_000_000;
const stored = (seq: number, ageMs: number, extra: Partial<StoredMessage> = {}): StoredMessage =>
  ({ convId: 'c', seq, prevSeq: seq - 1, senderUid: 'u', senderDid: 'd', clientMsgId: seq, body: Buffer.from('x'), createdAt: NOW - ageMs, ...extra }) as StoredMessage;

describe('chatter – re-sends answered from Postgres', () => {
  it('re-send – a recent message goes to the members again once; an old, recalled, expired or blocked one, or one from before a join, does not', () => {
    const r = new StoredResends();
    const plain = { blocked: false, retentionSec: 0, lastJoinAt: NOW - 3_600_000 };
    expect(r.fanOutAgain(stored(1, 1_000), plain, NOW)).toBe(true);
    expect(r.fanOutAgain(stored(1, 1_000), plain, NOW)).toBe(false);
    expect(r.fanOutAgain(stored(2, REFANOUT_WITHIN_MS + 1), plain, NOW)).toBe(false);
    expect(r.fanOutAgain(stored(3, 1_000, { recalledBy: 9 }), plain, NOW)).toBe(false);
    expect(r.fanOutAgain(stored(4, 61_000), { ...plain, retentionSec: 60 }, NOW)).toBe(false);
    expect(r.fanOutAgain(stored(5, 1_000), { ...plain, blocked: true }, NOW)).toBe(false);
    expect(r.fanOutAgain(stored(6, 59_000), { ...plain, retentionSec: 60 }, NOW)).toBe(true);
    // Someone joined after it was committed: they must not get it, so nobody does.
    expect(r.fanOutAgain(stored(7, 60_000), { ...plain, lastJoinAt: NOW - 30_000 }, NOW)).toBe(false);
    expect(r.fanOutAgain(stored(8, 60_000), { ...plain, lastJoinAt: NOW - 120_000 }, NOW)).toBe(true);
  });
});
