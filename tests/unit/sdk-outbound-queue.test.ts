import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ErrorCode, ImError, rateLimited } from '../../protocol/errors.js';
import type { SendFrame } from '../../protocol/frames.js';
import { OutboundQueue, type OutboundQueueOptions } from '../../protocol/sdk/outbound-queue.js';
import { checkedRecord } from '../../protocol/sdk/outbox.js';

/** A queue whose wire is an array; `online` decides whether transmit succeeds. */
function harness(opts: Partial<OutboundQueueOptions> = {}) {
  const wire: SendFrame[] = [];
  const failed: { cid: number; conv: string; code: string }[] = [];
  const state = { online: true };
  const q = new OutboundQueue({
    transmit: (f) => {
      if (!state.online) return false;
      wire.push(f);
      return true;
    },
    cidStart: 100,
    random: () => 0.5,
    sendRetryMs: 0,
    onFailed: (f) => failed.push({ cid: f.cid, conv: f.conv, code: f.error.code }),
    ...opts,
  });
  const sent = (f: SendFrame, seq: number) => q.handleSent({ type: 'sent', cid: f.cid, conv: f.conv, seq, ts: 1_000 + seq });
  return { q, wire, failed, state, sent };
}

const brief = (f: SendFrame) => [f.conv, f.cid, f.after];

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('sdk outbound queue – cids and after links', () => {
  it('sdk outbound queue – cids increase from cidStart and each send names the previous send to its conversation', () => {
    const { q, wire } = harness();
    void q.enqueue('a', 'a1');
    void q.enqueue('b', 'b1');
    void q.enqueue('a', 'a2');
    void q.enqueue('a', 'a3');
    expect(wire.map(brief)).toEqual([
      ['a', 100, undefined],
      ['b', 101, undefined],
      ['a', 102, 100],
      ['a', 103, 102],
    ]);
    expect('after' in wire[0]!).toBe(false);
  });

  it('sdk outbound queue – a conversation whose sends are all answered keeps no state, and its next send names no predecessor', async () => {
    const { q, wire, sent } = harness();
    for (let i = 0; i < 1_000; i++) void q.enqueue(`c${i}`, 'hi');
    expect(q.conversationsQueued).toBe(1_000);
    for (const [i, f] of [...wire].entries()) sent(f, i + 1);
    expect(q.conversationsQueued).toBe(0);
    void q.enqueue('c0', 'again');
    void q.enqueue('c0', 'and again');
    expect(wire.slice(-2).map(brief)).toEqual([
      ['c0', 1_100, undefined],
      ['c0', 1_101, 1_100],
    ]);
    expect(q.conversationsQueued).toBe(1);
  });

  it('sdk outbound queue – without cidStart, cids start from the clock (Date.now() * 1000) and stay above it', () => {
    vi.setSystemTime(1_800_000_000_000);
    const { q, wire } = harness({ cidStart: undefined });
    void q.enqueue('a', 'x');
    void q.enqueue('a', 'y');
    expect(wire[0]!.cid).toBe(1_800_000_000_000 * 1000);
    expect(wire[1]!.cid).toBe(1_800_000_000_000 * 1000 + 1);
    vi.setSystemTime(1_800_000_000_005);
    void q.enqueue('a', 'z');
    expect(wire[2]!.cid).toBe(1_800_000_000_005 * 1000);
  });

  it('sdk outbound queue – sent resolves the promise with conv, cid, seq and ts and removes the entry; a repeated sent changes nothing', async () => {
    const { q, wire, sent } = harness();
    const p = q.enqueue('a', 'hello');
    expect(sent(wire[0]!, 7)).toBe(true);
    await expect(p).resolves.toEqual({ conv: 'a', cid: 100, seq: 7, ts: 1007 });
    expect(q.size).toBe(0);
    expect(sent(wire[0]!, 7)).toBe(false);
  });
});

