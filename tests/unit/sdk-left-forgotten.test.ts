import { describe, expect, it, vi } from 'vitest';
import { ErrorCode, ImError } from '../../protocol/errors.js';
import type { ConvSummary, Msg } from '../../protocol/frames.js';
import { ConversationChains, type ConversationChainsOptions, type HistoryPage } from '../../protocol/sdk/conversation-chain.js';
import { DEFAULT_MAX_LEFT_KEPT } from '../../protocol/sdk/index.js';
import { fakeTimersPerTest, flush, msg, welcomedHarness } from '../helpers/sdk-harness.js';

fakeTimersPerTest();

const N = DEFAULT_MAX_LEFT_KEPT;
const GROUPS = 5_000;
const row = (conv: string, lastSeq: number, extra: Partial<ConvSummary> = {}): ConvSummary => ({ conv, kind: 'group', lastSeq, readSeq: 0, unread: 0, ...extra });

/** A client whose user joined GROUPS groups one after the other, got message 1 in each, and left each. */
async function joinedAndLeftThousands() {
  // A heartbeat longer than the test: the fake server answers no ping.
  const h = await welcomedHarness({}, { heartbeatMs: 3_600_000 });
  h.s.receive({ type: 'convs', list: [] });
  for (let i = 0; i < GROUPS; i++) {
    h.s.receive({ type: 'joined', conv: `g${i}`, kind: 'group', lastSeq: 0, meta: 'm'.repeat(1_000), pins: [{ seq: 1, at: 1 }] });
    h.s.receive({ type: 'msg', ...msg(`g${i}`, 1, 0) });
    h.s.receive({ type: 'left', conv: `g${i}` });
    vi.advanceTimersByTime(1);
  }
  // Long enough ago that lists count again.
  await vi.advanceTimersByTimeAsync(20_000);
  return h;
}

describe('sdk client – left conversations are kept only so far', () => {
  it(`sdk client – a user who joined and left thousands of groups keeps at most N of them, the latest left; one forgotten and added again starts at its unread messages, nothing replayed`, async () => {
    const { client, s, messages } = await joinedAndLeftThousands();
    expect(client.conversations()).toEqual([]);
    // Added again while away to the first group left (long forgotten), having read message 1: two unread since.
    // The N groups left last, and the one left just before them, are listed again with message 1 still unread.
    const unreadAll = { unread: 3, seenSeq: 0 };
    const kept = [`g${GROUPS - N}`, `g${GROUPS - 1}`];
    const forgotten = `g${GROUPS - N - 1}`;
    s.receive({ type: 'convs', list: [row('g0', 3, { readSeq: 1, unread: 2, seenSeq: 1 }), row(forgotten, 3, unreadAll), ...kept.map((c) => row(c, 3, unreadAll))] });
    await flush();
    // Kept: the chain goes on after message 1, already delivered. Forgotten: as a device new to it, from the unread.
    expect(s.sentOf('pull').map((p) => [p.conv, p.after])).toEqual([['g0', 1], [forgotten, 0], ...kept.map((c) => [c, 1])]);
    const [pull] = s.sentOf('pull');
    s.receive({ type: 'history', rid: pull!.rid, conv: 'g0', msgs: [msg('g0', 2, 1), msg('g0', 3, 2)], more: false });
    await flush();
    expect(messages.filter((m) => m.startsWith('g0:'))).toEqual(['g0:1', 'g0:2', 'g0:3']);
    expect(client.conversations().map((c) => c.conv).sort()).toEqual(['g0', forgotten, ...kept].sort());
    expect(client.conversations().find((c) => c.conv === 'g0')).toMatchObject({ last: 3, unread: 2 });
    client.close();
  });

  it('sdk client – a group forgotten and added again live starts at its join point: nothing it sent before is delivered again, and it lists as new', async () => {
    const { client, s, messages } = await joinedAndLeftThousands();
    s.receive({ type: 'joined', conv: 'g0', kind: 'group', lastSeq: 4, title: 'back' });
    await flush();
    expect(s.sentOf('pull')).toEqual([]);
    s.receive({ type: 'msg', ...msg('g0', 5, 4) });
    expect(messages.filter((m) => m.startsWith('g0:'))).toEqual(['g0:1', 'g0:5']);
    expect(client.conversations()).toEqual([expect.objectContaining({ conv: 'g0', title: 'back', last: 5, unread: 1 })]);
    client.close();
  });
});

