import { describe, expect, it, vi } from 'vitest';
import { ErrorCode, ImError } from '../../protocol/errors.js';
import type { ConvSummary, Msg } from '../../protocol/frames.js';
import { ConversationChains, type ConversationChainsOptions, type HistoryPage } from '../../protocol/sdk/conversation-chain.js';
import { fakeTimersPerTest } from '../helpers/sdk-harness.js';

const msg = (conv: string, seq: number, prev: number, from = 'bob'): Msg => ({ conv, seq, prev, from, did: 'd', cid: seq, ts: seq, body: `m${seq}` });
const row = (conv: string, lastSeq: number, extra: Partial<ConvSummary> = {}): ConvSummary => ({ conv, kind: 'group', lastSeq, readSeq: 0, unread: 0, ...extra });

/** Chains whose pulls wait for the test to answer them. */
function harness(opts: Partial<ConversationChainsOptions> = {}) {
  const delivered: string[] = [];
  const acks: [string, number][] = [];
  const pulls: { conv: string; after: number; limit: number; answer: (p: Omit<HistoryPage, 'conv'>) => Promise<void>; fail: (e: ImError) => Promise<void> }[] = [];
  const chains = new ConversationChains({
    deliver: (m) => delivered.push(`${m.conv}:${m.seq}`),
    pull: (conv, after, limit) =>
      new Promise<HistoryPage>((resolve, reject) => {
        pulls.push({
          conv,
          after,
          limit,
          answer: async (p) => {
            resolve({ conv, ...p });
            await vi.advanceTimersByTimeAsync(0);
          },
          fail: async (e) => {
            reject(e);
            await vi.advanceTimersByTimeAsync(0);
          },
        });
      }),
    ack: (conv, seq) => (acks.push([conv, seq]), true),
    isOpen: () => true,
    ...opts,
  });
  return { chains, delivered, acks, pulls };
}

fakeTimersPerTest();

describe('sdk chain – pulls cut by a dropped connection', () => {
  it('sdk chain – a pull cut by a dropped connection raises no error (the next list pulls again); one refused while connected does', async () => {
    let open = true;
    const errors: string[] = [];
    const { chains, pulls } = harness({ history: 'all', isOpen: () => open, onPullError: (conv, e) => void errors.push(`${conv} ${e.code}`) });
    chains.handleConvs([row('a', 5), row('b', 5)]);
    open = false;
    await pulls[0]!.fail(new ImError(ErrorCode.CLOSED, 'connection lost before the answer'));
    expect(errors).toEqual([]);
    open = true;
    await pulls[1]!.fail(new ImError(ErrorCode.TIMEOUT, 'no answer'));
    expect(errors).toEqual(['b timeout']);
  });
});