describe('sdk outbound queue – failures', () => {
  it('sdk outbound queue – a permanent failure rejects, is reported, and later sends name its predecessor instead', async () => {
    const { q, wire, failed } = harness();
    void q.enqueue('a', 'a1'); // 100
    const bad = q.enqueue('a', 'a2'); // 101 after 100
    void q.enqueue('a', 'a3'); // 102 after 101
    expect(q.handleError(101, new ImError(ErrorCode.NOT_MEMBER, 'no'))).toBe(true);
    await expect(bad).rejects.toMatchObject({ code: ErrorCode.NOT_MEMBER });
    expect(failed).toEqual([{ cid: 101, conv: 'a', code: 'not_member' }]);
    expect(q.snapshot()).toEqual([
      { conv: 'a', cid: 100, body: 'a1' },
      { conv: 'a', cid: 102, body: 'a3', after: 100 },
    ]);
    void q.enqueue('a', 'a4');
    expect(wire.at(-1)).toMatchObject({ cid: 103, after: 102 });
  });

  it('sdk outbound queue – a send answered expired (stored, then past the retention) leaves as stored: told as expired, not failed, and later sends still name it', async () => {
    const expired: { cid: number; conv: string }[] = [];
    const { q, wire, failed } = harness({ onExpired: (f) => expired.push(f) });
    void q.enqueue('a', 'a1'); // 100
    const gone = q.enqueue('a', 'a2'); // 101 after 100
    void q.enqueue('a', 'a3'); // 102 after 101
    // Its answer lost with the connection: sent again after the reconnect, it is found expired.
    q.disconnected();
    q.resendAll();
    expect(q.handleError(101, new ImError(ErrorCode.EXPIRED, 'expired'))).toBe(true);
    await expect(gone).rejects.toMatchObject({ code: ErrorCode.EXPIRED });
    expect([expired, failed]).toEqual([[{ cid: 101, conv: 'a', body: 'a2' }], []]);
    expect(q.snapshot()).toEqual([
      { conv: 'a', cid: 100, body: 'a1' },
      { conv: 'a', cid: 102, body: 'a3', after: 101 },
    ]);
    void q.enqueue('a', 'a4');
    expect(wire.at(-1)).toMatchObject({ cid: 103, after: 102 });
    // It is answered: a repeat of the answer changes nothing.
    expect(q.handleError(101, new ImError(ErrorCode.EXPIRED, 'expired'))).toBe(false);
  });

  it('sdk outbound queue – expired at a send\'s first try (never sent before, so never stored: a clock gone back) fails it as any refusal', async () => {
    const expired: { cid: number; conv: string }[] = [];
    const { q, failed } = harness({ onExpired: (f) => expired.push(f) });
    const first = q.enqueue('a', 'a1');
    expect(q.handleError(100, new ImError(ErrorCode.EXPIRED, 'expired'))).toBe(true);
    await expect(first).rejects.toMatchObject({ code: ErrorCode.EXPIRED });
    expect([expired, failed]).toEqual([[], [{ cid: 100, conv: 'a', code: 'expired' }]]);
  });

  it('sdk outbound queue – when the failed send was the latest, the next send names the one before it (or none)', () => {
    const { q, wire } = harness();
    const first = q.enqueue('a', 'a1'); // 100, no after
    first.catch(() => {});
    q.handleError(100, new ImError(ErrorCode.INVALID_FIELD, 'bad'));
    void q.enqueue('a', 'a2');
    expect(wire.at(-1)).toEqual({ type: 'send', conv: 'a', cid: 101, body: 'a2' });
  });

  it('sdk outbound queue – out_of_order keeps the send and re-sends the whole conversation queue in cid order, once', async () => {
    const { q, wire } = harness();
    void q.enqueue('a', 'a1'); // 100
    void q.enqueue('b', 'b1'); // 101
    void q.enqueue('a', 'a2'); // 102
    void q.enqueue('a', 'a3'); // 103
    wire.length = 0;
    q.handleError(102, new ImError(ErrorCode.OUT_OF_ORDER, 'after not stored'));
    q.handleError(103, new ImError(ErrorCode.OUT_OF_ORDER, 'after not stored'));
    expect(wire).toEqual([]);
    await vi.advanceTimersByTimeAsync(500);
    expect(wire.map(brief)).toEqual([
      ['a', 100, undefined],
      ['a', 102, 100],
      ['a', 103, 102],
    ]);
    expect(q.size).toBe(4);
  });

  it('sdk outbound queue – a send queued while its conversation waits for a re-send goes out with that re-send', async () => {
    const { q, wire } = harness();
    void q.enqueue('a', 'a1');
    q.handleError(100, new ImError(ErrorCode.UNAVAILABLE, 'moving'));
    void q.enqueue('a', 'a2');
    expect(wire.map((f) => f.cid)).toEqual([100]);
    await vi.advanceTimersByTimeAsync(500);
    expect(wire.map((f) => f.cid)).toEqual([100, 100, 101]);
  });

  it('sdk outbound queue – re-send delays grow with repeated retryable errors and stay within the cap', async () => {
    const { q, wire } = harness({ resendBaseMs: 50, resendCapMs: 400 });
    void q.enqueue('a', 'a1');
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      const before = wire.length;
      q.handleError(100, new ImError(ErrorCode.TIMEOUT, 'slow'));
      let waited = 0;
      while (wire.length === before) {
        // Fake time, 1 ms a step: a re-send not made within twice the cap (400 ms) is not coming.
        if (waited >= 800) expect.fail(`re-send ${i + 1} not made within 800 ms`);
        await vi.advanceTimersByTimeAsync(1);
        waited++;
      }
      delays.push(waited);
    }
    // random = 0.5: three quarters of the ceiling 50, 100, 200, 400, 400, 400 (rounded down).
    expect(delays).toEqual([37, 75, 150, 300, 300, 300]);
  });
});