const chainMsg = (conv: string, seq: number, prev: number): Msg => ({ conv, seq, prev, from: 'bob', did: 'd', cid: seq, ts: seq, body: `m${seq}` });

/** Chains whose pulls wait for the test to answer them. */
function chainHarness(opts: Partial<ConversationChainsOptions> = {}) {
  const delivered: string[] = [];
  const errors: string[] = [];
  const pulls: { conv: string; after: number; answer: (p: Omit<HistoryPage, 'conv'>) => Promise<void>; fail: (e: ImError) => Promise<void> }[] = [];
  const chains = new ConversationChains({
    deliver: (m) => delivered.push(`${m.conv}:${m.seq}`),
    pull: (conv, after) =>
      new Promise<HistoryPage>((resolve, reject) => {
        const settle = async (f: () => void): Promise<void> => {
          f();
          await vi.advanceTimersByTimeAsync(0);
        };
        pulls.push({ conv, after, answer: (p) => settle(() => resolve({ conv, ...p })), fail: (e) => settle(() => reject(e)) });
      }),
    ack: () => true,
    isOpen: () => true,
    onPullError: (conv, e) => void errors.push(`${conv} ${e.code}`),
    ...opts,
  });
  return { chains, delivered, errors, pulls };
}

describe('sdk chain – forgotten left conversations', () => {
  it('sdk chain – conversations first seen in a stray message and missing from the next list leave it; past the cap the first gone is forgotten and comes back as new', async () => {
    const { chains, delivered, pulls } = chainHarness({ history: 'all', maxLeft: 2 });
    chains.handleConvs([]);
    for (const c of ['a', 'b', 'c']) chains.handleMsg(chainMsg(c, 1, 0));
    expect(delivered).toEqual(['a:1', 'b:1', 'c:1']);
    await vi.advanceTimersByTimeAsync(20_000);
    expect(chains.handleConvs([])).toEqual(['a', 'b', 'c']);
    expect(chains.list()).toEqual([]);
    // Kept: its chain goes on past message 1. Forgotten: the whole history is pulled as for a conversation new here.
    for (const c of ['c', 'b', 'a']) chains.handleJoined({ conv: c, kind: 'group', lastSeq: 1 });
    expect(pulls.map((p) => [p.conv, p.after])).toEqual([['a', 0]]);
    expect(chains.list().map((c) => c.conv).sort()).toEqual(['a', 'b', 'c']);
  });

  it('sdk chain – a forgotten conversation leaves nothing running: its retry stops, a pull still on its way delivers nothing; it comes back as new, each message once', async () => {
    const { chains, delivered, errors, pulls } = chainHarness({ history: 'all', maxLeft: 1 });
    chains.handleConvs([row('a', 3), row('r', 3)]);
    expect(pulls.map((p) => [p.conv, p.after])).toEqual([['a', 0], ['r', 0]]);
    chains.handleLeft('a');
    chains.handleLeft('r');
    // r's pull fails while it is still kept: its retry waits; forgetting it must stop that timer.
    await pulls[1]!.fail(new ImError(ErrorCode.TIMEOUT, 'no answer'));
    expect(errors).toEqual(['r timeout']);
    chains.handleJoined({ conv: 'b', kind: 'group', lastSeq: 0 });
    chains.handleLeft('b'); // a, then r, are forgotten (one kept)
    chains.handleJoined({ conv: 'x', kind: 'group', lastSeq: 0 });
    chains.handleLeft('x');
    await vi.advanceTimersByTimeAsync(30_000);
    expect(pulls.map((p) => p.conv)).toEqual(['a', 'r']);
    // a is added again while its old pull is still out: the new chain pulls from the start on its own.
    chains.handleJoined({ conv: 'a', kind: 'group', lastSeq: 3 });
    expect(pulls.map((p) => [p.conv, p.after])).toEqual([['a', 0], ['r', 0], ['a', 0]]);
    await pulls[0]!.answer({ msgs: [1, 2, 3].map((q) => chainMsg('a', q, q - 1)), more: true });
    await pulls[2]!.answer({ msgs: [1, 2, 3].map((q) => chainMsg('a', q, q - 1)), more: false });
    expect(delivered).toEqual(['a:1', 'a:2', 'a:3']);
    expect(pulls).toHaveLength(3);
    expect(errors).toEqual(['r timeout']);
    await vi.advanceTimersByTimeAsync(1_000); // the acks of a's chain
    expect(vi.getTimerCount()).toBe(0);
  });
});
