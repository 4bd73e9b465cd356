import { describe, expect, it, vi } from 'vitest';
import { ErrorCode } from '../../protocol/errors.js';
import type { ConvSummary } from '../../protocol/frames.js';
import { ImClient } from '../../protocol/sdk/client.js';
import type { FetchLike } from '../../protocol/sdk/endpoint-list.js';
import { fakeWebSocketFactory } from '../helpers/fake-websocket.js';
import { connectedHarness, fakeTimersPerTest, flush, msg, WELCOME, welcomedHarness } from '../helpers/sdk-harness.js';

fakeTimersPerTest();

/** What a reconnect must carry over, and what one session's limits refuse without breaking the next. */
describe('sdk client – across sessions', () => {
  it('sdk client – a send over the gateway\'s maxFrameBytes is refused with frame_too_large and never sent; the next send goes out after the one before it; the connection stays', async () => {
    const { client, ws, s } = await connectedHarness();
    s.receive({ ...WELCOME, maxFrameBytes: 2048 });
    const first = client.send('c', 'small');
    const big = client.send('c', 'x'.repeat(3000));
    const after = client.send('c', 'after');
    await expect(big).rejects.toMatchObject({ code: ErrorCode.FRAME_TOO_LARGE });
    const sends = s.sentOf('send');
    expect(sends.map((f) => f.body)).toEqual(['small', 'after']);
    // The refused send is nobody's predecessor: the next one names the one before it.
    expect(sends[1]!.after).toBe(sends[0]!.cid);
    expect(s.closedByClient).toBeUndefined();
    s.receive({ type: 'sent', cid: sends[0]!.cid, conv: 'c', seq: 1, ts: 1, prev: 0 });
    s.receive({ type: 'sent', cid: sends[1]!.cid, conv: 'c', seq: 2, ts: 2, prev: 1 });
    await expect(first).resolves.toMatchObject({ seq: 1 });
    await expect(after).resolves.toMatchObject({ seq: 2 });
    expect(ws.sockets).toHaveLength(1);
    client.close();
  });

  it('sdk client – an ack still waiting when the connection dropped goes out in the next session, after its list', async () => {
    const { client, ws, s } = await connectedHarness({}, [{ conv: 'c', lastSeq: 0 }]);
    s.receive({ type: 'msg', ...msg('c', 1, 0) });
    s.receive({ type: 'msg', ...msg('c', 2, 1) });
    s.serverClose(1006);
    expect(s.sentOf('ack')).toEqual([]);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(ws.sockets).toHaveLength(2);
    const s2 = ws.last();
    s2.open();
    s2.receive(WELCOME);
    // Not before the list: until the server has attached the device (the list is its answer), an ack is dropped.
    await vi.advanceTimersByTimeAsync(500);
    expect(s2.sentOf('ack')).toEqual([]);
    // The new list shows nothing behind: only the carried-over ack tells the server the device holds 1 and 2.
    s2.receive({ type: 'convs', list: [{ conv: 'c', kind: 'group', lastSeq: 2, readSeq: 0, unread: 2 }] });
    await vi.advanceTimersByTimeAsync(500);
    expect(s2.sentOf('ack')).toEqual([{ type: 'ack', conv: 'c', seq: 2 }]);
    client.close();
  });

  it('sdk client – an ack the server lost (its list shows the delivery mark behind what this device acked) is sent again; large groups (no mark) are not', async () => {
    const { client, s } = await connectedHarness({}, [{ conv: 'c', lastSeq: 0 }, { conv: 'big', lastSeq: 0 }]);
    for (const conv of ['c', 'big']) {
      s.receive({ type: 'msg', ...msg(conv, 1, 0) });
      s.receive({ type: 'msg', ...msg(conv, 2, 1) });
    }
    await vi.advanceTimersByTimeAsync(100);
    expect(s.sentOf('ack').map((a) => `${a.conv}:${a.seq}`).sort()).toEqual(['big:2', 'c:2']);
    // The connector's shard moved while the acks were on their way: the re-attach's list shows c's mark at 1.
    const list = (delivered: number) => s.receive({ type: 'convs', list: [{ conv: 'c', kind: 'group', lastSeq: 2, readSeq: 0, deliveredSeq: delivered, unread: 2 }, { conv: 'big', kind: 'group', lastSeq: 2, readSeq: 0, unread: 2 }] });
    list(1);
    await vi.advanceTimersByTimeAsync(100);
    expect(s.sentOf('ack').map((a) => `${a.conv}:${a.seq}`).sort()).toEqual(['big:2', 'c:2', 'c:2']);
    // Stored now: the next list asks for nothing.
    list(2);
    await vi.advanceTimersByTimeAsync(100);
    expect(s.sentOf('ack')).toHaveLength(3);
    client.close();
  });

  it('sdk client – a read mark the server never got is sent again when a list shows it behind', async () => {
    const { client, ws, s } = await connectedHarness({}, [{ conv: 'c', lastSeq: 5 }]);
    client.read('c', 5);
    expect(s.sentOf('read')).toEqual([{ type: 'read', conv: 'c', seq: 5 }]);
    // Lost with the socket.
    s.serverClose(1006);
    await vi.advanceTimersByTimeAsync(2_000);
    const s2 = ws.last();
    s2.open();
    s2.receive(WELCOME);
    s2.receive({ type: 'convs', list: [{ conv: 'c', kind: 'group', lastSeq: 5, readSeq: 3, unread: 2 }] });
    expect(s2.sentOf('read')).toEqual([{ type: 'read', conv: 'c', seq: 5 }]);
    // A list that has it asks for nothing more.
    s2.receive({ type: 'convs', list: [{ conv: 'c', kind: 'group', lastSeq: 5, readSeq: 5, unread: 0 }] });
    expect(s2.sentOf('read')).toHaveLength(1);
    client.close();
  });

  it('sdk client – a read the server refused for a passing reason (timeout) is sent again in a moment; a final refusal is not', async () => {
    const { client, s } = await connectedHarness({}, [{ conv: 'c', lastSeq: 5 }, { conv: 'd', lastSeq: 5 }]);
    client.read('c', 4);
    s.receive({ type: 'error', code: 'timeout', message: 'no answer', conv: 'c' });
    await vi.advanceTimersByTimeAsync(1_900);
    expect(s.sentOf('read')).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(100);
    expect(s.sentOf('read')).toEqual([{ type: 'read', conv: 'c', seq: 4 }, { type: 'read', conv: 'c', seq: 4 }]);
    client.read('d', 5);
    s.receive({ type: 'error', code: 'not_member', message: 'left', conv: 'd' });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(s.sentOf('read').filter((r) => r.conv === 'd')).toHaveLength(1);
    client.close();
  });

  it('sdk client – with a dispatcher, the attempt after a connection asks it again (the best endpoint first), and close() during a lookup leaves no timer', async () => {
    const ws = fakeWebSocketFactory();
    let lookups = 0;
    const fetch: FetchLike = async () => {
      lookups++;
      return { ok: true, status: 200, json: async () => ({ endpoints: ['ws://best/ws', 'ws://second/ws'] }) };
    };
    const client = new ImClient({ dispatcherUrl: 'http://d', uid: 'me', fetch, token: 't0', WebSocket: ws.WebSocket, random: () => 0.5 });
    void client.connect();
    await flush();
    const s = ws.last();
    s.open();
    s.receive(WELCOME);
    s.serverClose(1006);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(lookups).toBe(2);
    expect(ws.sockets.map((x) => x.url.split('?')[0])).toEqual(['ws://best/ws', 'ws://best/ws']);
    client.close();

    // A dispatcher that does not answer: closing the client cuts the lookup short.
    const hanging: FetchLike = (_url, init) =>
      new Promise((_resolve, reject) => init?.signal?.addEventListener('abort', () => reject(new Error('aborted'))));
    const other = new ImClient({ dispatcherUrl: 'http://d', uid: 'me', fetch: hanging, token: 't0', WebSocket: fakeWebSocketFactory().WebSocket, requestTimeoutMs: 10_000 });
    void other.connect().catch(() => {});
    await flush();
    other.close();
    await flush();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('sdk client – a list read before live news does not undo it: counted messages keep their count, a conversation just left stays gone', async () => {
    // A heartbeat longer than the test: the fake server answers no ping.
    const { client, s } = await welcomedHarness({}, { heartbeatMs: 60_000 });
    const list = (rows: ConvSummary[]) => s.receive({ type: 'convs', list: rows });
    list([{ conv: 'c', kind: 'group', lastSeq: 10, readSeq: 8, unread: 2 }, { conv: 'g', kind: 'group', lastSeq: 0, readSeq: 0, unread: 0 }]);
    s.receive({ type: 'msg', ...msg('c', 11, 10) });
    s.receive({ type: 'msg', ...msg('c', 12, 11) });
    const unread = () => client.conversations().find((x) => x.conv === 'c')?.unread;
    expect(unread()).toBe(4);
    s.receive({ type: 'left', conv: 'g' });
    // A list the server read before message 11 and before the removal (a sync's answer overtaken by the news).
    list([{ conv: 'c', kind: 'group', lastSeq: 10, readSeq: 8, unread: 2 }, { conv: 'g', kind: 'group', lastSeq: 0, readSeq: 0, unread: 0 }]);
    expect(unread()).toBe(4);
    expect(client.conversations().map((x) => x.conv)).toEqual(['c']);
    s.receive({ type: 'msg', ...msg('c', 13, 12) });
    expect(unread()).toBe(5);
    // A list as new as what was counted is exact again; seconds later, one that has g brings it back.
    list([{ conv: 'c', kind: 'group', lastSeq: 13, readSeq: 12, unread: 1 }]);
    expect(unread()).toBe(1);
    await vi.advanceTimersByTimeAsync(11_000);
    list([{ conv: 'c', kind: 'group', lastSeq: 13, readSeq: 12, unread: 1 }, { conv: 'g', kind: 'group', lastSeq: 0, readSeq: 0, unread: 0 }]);
    expect(client.conversations().map((x) => x.conv).sort()).toEqual(['c', 'g']);
    client.close();
  });

  it('sdk client – a list read before a live pin, mute, title or pins does not undo them; one read seconds later does', async () => {
    const { client, s } = await welcomedHarness({}, { heartbeatMs: 60_000 });
    const row: ConvSummary = { conv: 'c', kind: 'group', lastSeq: 3, readSeq: 3, unread: 0, title: 'old' };
    s.receive({ type: 'convs', list: [row] });
    const until = Date.now() + 3_600_000;
    s.receive({ type: 'prefs', conv: 'c', pinnedAt: 1_000, archivedAt: 0 });
    s.receive({ type: 'mute', conv: 'c', until });
    s.receive({ type: 'title', conv: 'c', title: 'new' });
    s.receive({ type: 'pins', conv: 'c', pins: [{ seq: 2, at: 5 }] });
    const info = () => client.conversations().find((x) => x.conv === 'c');
    const live = { pinnedAt: 1_000, mutedUntil: until, title: 'new', pins: [{ seq: 2, at: 5 }] };
    expect(info()).toMatchObject(live);
    // The answer to a sync the server read before those changes.
    s.receive({ type: 'convs', list: [row] });
    expect(info()).toMatchObject(live);
    await vi.advanceTimersByTimeAsync(11_000);
    s.receive({ type: 'convs', list: [row] });
    expect(info()).toMatchObject({ title: 'old' });
    expect(info()?.pinnedAt).toBeUndefined();
    expect(info()?.mutedUntil).toBeUndefined();
    expect(info()?.pins).toBeUndefined();
    client.close();
  });

  it('sdk client – the first list of a new connection is taken whole, however recent the live news of the last one', async () => {
    const { client, ws, s } = await welcomedHarness({}, { heartbeatMs: 60_000 });
    s.receive({ type: 'convs', list: [{ conv: 'c', kind: 'group', lastSeq: 3, readSeq: 3, unread: 0, title: 'old' }, { conv: 'g', kind: 'group', lastSeq: 0, readSeq: 0, unread: 0 }] });
    s.receive({ type: 'title', conv: 'c', title: 'live' });
    s.receive({ type: 'left', conv: 'g' });
    s.serverClose(1006);
    await vi.advanceTimersByTimeAsync(2_000);
    const s2 = ws.last();
    s2.open();
    s2.receive({ ...WELCOME, heartbeatMs: 60_000 });
    // Changed again while the device was away (on another device; added back to g): the list says so.
    s2.receive({ type: 'convs', list: [{ conv: 'c', kind: 'group', lastSeq: 3, readSeq: 3, unread: 0, title: 'renamed' }, { conv: 'g', kind: 'group', lastSeq: 0, readSeq: 0, unread: 0 }] });
    expect(client.conversations().find((x) => x.conv === 'c')?.title).toBe('renamed');
    expect(client.conversations().map((x) => x.conv).sort()).toEqual(['c', 'g']);
    client.close();
  });

  it('sdk client – news that reached a new connection before its first list is not undone by that list', async () => {
    const { client, ws, s } = await welcomedHarness({}, { heartbeatMs: 60_000 });
    s.receive({ type: 'convs', list: [{ conv: 'c', kind: 'group', lastSeq: 3, readSeq: 3, unread: 0, title: 'old' }, { conv: 'g', kind: 'group', lastSeq: 0, readSeq: 0, unread: 0 }] });
    s.serverClose(1006);
    await vi.advanceTimersByTimeAsync(2_000);
    const s2 = ws.last();
    s2.open();
    s2.receive({ ...WELCOME, heartbeatMs: 60_000 });
    // The server attached the device, then read its list; changes fanned out meanwhile arrive first.
    s2.receive({ type: 'title', conv: 'c', title: 'live' });
    s2.receive({ type: 'left', conv: 'g' });
    s2.receive({ type: 'joined', conv: 'h', kind: 'group', lastSeq: 0 });
    s2.receive({ type: 'convs', list: [{ conv: 'c', kind: 'group', lastSeq: 3, readSeq: 3, unread: 0, title: 'old' }, { conv: 'g', kind: 'group', lastSeq: 0, readSeq: 0, unread: 0 }] });
    expect(client.conversations().find((x) => x.conv === 'c')?.title).toBe('live');
    expect(client.conversations().map((x) => x.conv).sort()).toEqual(['c', 'h']);
    client.close();
  });

  it('sdk client – a device behind in many conversations pulls 8 at a time, the rest in turn, until every one is caught up', async () => {
    const { client, s, messages } = await welcomedHarness({ history: 'all' }, { heartbeatMs: 60_000 });
    const convs = Array.from({ length: 20 }, (_, i) => `c${i}`);
    s.receive({ type: 'convs', list: convs.map((conv) => ({ conv, kind: 'group' as const, lastSeq: 1, readSeq: 0, unread: 1 })) });
    expect(s.sentOf('pull')).toHaveLength(8);
    let answered = 0;
    while (answered < s.sentOf('pull').length) {
      const p = s.sentOf('pull')[answered++]!;
      s.receive({ type: 'history', rid: p.rid, conv: p.conv, msgs: [msg(p.conv, 1, 0)], more: false });
      await flush();
      expect(s.sentOf('pull').length - answered).toBeLessThanOrEqual(8);
    }
    expect(answered).toBe(20);
    expect(messages.sort()).toEqual(convs.map((c) => `${c}:1`).sort());
    client.close();
  });
});
