import { describe, expect, it } from 'vitest';
import type { ChatServices } from '../../actors/chat-services.js';
import { ClientFrames, MAX_PULLS_WAITING } from '../../actors/gateway/client-frames.js';
import type { ListPager } from '../../actors/gateway/list-pager.js';
import type { Session } from '../../actors/gateway/session.js';
import type { ServerFrame } from '../../protocol/frames.js';
import { silentLogger } from '../../runtime/logger.js';
import type { ActorSender } from '../../runtime/actor-host.js';
import type { StoredMessage } from '../../storage/message-store.js';

const LIMIT = 1 << 20;
const big = new Uint8Array(16_000);

/** 200 messages of 16 KB: a page cut near 512 KiB. */
const rows = (after: number, n: number): StoredMessage[] =>
  Array.from({ length: n }, (_, i) => ({ convId: 'g', seq: after + i + 1, prevSeq: after + i, senderUid: 'u', senderDid: 'd', clientMsgId: i + 1, body: big, createdAt: 1 }));

describe('gateway pulls – big pages wait for a slow reader', () => {
  it('gateway pulls – pages wait while the socket is full, at most 8 of them; more are refused at once (overloaded); all go once it drains', async () => {
    const svc = {
      messages: { readAfter: async (_c: string, after: number, n: number) => rows(after, n), withReactions: async (m: StoredMessage[]) => m },
      convs: { isMember: async () => true },
    } as unknown as ChatServices;
    const answers: ServerFrame[] = [];
    const frames = new ClientFrames({} as ActorSender, svc, (_s, f) => void answers.push(f), {} as ListPager, silentLogger(), () => LIMIT);
    const held = { bytes: 900_000 };
    const s = { state: 'open', uid: 'u', pullsWaiting: 0, pullsInFlight: 0, unsent: () => held.bytes, end: () => {} } as unknown as Session;
    for (let rid = 1; rid <= MAX_PULLS_WAITING + 2; rid++) frames.handle(s, { type: 'pull', rid, conv: 'g', after: 0, limit: 200 });
    await new Promise((r) => setTimeout(r, 100));
    // The socket holds 900 KB: nothing goes; the two past the eight waiting are refused, retryably.
    expect(answers.map((a) => [a.type, (a as { code?: string }).code])).toEqual([
      ['error', 'overloaded'],
      ['error', 'overloaded'],
    ]);
    expect(s.pullsWaiting).toBe(MAX_PULLS_WAITING);
    held.bytes = 0;
    await new Promise((r) => setTimeout(r, 100));
    expect(answers.filter((a) => a.type === 'history')).toHaveLength(MAX_PULLS_WAITING);
    expect(s.pullsWaiting).toBe(0);
  });

  it('gateway pulls – pages read together and done in one turn see each other: the second waits for room instead of both going past the limit', async () => {
    const svc = {
      messages: { readAfter: async (_c: string, after: number, n: number) => rows(after, n), withReactions: async (m: StoredMessage[]) => m },
      convs: { isMember: async () => true },
    } as unknown as ChatServices;
    const held = { bytes: 0 };
    const answers: ServerFrame[] = [];
    // What is queued counts at once, as the gateway's own queue does.
    const reply = (_s: Session, f: ServerFrame) => {
      answers.push(f);
      if (f.type === 'history') held.bytes += f.msgs.length * big.byteLength;
    };
    const frames = new ClientFrames({} as ActorSender, svc, reply, {} as ListPager, silentLogger(), () => LIMIT);
    const s = { state: 'open', uid: 'u', pullsWaiting: 0, pullsInFlight: 0, unsent: () => held.bytes, end: () => {} } as unknown as Session;
    frames.handle(s, { type: 'pull', rid: 1, conv: 'g', after: 0, limit: 200 });
    frames.handle(s, { type: 'pull', rid: 2, conv: 'g', after: 0, limit: 200 });
    await new Promise((r) => setTimeout(r, 50));
    expect(answers.map((a) => a.type)).toEqual(['history']);
    expect(s.pullsWaiting).toBe(1);
    held.bytes = 0;
    await new Promise((r) => setTimeout(r, 100));
    expect(answers.map((a) => a.type)).toEqual(['history', 'history']);
  });
});