describe('sdk chain – live messages', () => {
  it('sdk chain – messages that chain onto last are delivered at once, in order, and acked once cumulatively', async () => {
    const { chains, delivered, acks, pulls } = harness({ ackDelayMs: 50 });
    chains.handleConvs([row('c', 10)]);
    chains.handleMsg(msg('c', 12, 10));
    chains.handleMsg(msg('c', 15, 12));
    expect(delivered).toEqual(['c:12', 'c:15']);
    expect(pulls).toEqual([]);
    expect(acks).toEqual([]);
    await vi.advanceTimersByTimeAsync(50);
    expect(acks).toEqual([['c', 15]]);
    expect(chains.get('c')).toMatchObject({ last: 15, lastSeq: 15 });
  });

  it('sdk chain – a duplicate is dropped but acked again', async () => {
    const { chains, delivered, acks, pulls } = harness();
    chains.handleConvs([row('c', 10)]);
    chains.handleMsg(msg('c', 12, 10));
    await vi.advanceTimersByTimeAsync(50);
    chains.handleMsg(msg('c', 12, 10));
    await vi.advanceTimersByTimeAsync(50);
    chains.handleMsg(msg('c', 9, 8));
    await vi.advanceTimersByTimeAsync(50);
    expect(delivered).toEqual(['c:12']);
    expect(pulls).toEqual([]);
    expect(acks).toEqual([
      ['c', 12],
      ['c', 12],
      ['c', 12],
    ]);
  });

  it('sdk chain – a gap holds the message, pulls from last, and delivers the history and then the held message in order, each once', async () => {
    const { chains, delivered, pulls } = harness();
    chains.handleConvs([row('c', 10)]);
    chains.handleMsg(msg('c', 20, 15));
    chains.handleMsg(msg('c', 25, 20));
    expect(delivered).toEqual([]);
    expect(pulls.map((p) => [p.conv, p.after, p.limit])).toEqual([['c', 10, 200]]);
    await pulls[0]!.answer({ msgs: [msg('c', 12, 10), msg('c', 15, 12), msg('c', 20, 15)], more: false });
    expect(delivered).toEqual(['c:12', 'c:15', 'c:20', 'c:25']);
    expect(pulls).toHaveLength(1);
    chains.handleMsg(msg('c', 20, 15));
    expect(delivered).toHaveLength(4);
  });

  it('sdk chain – a history page with more is followed by a pull from its last seq', async () => {
    const { chains, delivered, pulls } = harness();
    chains.handleConvs([row('c', 0)]);
    chains.handleMsg(msg('c', 5, 4));
    await pulls[0]!.answer({ msgs: [msg('c', 1, 0), msg('c', 2, 1)], more: true });
    expect(pulls.map((p) => p.after)).toEqual([0, 2]);
    await pulls[1]!.answer({ msgs: [msg('c', 3, 2), msg('c', 4, 3), msg('c', 5, 4)], more: false });
    expect(delivered).toEqual(['c:1', 'c:2', 'c:3', 'c:4', 'c:5']);
    expect(pulls).toHaveLength(2);
  });

  it('sdk chain – one pull per conversation at a time; a gap seen meanwhile pulls again afterwards', async () => {
    const { chains, delivered, pulls } = harness();
    chains.handleConvs([row('c', 0)]);
    chains.handleMsg(msg('c', 3, 2));
    chains.handleMsg(msg('c', 9, 8));
    expect(pulls).toHaveLength(1);
    await pulls[0]!.answer({ msgs: [msg('c', 1, 0), msg('c', 2, 1), msg('c', 3, 2)], more: false });
    expect(pulls.map((p) => p.after)).toEqual([0, 3]);
    await pulls[1]!.answer({ msgs: [msg('c', 8, 3), msg('c', 9, 8)], more: false });
    expect(delivered).toEqual(['c:1', 'c:2', 'c:3', 'c:8', 'c:9']);
  });

  it('sdk chain – a conversation first seen in a live message is pulled from the start with all history, and starts at it with latest', async () => {
    const { chains, delivered, pulls } = harness({ history: 'all' });
    chains.handleConvs([]);
    chains.handleMsg(msg('new', 7, 4));
    expect(pulls.map((p) => [p.conv, p.after])).toEqual([['new', 0]]);
    await pulls[0]!.answer({ msgs: [msg('new', 4, 0), msg('new', 7, 4)], more: false });
    expect(delivered).toEqual(['new:4', 'new:7']);
    // From now: a group the user was added to is not replayed from its start (the `joined` would have said the same).
    const latest = harness({ history: 'latest' });
    latest.chains.handleConvs([]);
    latest.chains.handleMsg(msg('big', 50_001, 50_000));
    expect([latest.pulls.length, latest.delivered]).toEqual([0, ['big:50001']]);
  });

  it('sdk chain – a failed pull is retried after a pause while the gap remains', async () => {
    const { chains, delivered, pulls } = harness();
    chains.handleConvs([row('c', 10)]);
    chains.handleMsg(msg('c', 14, 12));
    await pulls[0]!.fail(new ImError(ErrorCode.TIMEOUT, 'slow'));
    expect(pulls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(pulls.map((p) => p.after)).toEqual([10, 10]);
    await pulls[1]!.answer({ msgs: [msg('c', 12, 10), msg('c', 14, 12)], more: false });
    expect(delivered).toEqual(['c:12', 'c:14']);
  });

  it('sdk chain – retries of a failing pull back off to at most 5 s, and a fresh list pulls at once', async () => {
    const { chains, delivered, pulls } = harness();
    chains.handleConvs([row('c', 10)]);
    chains.handleMsg(msg('c', 14, 12));
    const gaps: number[] = [];
    let at = Date.now();
    for (let i = 0; i < 6; i++) {
      await pulls[i]!.fail(new ImError(ErrorCode.UNAVAILABLE, 'down'));
      // Fake time, 100 ms a step: a retry not sent 10 s after its failure (twice the cap) is not coming.
      for (let waited = 0; pulls.length === i + 1; waited += 100) {
        if (waited >= 10_000) expect.fail(`pull retry ${i + 1} not sent within 10 s of the failure`);
        await vi.advanceTimersByTimeAsync(100);
      }
      gaps.push(Date.now() - at);
      at = Date.now();
    }
    // Doubling from 500 ms up to the cap: a retry storm (a short constant delay) would fail this.
    expect(gaps).toEqual([500, 1_000, 2_000, 4_000, 5_000, 5_000]);
    await pulls[6]!.fail(new ImError(ErrorCode.UNAVAILABLE, 'down'));
    // The server answers again (a re-attach pushed `convs`): the pull goes now, not after the delay.
    chains.handleConvs([row('c', 14)]);
    expect(pulls).toHaveLength(8);
    await pulls[7]!.answer({ msgs: [msg('c', 12, 10), msg('c', 14, 12)], more: false });
    expect(delivered).toEqual(['c:12', 'c:14']);
  });
});

describe('sdk chain – baselines and catch-up', () => {
  it("sdk chain – 'latest' starts conversations of the first list at lastSeq, with nothing pulled", () => {
    const { chains, pulls } = harness({ history: 'latest' });
    chains.handleConvs([row('a', 40), row('b', 0)]);
    expect(pulls).toEqual([]);
    expect(chains.list().map((c) => [c.conv, c.last])).toEqual([
      ['a', 40],
      ['b', 0],
    ]);
  });

  it("sdk chain – 'all' pulls every conversation of the first list from 0", async () => {
    const { chains, pulls, delivered } = harness({ history: 'all' });
    chains.handleConvs([row('a', 2), row('b', 0)]);
    expect(pulls.map((p) => [p.conv, p.after])).toEqual([['a', 0]]);
    await pulls[0]!.answer({ msgs: [msg('a', 1, 0), msg('a', 2, 1)], more: false });
    expect(delivered).toEqual(['a:1', 'a:2']);
  });

  it('sdk chain – a later list pulls what is behind; with latest, a conversation new in it from its unread messages on (all of a new one, none of a long history)', () => {
    const { chains, pulls } = harness({ history: 'latest' });
    chains.handleConvs([row('a', 40)]);
    chains.handleConvs([row('a', 45), row('b', 3, { unread: 3 }), row('big', 50_000, { unread: 2 }), row('read', 9, { readSeq: 9, unread: 0 })]);
    expect(pulls.map((p) => [p.conv, p.after])).toEqual([
      ['a', 40],
      ['b', 0],
      ['big', 49_998],
    ]);
  });

  it('sdk chain – with latest, a conversation new in a later list starts after the seen point the server names (seqs are not consecutive), so every unread message comes', async () => {
    const { chains, pulls, delivered } = harness({ history: 'latest' });
    chains.handleConvs([row('a', 40)]);
    // Stored in `b`: 3, 7, 11 (its chatter shard's seqs go to other conversations too); 7 and 11 are unread.
    chains.handleConvs([row('a', 40), row('b', 11, { unread: 2, seenSeq: 3 })]);
    expect(pulls.map((p) => [p.conv, p.after])).toEqual([['b', 3]]);
    await pulls[0]!.answer({ msgs: [msg('b', 7, 3), msg('b', 11, 7)], more: false });
    expect(delivered).toEqual(['b:7', 'b:11']);
  });

  it('sdk chain – readSeq and unread come from the list, read marks raise readSeq, and messages of others add unread', () => {
    const { chains } = harness();
    chains.setUid('me');
    chains.handleConvs([row('c', 10, { readSeq: 8, unread: 2 })]);
    chains.handleMsg(msg('c', 11, 10, 'bob'));
    expect(chains.get('c')).toMatchObject({ readSeq: 8, unread: 3 });
    // A reaction (like an edit or a recall) is nothing new to read.
    chains.handleMsg({ ...msg('c', 12, 11, 'bob'), body: '👍', react: 11 });
    expect(chains.get('c')).toMatchObject({ lastSeq: 12, unread: 3, mentions: 0 });
    // A message naming the user counts as a mention too, one naming others does not.
    chains.handleMsg({ ...msg('c', 13, 12, 'bob'), mentions: ['me', 'ann'] });
    chains.handleMsg({ ...msg('c', 14, 13, 'bob'), mentions: ['ann'] });
    expect(chains.get('c')).toMatchObject({ unread: 5, mentions: 1 });
    // So does a reply to one of the user's messages (once, if it also names them), not a reply to someone else's.
    chains.handleMsg({ ...msg('c', 15, 14, 'bob'), reply: 3, replyFrom: 'me' });
    chains.handleMsg({ ...msg('c', 16, 15, 'bob'), reply: 3, replyFrom: 'me', mentions: ['me'] });
    chains.handleMsg({ ...msg('c', 17, 16, 'bob'), reply: 4, replyFrom: 'ann' });
    expect(chains.get('c')).toMatchObject({ unread: 8, mentions: 3 });
    // And one that mentions everyone.
    chains.handleMsg({ ...msg('c', 18, 17, 'bob'), mentionAll: true });
    expect(chains.get('c')).toMatchObject({ unread: 9, mentions: 4 });
    chains.handleRead('c', 5);
    expect(chains.get('c')).toMatchObject({ readSeq: 8 });
    chains.handleRead('c', 18);
    expect(chains.get('c')).toMatchObject({ readSeq: 18, unread: 0, mentions: 0 });
  });

  it('sdk chain – a recall of a message that mentioned the user, counted live, takes its mention off; one the last list counted stays until the next count (no request per recall)', async () => {
    const rereads: [string, number][] = [];
    const { chains } = harness({ reread: (conv, seq) => void rereads.push([conv, seq]) });
    chains.setUid('me');
    chains.handleConvs([row('c', 10, { readSeq: 8, unread: 2, mentions: 1 })]);
    chains.handleMsg({ ...msg('c', 11, 10, 'bob'), mentions: ['me'] });
    expect(chains.get('c')).toMatchObject({ unread: 3, mentions: 2 });
    // Counted here: taken off at once (the recalled message itself stays unread, as the server counts it).
    chains.handleMsg({ ...msg('c', 12, 11, 'bob'), body: '', recall: 11 });
    expect(chains.get('c')).toMatchObject({ unread: 3, mentions: 1 });
    // Message 9 was counted by the list: whether it was the mention, only the next count says.
    chains.handleMsg({ ...msg('c', 13, 12, 'bob'), body: '', recall: 9 });
    expect(chains.get('c')).toMatchObject({ unread: 3, mentions: 1 });
    expect(rereads).toEqual([]);
  });

  it('sdk chain – an expiry (cleared) at or past the last exact count leaves unread only what was counted live above it; one below it waits for the next count', async () => {
    const rereads: [string, number][] = [];
    const { chains } = harness({ reread: (conv, seq) => void rereads.push([conv, seq]) });
    chains.setUid('me');
    chains.handleConvs([row('c', 10, { readSeq: 4, unread: 6, mentions: 2 }), row('d', 10, { readSeq: 4, unread: 6, mentions: 1 }), row('e', 10, { readSeq: 9, unread: 1 })]);
    expect(chains.handleCleared('c', 10)).toBe(true);
    expect(chains.get('c')).toMatchObject({ unread: 0, mentions: 0 });
    chains.handleMsg({ ...msg('d', 11, 10, 'bob'), mentions: ['me'] });
    chains.handleMsg(msg('d', 12, 11, 'bob'));
    expect(chains.get('d')).toMatchObject({ unread: 8, mentions: 2 });
    expect(chains.handleCleared('d', 7)).toBe(true);
    expect(chains.get('d')).toMatchObject({ unread: 8, mentions: 2 });
    expect(chains.handleCleared('d', 11)).toBe(true);
    expect(chains.get('d')).toMatchObject({ unread: 1, mentions: 0 });
    expect(chains.handleCleared('e', 8)).toBe(true);
    expect(chains.get('e')).toMatchObject({ unread: 1 });
    // Nothing asked of the server: a read would take a mark as unread off, and cost every member one per sweep.
    expect(rereads).toEqual([]);
  });

  it('sdk chain – a read mark below the last message takes the exact count the server echoes with it', () => {
    const { chains } = harness();
    chains.setUid('me');
    chains.handleConvs([row('c', 10, { readSeq: 0, unread: 10 })]);
    // The mark alone cannot say how many of the ten it passed; the echo's count can.
    expect(chains.handleRead('c', 4)).toBe(true);
    expect(chains.get('c')).toMatchObject({ readSeq: 4, unread: 10 });
    expect(chains.handleRead('c', 4, { unread: 6, lastSeq: 10 })).toBe(true);
    expect(chains.get('c')).toMatchObject({ readSeq: 4, unread: 6 });
    // Messages past what the server counted add to its count, once.
    chains.handleMsg(msg('c', 11, 10, 'bob'));
    expect(chains.get('c')).toMatchObject({ unread: 7 });
    // An echo that counted only up to 10, arriving after this device counted 11: 11 is added to it, once.
    expect(chains.handleRead('c', 6, { unread: 4, lastSeq: 10 })).toBe(true);
    expect(chains.get('c')).toMatchObject({ readSeq: 6, unread: 5 });
    // The exact count through 11 says the same; again, nothing changes.
    expect(chains.handleRead('c', 6, { unread: 5, lastSeq: 11 })).toBe(false);
    expect(chains.get('c')).toMatchObject({ readSeq: 6, unread: 5 });
    expect(chains.handleRead('c', 6, { unread: 5, lastSeq: 11 })).toBe(false);
    // An echo older than that exact count has nothing to add to: it is not taken.
    expect(chains.handleRead('c', 6, { unread: 9, lastSeq: 10 })).toBe(false);
    expect(chains.get('c')).toMatchObject({ unread: 5 });
  });

  it('sdk chain – an own new message means everything before it was seen: unread starts again from 0, as the server counts', () => {
    const { chains } = harness();
    chains.setUid('me');
    chains.handleConvs([row('c', 10, { readSeq: 8, unread: 2 })]);
    chains.handleMsg(msg('c', 11, 10, 'bob'));
    chains.handleMsg(msg('c', 12, 11, 'me'));
    expect(chains.get('c')).toMatchObject({ readSeq: 8, unread: 0 });
    chains.handleMsg(msg('c', 13, 12, 'bob'));
    expect(chains.get('c')).toMatchObject({ unread: 1 });
  });

  it('sdk chain – an own message inside what the list already counted does not reset its unread (the server counted from it)', async () => {
    const { chains, pulls } = harness({ history: 'all' });
    chains.setUid('me');
    // The server counts bob's 3 and 4, after my 2.
    chains.handleConvs([row('c', 4, { unread: 2 })]);
    await pulls[0]!.answer({ msgs: [msg('c', 1, 0, 'bob'), msg('c', 2, 1, 'me'), msg('c', 3, 2, 'bob'), msg('c', 4, 3, 'bob')], more: false });
    expect(chains.get('c')).toMatchObject({ lastSeq: 4, unread: 2 });
  });

  it('sdk chain – close stops deliveries and timers', async () => {
    const { chains, delivered } = harness();
    chains.handleConvs([row('c', 1)]);
    chains.handleMsg(msg('c', 2, 1));
    chains.close();
    chains.handleMsg(msg('c', 3, 2));
    expect(delivered).toEqual(['c:2']);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('sdk chain – lists that cross live news', () => {
  it('sdk chain – a list read before a conversation was joined (or first messaged) does not take it out; one read well after does', async () => {
    const { chains } = harness({ listStaleGraceMs: 5_000 });
    chains.handleConvs([row('a', 1)]);
    expect(chains.handleJoined({ conv: 'b', kind: 'group', title: 'B', lastSeq: 0 })).toBe(true);
    chains.handleMsg(msg('c', 1, 0));
    // A list computed before both arrives after them: nothing is taken out, no left.
    expect(chains.handleConvs([row('a', 1)])).toEqual([]);
    expect(chains.list().map((x) => x.conv).sort()).toEqual(['a', 'b', 'c']);
    // Past the grace, a list without them means they are gone.
    await vi.advanceTimersByTimeAsync(5_001);
    expect(chains.handleConvs([row('a', 1), row('c', 1)])).toEqual(['b']);
    expect(chains.list().map((x) => x.conv).sort()).toEqual(['a', 'c']);
    // A conversation known from lists only is taken out by the next list that lacks it, at once.
    expect(chains.handleConvs([row('c', 1)])).toEqual(['a']);
  });
});

describe('sdk chain – a list in pages', () => {
  it('sdk chain – a list that took long to arrive counts from its first page: news heard since stands against it', async () => {
    const { chains } = harness({ listStaleGraceMs: 5_000 });
    chains.handleConvs([row('a', 1)]);
    const firstPage = Date.now();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(chains.handleJoined({ conv: 'b', kind: 'group', lastSeq: 0 })).toBe(true);
    // The last page comes 15 s later: the list was read before the join.
    await vi.advanceTimersByTimeAsync(15_000);
    expect(chains.handleConvs([row('a', 1)], firstPage)).toEqual([]);
    expect(chains.list().map((x) => x.conv).sort()).toEqual(['a', 'b']);
    // A list read well after the join does take it out.
    expect(chains.handleConvs([row('a', 1)])).toEqual(['b']);
  });
});

describe('sdk chain – joined again', () => {
  it('sdk chain – a repeat joined for a conversation in the list keeps what it does not carry; one for a conversation left takes it whole', () => {
    const { chains } = harness();
    const pins = [{ seq: 1, at: 5 }];
    chains.handleConvs([row('d', 1, { kind: 'direct', retention: 3600, pins }), row('g', 1, { meta: 'm', slowMode: 30 })]);
    expect(chains.handleJoined({ conv: 'd', kind: 'direct', lastSeq: 1 })).toBe(false);
    expect(chains.get('d')).toMatchObject({ retention: 3600, pins });
    expect(chains.handleJoined({ conv: 'g', kind: 'group', lastSeq: 1, meta: 'n' })).toBe(false);
    expect(chains.get('g')).toMatchObject({ meta: 'n', slowMode: 30 });
    chains.handleLeft('g', true);
    expect(chains.handleJoined({ conv: 'g', kind: 'group', lastSeq: 1 })).toBe(true);
    expect(chains.get('g')?.meta).toBeUndefined();
    expect(chains.get('g')?.slowMode).toBeUndefined();
  });
});

describe('sdk chain – cleared history', () => {
  it('sdk chain – a clear moves the chain past its mark: what is held or retransmitted at or below it is not delivered, the next message chains on, the ack covers it', async () => {
    const { chains, delivered, acks, pulls } = harness({ ackDelayMs: 50 });
    chains.handleConvs([row('c', 2)]);
    chains.handleMsg(msg('c', 5, 4));
    expect(pulls.map((p) => p.after)).toEqual([2]);
    expect(chains.handleCleared('c', 4)).toBe(true);
    // 5 chains onto the mark: delivered without waiting for the pull.
    expect(delivered).toEqual(['c:5']);
    chains.handleMsg(msg('c', 3, 2));
    await pulls[0]!.answer({ msgs: [msg('c', 3, 2), msg('c', 4, 3), msg('c', 5, 4)], more: false });
    expect(delivered).toEqual(['c:5']);
    await vi.advanceTimersByTimeAsync(50);
    expect(acks.at(-1)).toEqual(['c', 5]);
    // Never back.
    expect(chains.handleCleared('c', 3)).toBe(false);
    expect(chains.get('c')).toMatchObject({ last: 5, clearedSeq: 4 });
    chains.handleMsg(msg('c', 6, 5));
    expect(delivered).toEqual(['c:5', 'c:6']);
  });

  it("sdk chain – a list's clearedSeq starts a new device above the mark and moves a known chain past it; a clear below last only records the mark", async () => {
    const { chains, delivered, pulls } = harness({ history: 'all' });
    chains.handleConvs([row('c', 9, { clearedSeq: 6 }), row('d', 3)]);
    expect(pulls.map((p) => [p.conv, p.after])).toEqual([['c', 6], ['d', 0]]);
    await pulls[0]!.answer({ msgs: [msg('c', 8, 6), msg('c', 9, 8)], more: false });
    await pulls[1]!.answer({ msgs: [msg('d', 1, 0), msg('d', 2, 1), msg('d', 3, 2)], more: false });
    expect(delivered).toEqual(['c:8', 'c:9', 'd:1', 'd:2', 'd:3']);
    expect(chains.get('c')?.clearedSeq).toBe(6);
    expect(chains.get('d')).not.toHaveProperty('clearedSeq');
    // Cleared on another device below what this one holds: the mark only (the app drops what it shows).
    expect(chains.handleCleared('d', 2)).toBe(true);
    expect(chains.get('d')).toMatchObject({ last: 3, clearedSeq: 2 });
    // A later list moves a chain past a mark made while this device was away.
    chains.handleConvs([row('c', 12, { clearedSeq: 11 }), row('d', 3, { clearedSeq: 2 })]);
    expect(pulls.map((p) => [p.conv, p.after]).slice(2)).toEqual([['c', 11]]);
    await pulls[2]!.answer({ msgs: [msg('c', 12, 11)], more: false });
    expect(delivered.slice(5)).toEqual(['c:12']);
  });
});

describe('sdk chain – hides made while away', () => {
  it('sdk chain – a known conversation whose list shows a later hide is asked for once, and counted known only when answered; a first list asks nothing', async () => {
    const asks: { conv: string; answer: () => Promise<void>; fail: () => Promise<void> }[] = [];
    const hides = (conv: string): Promise<unknown> =>
      new Promise((resolve, reject) => {
        const settle = async (how: () => void): Promise<void> => {
          how();
          await vi.advanceTimersByTimeAsync(0);
        };
        asks.push({ conv, answer: () => settle(() => resolve([])), fail: () => settle(() => reject(new ImError(ErrorCode.TIMEOUT, 'no answer'))) });
      });
    const { chains } = harness({ hides });
    chains.handleConvs([row('c', 1, { hiddenAt: 50 })]);
    expect(asks).toHaveLength(0);
    expect(chains.get('c')!.hiddenAt).toBe(50);

    chains.handleConvs([row('c', 1, { hiddenAt: 100 })]);
    chains.handleConvs([row('c', 1, { hiddenAt: 100 })]);
    expect(asks.map((a) => a.conv)).toEqual(['c']);
    await asks[0]!.fail();
    expect(chains.get('c')!.hiddenAt).toBe(50);
    chains.handleConvs([row('c', 1, { hiddenAt: 100 })]);
    await asks[1]!.answer();
    expect(chains.get('c')!.hiddenAt).toBe(100);
    chains.handleConvs([row('c', 1, { hiddenAt: 100 })]);
    expect(asks).toHaveLength(2);
  });

  it('sdk chain – a live hide counts as known only after this connection\'s list: one heard before it does not hide an older hide made while away', async () => {
    const asked: string[] = [];
    const { chains } = harness({ hides: (conv) => (asked.push(conv), Promise.resolve([])) });
    chains.handleConvs([row('c', 1)]);
    chains.handleHiddenAt('c', 200);
    expect(chains.get('c')!.hiddenAt).toBe(200);
    chains.disconnected();
    // Back: a live hide arrives before the list, which shows a hide at 300 made while away.
    chains.handleHiddenAt('c', 400);
    expect(chains.get('c')!.hiddenAt).toBe(200);
    chains.handleConvs([row('c', 1, { hiddenAt: 400 })]);
    expect(asked).toEqual(['c']);
  });
});

describe('sdk chain – news of a conversation new to this device that overtakes the list', () => {
  it('sdk chain – after a reconnect, a message of a conversation the device does not hold yet waits for the list: its unread messages before it are pulled and delivered as news, in order', async () => {
    const { chains, delivered, pulls } = harness();
    chains.handleConvs([]);
    chains.disconnected();
    // Added to g at seq 100 while away; 101–110 came meanwhile. 111 is pushed before this connection's list.
    chains.handleMsg(msg('g', 111, 110));
    expect(delivered).toEqual([]);
    chains.handleConvs([row('g', 110, { unread: 10, seenSeq: 100 })]);
    expect(pulls.map((p) => [p.conv, p.after])).toEqual([['g', 100]]);
    await pulls[0]!.answer({ msgs: Array.from({ length: 10 }, (_, i) => msg('g', 101 + i, 100 + i)), more: false });
    expect(delivered).toEqual(Array.from({ length: 11 }, (_, i) => `g:${101 + i}`));
    expect(chains.get('g')).toMatchObject({ last: 111, unread: 11 });
  });

  it('sdk chain – such a message waits only for this connection: dropped with it, the next list brings it; before the first list it starts the chain as ever', async () => {
    const { chains, delivered, pulls } = harness();
    chains.handleMsg(msg('a', 5, 4));
    expect(delivered).toEqual(['a:5']);
    chains.handleConvs([row('a', 5)]);
    chains.disconnected();
    chains.handleMsg(msg('g', 3, 2));
    chains.disconnected();
    expect(delivered).toEqual(['a:5']);
    chains.handleConvs([row('a', 5), row('g', 3, { unread: 2, seenSeq: 1 })]);
    expect(pulls.map((p) => [p.conv, p.after])).toEqual([['g', 1]]);
    await pulls[0]!.answer({ msgs: [msg('g', 2, 1), msg('g', 3, 2)], more: false });
    expect(delivered).toEqual(['a:5', 'g:2', 'g:3']);
  });

  it('sdk chain – retransmits of a message kept for the list take no second place: the messages after it still fit', async () => {
    const { chains, delivered, pulls } = harness({ maxHeld: 2 });
    chains.handleConvs([]);
    chains.disconnected();
    for (let i = 0; i < 3; i++) chains.handleMsg(msg('g', 111, 110));
    chains.handleMsg(msg('g', 112, 111));
    chains.handleConvs([row('g', 110, { unread: 1, seenSeq: 109 })]);
    await pulls[0]!.answer({ msgs: [msg('g', 110, 109)], more: false });
    expect(delivered).toEqual(['g:110', 'g:111', 'g:112']);
  });
});

describe('sdk chain – unread counts', () => {
  it('sdk chain – a message this user hid, brought by a gap pull, is not counted unread', async () => {
    const { chains, delivered, pulls } = harness();
    chains.handleConvs([row('c', 10)]);
    chains.handleMsg(msg('c', 12, 11));
    await pulls[0]!.answer({ msgs: [{ ...msg('c', 11, 10), hidden: true }, msg('c', 12, 11)], more: false });
    expect(delivered).toEqual(['c:11', 'c:12']);
    expect(chains.get('c')).toMatchObject({ unread: 1 });
  });

  it('sdk chain – a read mark or count for a conversation this device left changes nothing (the client emits no read for it)', () => {
    const { chains } = harness();
    chains.handleConvs([row('c', 5, { unread: 2, seenSeq: 3 })]);
    chains.handleLeft('c');
    expect(chains.handleRead('c', 5, { unread: 0, lastSeq: 5 })).toBe(false);
    expect(chains.handleCount('c', { unread: 0, lastSeq: 5 })).toBe(false);
  });
});

describe('sdk chain – a count read before messages counted live', () => {
  it('sdk chain – the echo of a read on another device, overtaken by a newer message, leaves that message unread (and its mention)', () => {
    const { chains } = harness();
    chains.setUid('me');
    chains.handleConvs([row('g', 10, { unread: 3, seenSeq: 7, mentions: 1 })]);
    chains.handleMsg({ ...msg('g', 11, 10), mentions: ['me'] });
    expect(chains.get('g')).toMatchObject({ unread: 4, mentions: 2 });
    expect(chains.handleRead('g', 10, { unread: 0, lastSeq: 10, mentions: 0 })).toBe(true);
    expect(chains.get('g')).toMatchObject({ readSeq: 10, unread: 1, mentions: 1 });
  });

  it('sdk chain – a count older than a read to the end (past messages held behind a gap) is not taken', () => {
    const { chains } = harness();
    chains.handleConvs([row('g', 10, { unread: 3, seenSeq: 7 })]);
    chains.handleMsg(msg('g', 12, 11));
    expect(chains.handleRead('g', 12)).toBe(true);
    expect(chains.get('g')).toMatchObject({ unread: 0 });
    expect(chains.handleCount('g', { unread: 3, lastSeq: 10 })).toBe(false);
    expect(chains.get('g')).toMatchObject({ unread: 0 });
  });

  it('sdk chain – a list read before a message counted live adds it to its count; one older than an own message is ignored', () => {
    const { chains } = harness();
    chains.setUid('me');
    chains.handleConvs([row('g', 10, { unread: 2, seenSeq: 8 })]);
    chains.handleMsg(msg('g', 11, 10));
    chains.handleMsg(msg('g', 12, 11));
    // A sync's answer read when the user had read through 10 and 11 had not come yet.
    chains.handleConvs([row('g', 10, { readSeq: 10, unread: 0 })]);
    expect(chains.get('g')).toMatchObject({ unread: 2 });
    chains.handleMsg(msg('g', 13, 12, 'me'));
    chains.handleConvs([row('g', 12, { readSeq: 10, unread: 2 })]);
    expect(chains.get('g')).toMatchObject({ unread: 0 });
  });
});