describe('sdk outbound queue – reconnects, timeouts and bounds', () => {
  it('sdk outbound queue – sends made offline stay queued and resendAll puts the whole queue out in cid order', () => {
    const { q, wire, state } = harness();
    state.online = false;
    void q.enqueue('b', 'b1');
    void q.enqueue('a', 'a1');
    void q.enqueue('b', 'b2');
    expect(wire).toEqual([]);
    state.online = true;
    q.resendAll();
    expect(wire.map(brief)).toEqual([
      ['b', 100, undefined],
      ['a', 101, undefined],
      ['b', 102, 100],
    ]);
  });

  it('sdk outbound queue – a conversation whose sends got no answer is re-sent after sendRetryMs, not failed', async () => {
    const { q, wire, sent } = harness({ sendRetryMs: 1_000 });
    const p = q.enqueue('a', 'a1');
    await vi.advanceTimersByTimeAsync(999);
    expect(wire).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(wire.map((f) => f.cid)).toEqual([100, 100]);
    sent(wire[0]!, 3);
    await expect(p).resolves.toMatchObject({ seq: 3 });
    await vi.advanceTimersByTimeAsync(5_000);
    expect(wire).toHaveLength(2);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('sdk outbound queue – over maxQueue, send is refused with overloaded until an entry leaves', async () => {
    const { q, wire, sent } = harness({ maxQueue: 2 });
    void q.enqueue('a', '1');
    void q.enqueue('a', '2');
    await expect(q.enqueue('a', '3')).rejects.toMatchObject({ code: ErrorCode.OVERLOADED });
    sent(wire[0]!, 1);
    expect(q.size).toBe(1);
    void q.enqueue('a', '3');
    expect(q.size).toBe(2);
  });

  it('sdk outbound queue – close rejects every queued send with closed and leaves no timer', async () => {
    const { q } = harness({ sendRetryMs: 1_000 });
    const a = q.enqueue('a', '1');
    const b = q.enqueue('b', '1');
    q.handleError(100, new ImError(ErrorCode.TIMEOUT, 'slow'));
    q.close();
    await expect(a).rejects.toMatchObject({ code: ErrorCode.CLOSED });
    await expect(b).rejects.toMatchObject({ code: ErrorCode.CLOSED });
    await expect(q.enqueue('a', '2')).rejects.toMatchObject({ code: ErrorCode.CLOSED });
    expect(vi.getTimerCount()).toBe(0);
  });

  it('sdk outbound queue – sends nobody awaits raise no unhandled rejection when they fail or the client closes', async () => {
    vi.useRealTimers();
    const unhandled: unknown[] = [];
    const listener = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', listener);
    try {
      const { q } = harness();
      void q.enqueue('a', '1'); // 100: refused below
      void q.enqueue('b', '1'); // 101: queued at close
      q.handleError(100, new ImError(ErrorCode.NOT_MEMBER, 'no'));
      q.close();
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', listener);
    }
  });
});

describe('sdk outbound queue – recalls', () => {
  it('sdk outbound queue – a recall goes out as a send naming its seq, in the conversation\'s order, and survives a reconnect', async () => {
    const { q, wire, state } = harness();
    void q.enqueue('a', 'a1');
    state.online = false;
    const r = q.enqueue('a', '', { recall: 7 });
    expect(q.snapshot()).toEqual([
      { conv: 'a', cid: 100, body: 'a1' },
      { conv: 'a', cid: 101, body: '', after: 100, recall: 7 },
    ]);
    state.online = true;
    q.resendAll();
    const recall = wire.find((f) => f.cid === 101)!;
    expect(recall).toEqual({ type: 'send', conv: 'a', cid: 101, body: '', after: 100, recall: 7 });
    q.handleSent({ type: 'sent', cid: 101, conv: 'a', seq: 9, ts: 1 });
    await expect(r).resolves.toMatchObject({ cid: 101, seq: 9 });
  });

  it('sdk outbound queue – only a recall may have an empty body, and it must name a seq > 0', async () => {
    const { q, wire } = harness();
    await expect(q.enqueue('a', '')).rejects.toMatchObject({ code: ErrorCode.INVALID_FIELD });
    await expect(q.enqueue('a', '', { recall: 0 })).rejects.toMatchObject({ code: ErrorCode.INVALID_FIELD });
    await expect(q.enqueue('a', '', { recall: 1.5 })).rejects.toMatchObject({ code: ErrorCode.INVALID_FIELD });
    // An edit must say something, and a send is not a recall and an edit at once.
    await expect(q.enqueue('a', '', { edit: 3 })).rejects.toMatchObject({ code: ErrorCode.INVALID_FIELD });
    await expect(q.enqueue('a', 'x', { edit: 3, recall: 3 })).rejects.toMatchObject({ code: ErrorCode.INVALID_FIELD });
    expect(wire).toEqual([]);
  });

  it('sdk outbound queue – a reaction names a seq with at most 32 bytes (empty takes it back), goes out in order, and is kept by the outbox', async () => {
    const { q, wire } = harness();
    await expect(q.enqueue('a', '👍', { react: 0 })).rejects.toMatchObject({ code: ErrorCode.INVALID_FIELD });
    await expect(q.enqueue('a', '👍', { react: 2, edit: 2 })).rejects.toMatchObject({ code: ErrorCode.INVALID_FIELD });
    await expect(q.enqueue('a', '😀'.repeat(9), { react: 2 })).rejects.toMatchObject({ code: ErrorCode.FRAME_TOO_LARGE });
    expect(wire).toEqual([]);
    void q.enqueue('a', '👨‍👩‍👧‍👦', { react: 2 });
    void q.enqueue('a', '', { react: 2 });
    expect(wire).toEqual([
      { type: 'send', conv: 'a', cid: 100, body: '👨‍👩‍👧‍👦', react: 2 },
      { type: 'send', conv: 'a', cid: 101, body: '', after: 100, react: 2 },
    ]);
    expect(checkedRecord({ entries: q.snapshot() }).entries).toEqual([
      { conv: 'a', cid: 100, body: '👨‍👩‍👧‍👦', react: 2 },
      { conv: 'a', cid: 101, body: '', after: 100, react: 2 },
    ]);
  });

  it('sdk outbound queue – a reply names a seq on a plain message (mentions, or all, too), goes out with it, and is kept by the outbox', async () => {
    const { q, wire } = harness();
    await expect(q.enqueue('a', 'x', { reply: 0 })).rejects.toMatchObject({ code: ErrorCode.INVALID_FIELD });
    await expect(q.enqueue('a', 'x', { reply: 2, edit: 2 })).rejects.toMatchObject({ code: ErrorCode.INVALID_FIELD });
    await expect(q.enqueue('a', '', { reply: 2 })).rejects.toMatchObject({ code: ErrorCode.INVALID_FIELD });
    expect(wire).toEqual([]);
    await expect(q.enqueue('a', 'x', { mentionAll: true, react: 2 })).rejects.toMatchObject({ code: ErrorCode.INVALID_FIELD });
    void q.enqueue('a', 'yes', { reply: 2 });
    void q.enqueue('a', '@bo yes', { reply: 2, mentions: ['bo'] });
    void q.enqueue('a', '@all yes', { reply: 2, mentionAll: true });
    expect(wire).toEqual([
      { type: 'send', conv: 'a', cid: 100, body: 'yes', reply: 2 },
      { type: 'send', conv: 'a', cid: 101, body: '@bo yes', after: 100, mentions: ['bo'], reply: 2 },
      { type: 'send', conv: 'a', cid: 102, body: '@all yes', after: 101, reply: 2, mentionAll: true },
    ]);
    expect(checkedRecord({ entries: q.snapshot() }).entries).toEqual([
      { conv: 'a', cid: 100, body: 'yes', reply: 2 },
      { conv: 'a', cid: 101, body: '@bo yes', after: 100, mentions: ['bo'], reply: 2 },
      { conv: 'a', cid: 102, body: '@all yes', after: 101, reply: 2, mentionAll: true },
    ]);
  });
});

describe('sdk outbound queue – waits', () => {
  it('outbound – a rate_limited send waits out the wait the server names (slow mode), then goes again, once', async () => {
    // With the stall re-send on (10 s, the SDK's default): the named wait is not cut short by it either.
    const { q, wire } = harness({ sendRetryMs: 10_000 });
    const p = q.enqueue('slow', 'hi');
    void p.catch(() => undefined);
    const slowed = rateLimited('slow mode in slow: u may post once every 60 s', 42_000);
    expect(q.handleError(100, slowed)).toBe(true);
    await vi.advanceTimersByTimeAsync(41_000);
    expect(wire).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(wire.map((f) => f.cid)).toEqual([100, 100]);
  });

  it('outbound – a named wait is not cut short when an earlier send of the conversation is answered meanwhile', async () => {
    const { q, wire } = harness({ sendRetryMs: 10_000 });
    void q.enqueue('slow', 'a').catch(() => undefined);
    void q.enqueue('slow', 'b').catch(() => undefined);
    // b is refused at once; a's answer comes after (it waited for the group commit).
    q.handleError(101, rateLimited('slow mode', 60_000));
    q.handleSent({ type: 'sent', cid: 100, conv: 'slow', seq: 10, ts: 1 });
    await vi.advanceTimersByTimeAsync(59_000);
    expect(wire.map((f) => f.cid)).toEqual([100, 101]);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(wire.map((f) => f.cid)).toEqual([100, 101, 101]);
  });
});
