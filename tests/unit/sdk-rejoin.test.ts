import { describe, expect, it, vi } from 'vitest';
import type { ConvSummary } from '../../protocol/frames.js';
import { fakeTimersPerTest, flush, msg, WELCOME, welcomedHarness } from '../helpers/sdk-harness.js';

fakeTimersPerTest();

const row = (conv: string, lastSeq: number, extra: Partial<ConvSummary> = {}): ConvSummary => ({ conv, kind: 'group', lastSeq, readSeq: 0, unread: 0, ...extra });

/** A client whose first list had `first`; its heartbeat is longer than the test (the fake server answers no ping). */
async function listed(first: ConvSummary, opts: Parameters<typeof welcomedHarness>[0] = {}) {
  const h = await welcomedHarness(opts, { heartbeatMs: 600_000 });
  h.s.receive({ type: 'convs', list: [first] });
  const cleared: string[] = [];
  h.client.on('cleared', (c) => cleared.push(`${c.conv}:${c.seq}`));
  return { ...h, cleared };
}

/** The user is removed from `g` (a live `left`), long enough ago that lists count again. */
async function leave(s: Awaited<ReturnType<typeof listed>>['s']): Promise<void> {
  s.receive({ type: 'left', conv: 'g' });
  await vi.advanceTimersByTimeAsync(20_000);
}

describe('sdk client – added again while away', () => {
  it('sdk client – a group the user was added to again while offline starts at its unread messages: what was sent while they were out is not replayed as new messages', async () => {
    const { client, ws, s, messages } = await listed(row('g', 5));
    await leave(s);
    s.serverClose(1006);
    await vi.advanceTimersByTimeAsync(2_000);
    const s2 = ws.last();
    s2.open();
    s2.receive(WELCOME);
    // Added again at 498 (after 490 messages the user was not there for); 499 and 500 came since.
    s2.receive({ type: 'convs', list: [row('g', 500, { unread: 2, seenSeq: 498 })] });
    await flush();
    expect(s2.sentOf('pull').map((p) => [p.conv, p.after])).toEqual([['g', 498]]);
    const [pull] = s2.sentOf('pull');
    s2.receive({ type: 'history', rid: pull!.rid, conv: 'g', msgs: [msg('g', 499, 498), msg('g', 500, 499)], more: false });
    await flush();
    expect(messages).toEqual(['g:499', 'g:500']);
    expect(client.conversations()).toMatchObject([{ conv: 'g', last: 500, unread: 2 }]);
    client.close();
  });

  it('sdk client – a group added again live, past where its chain was, counts unread from the join: what was unread before leaving is history', async () => {
    const { client, s, messages } = await listed(row('g', 5, { unread: 3, seenSeq: 2 }));
    await leave(s);
    s.receive({ type: 'joined', conv: 'g', kind: 'group', lastSeq: 40 });
    await flush();
    expect(client.conversations()).toMatchObject([{ conv: 'g', last: 40, unread: 0 }]);
    s.receive({ type: 'msg', ...msg('g', 41, 40) });
    await flush();
    expect(messages.filter((m) => m.startsWith('g:'))).toEqual(['g:41']);
    expect(client.conversations()).toMatchObject([{ conv: 'g', last: 41, unread: 1 }]);
    client.close();
  });

  it('sdk client – a group left and listed again with nothing missed goes on where its chain was: nothing is skipped, nothing comes twice', async () => {
    const { client, s, messages } = await listed(row('g', 5));
    await leave(s);
    // Added again with no message in between: the unread ones are exactly those after the old chain's end.
    s.receive({ type: 'convs', list: [row('g', 7, { unread: 2, seenSeq: 5 })] });
    await flush();
    expect(s.sentOf('pull').map((p) => [p.conv, p.after])).toEqual([['g', 5]]);
    const [pull] = s.sentOf('pull');
    s.receive({ type: 'history', rid: pull!.rid, conv: 'g', msgs: [msg('g', 6, 5), msg('g', 7, 6)], more: false });
    await flush();
    expect(messages).toEqual(['g:6', 'g:7']);
    client.close();
  });

  it("sdk client – with 'all' history a group listed again resumes its chain: the whole history is wanted, and what was delivered before is not delivered twice", async () => {
    const { client, s, messages } = await listed(row('g', 5), { history: 'all' });
    const [first] = s.sentOf('pull');
    s.receive({ type: 'history', rid: first!.rid, conv: 'g', msgs: [1, 2, 3, 4, 5].map((q) => msg('g', q, q - 1)), more: false });
    await flush();
    await leave(s);
    s.receive({ type: 'convs', list: [row('g', 9, { unread: 1, seenSeq: 8 })] });
    await flush();
    expect(s.sentOf('pull').map((p) => p.after)).toEqual([0, 5]);
    expect(messages).toEqual(['g:1', 'g:2', 'g:3', 'g:4', 'g:5']);
    client.close();
  });
});

describe('sdk client – cleared only when the mark moves', () => {
  it('sdk client – joined again with the clear mark the device already has emits no cleared', async () => {
    const { client, s, cleared } = await listed(row('g', 10, { clearedSeq: 7 }));
    for (let i = 0; i < 2; i++) {
      s.receive({ type: 'left', conv: 'g' });
      s.receive({ type: 'joined', conv: 'g', kind: 'group', lastSeq: 10, clearedSeq: 7 });
    }
    expect(cleared).toEqual([]);
    // A mark that did move is told.
    s.receive({ type: 'left', conv: 'g' });
    s.receive({ type: 'joined', conv: 'g', kind: 'group', lastSeq: 10, clearedSeq: 9 });
    expect(cleared).toEqual(['g:9']);
    expect(client.conversations()).toMatchObject([{ conv: 'g', clearedSeq: 9 }]);
    client.close();
  });

  it('sdk client – a list row for a conversation just left (skipped as older than the removal) emits no cleared; one listed again with its known mark neither', async () => {
    const { client, s, cleared } = await listed(row('g', 10, { clearedSeq: 7 }));
    s.receive({ type: 'left', conv: 'g' });
    // Read before the removal: the row is not taken, so neither is its mark.
    s.receive({ type: 'convs', list: [row('g', 10, { clearedSeq: 8 })] });
    expect(client.conversations()).toEqual([]);
    await leave(s);
    s.receive({ type: 'convs', list: [row('g', 10, { clearedSeq: 7 })] });
    expect(client.conversations()).toMatchObject([{ conv: 'g', clearedSeq: 7 }]);
    expect(cleared).toEqual([]);
    s.receive({ type: 'convs', list: [row('g', 10, { clearedSeq: 8 })] });
    expect(cleared).toEqual(['g:8']);
    client.close();
  });
});
