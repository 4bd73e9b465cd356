import { describe, expect, it, vi } from 'vitest';
import { WebSocket as NodeWebSocket } from 'ws';
import { encodeFrame } from '../../protocol/codec.js';
import { ErrorCode } from '../../protocol/errors.js';
import { MUTED_FOREVER, type Msg } from '../../protocol/frames.js';
import { messageBytes, type WebSocketConstructor } from '../../protocol/sdk/socket.js';
import { connectedHarness, fakeTimersPerTest, flush, harness, msg, WELCOME, welcomedHarness } from '../helpers/sdk-harness.js';

fakeTimersPerTest();

describe('sdk client – connecting', () => {
  it('sdk client – connect opens a binary socket with the token in the URL and resolves once the conversation list is in', async () => {
    const { client, ws, states } = harness({ url: 'ws://gw1/ws?x=1', token: () => 'a b+c' });
    const connected = client.connect();
    await flush();
    const s = ws.last();
    expect(s.url).toBe('ws://gw1/ws?x=1&token=a%20b%2Bc&pages=1');
    expect(s.binaryType).toBe('arraybuffer');
    let done = false;
    void connected.then(() => (done = true));
    s.open();
    await flush();
    expect(done).toBe(false);
    s.receive(WELCOME);
    await flush();
    // Welcomed but not synced: an app that lists conversations or sends now would see an empty list.
    expect(done).toBe(false);
    expect(states.map((x) => x.state)).toEqual(['connecting', 'open']);
    s.receive({ type: 'convs', list: [{ conv: 'c', kind: 'direct', lastSeq: 4, readSeq: 2, unread: 2 }] });
    await connected;
    expect(client.welcome).toMatchObject({ uid: 'me', node: 'n1' });
    expect(client.conversations()).toMatchObject([{ conv: 'c', lastSeq: 4, unread: 2 }]);
    client.close();
  });

  it('sdk client – read receipts: the list gives the peer\'s mark, a receipt moves it forward and is emitted, an older one is not', async () => {
    const { client, ws } = harness();
    const receipts: { conv: string; uid: string; seq: number }[] = [];
    client.on('receipt', (r) => receipts.push(r));
    void client.connect();
    await flush();
    const s = ws.last();
    s.open();
    s.receive(WELCOME);
    s.receive({ type: 'convs', list: [{ conv: 'd:2:me:zo', kind: 'direct', lastSeq: 9, readSeq: 9, unread: 0, peerRead: 4 }, { conv: 'g', kind: 'group', lastSeq: 3, readSeq: 3, unread: 0 }] });
    await flush();
    expect(client.conversations().map((c) => [c.conv, c.peerRead])).toEqual([['d:2:me:zo', 4], ['g', 0]]);
    s.receive({ type: 'receipt', conv: 'd:2:me:zo', uid: 'zo', seq: 7 });
    s.receive({ type: 'receipt', conv: 'd:2:me:zo', uid: 'zo', seq: 6 });
    s.receive({ type: 'receipt', conv: 'unknown', uid: 'zo', seq: 8 });
    expect(receipts).toEqual([{ conv: 'd:2:me:zo', uid: 'zo', seq: 7 }]);
    expect(client.conversations()[0]!.peerRead).toBe(7);
    // A later list never takes the mark back.
    s.receive({ type: 'convs', list: [{ conv: 'd:2:me:zo', kind: 'direct', lastSeq: 9, readSeq: 9, unread: 0, peerRead: 5 }] });
    expect(client.conversations()[0]!.peerRead).toBe(7);
    client.close();
  });

  it('sdk client – delivery receipts: the list gives the peer\'s mark, `delivered` moves it forward and is emitted, an older one is not, and a read receipt counts as delivered', async () => {
    const { client, ws } = harness();
    const got: { conv: string; uid: string; seq: number }[] = [];
    client.on('delivered', (r) => got.push(r));
    void client.connect();
    await flush();
    const s = ws.last();
    s.open();
    s.receive(WELCOME);
    s.receive({ type: 'convs', list: [{ conv: 'd:2:me:zo', kind: 'direct', lastSeq: 9, readSeq: 9, unread: 0, peerRead: 2, peerDelivered: 4 }, { conv: 'g', kind: 'group', lastSeq: 3, readSeq: 3, unread: 0 }] });
    await flush();
    expect(client.conversations().map((c) => [c.conv, c.peerDelivered])).toEqual([['d:2:me:zo', 4], ['g', 0]]);
    s.receive({ type: 'delivered', conv: 'd:2:me:zo', uid: 'zo', seq: 7 });
    s.receive({ type: 'delivered', conv: 'd:2:me:zo', uid: 'zo', seq: 6 });
    s.receive({ type: 'delivered', conv: 'unknown', uid: 'zo', seq: 8 });
    expect(got).toEqual([{ conv: 'd:2:me:zo', uid: 'zo', seq: 7 }]);
    expect(client.conversations()[0]).toMatchObject({ peerDelivered: 7, peerRead: 2 });
    // What was read was delivered, whichever came first; a later list never takes the mark back.
    s.receive({ type: 'receipt', conv: 'd:2:me:zo', uid: 'zo', seq: 9 });
    expect(client.conversations()[0]).toMatchObject({ peerDelivered: 9, peerRead: 9 });
    s.receive({ type: 'convs', list: [{ conv: 'd:2:me:zo', kind: 'direct', lastSeq: 9, readSeq: 9, unread: 0, peerDelivered: 5 }] });
    expect(client.conversations()[0]).toMatchObject({ peerDelivered: 9 });
    client.close();
  });

  it('sdk client – mute: answered by rid with the stored until, shown on the conversation until it runs out; another device\'s mute is an event', async () => {
    const { client, ws } = harness();
    const mutes: { conv: string; until: number }[] = [];
    client.on('mute', (m) => mutes.push(m));
    void client.connect();
    await flush();
    const s = ws.last();
    s.open();
    s.receive(WELCOME);
    s.receive({ type: 'convs', list: [{ conv: 'g', kind: 'group', lastSeq: 3, readSeq: 3, unread: 0, mutedUntil: MUTED_FOREVER }, { conv: 'h', kind: 'group', lastSeq: 1, readSeq: 1, unread: 0 }] });
    await flush();
    expect(client.conversations().map((c) => [c.conv, c.mutedUntil])).toEqual([['g', MUTED_FOREVER], ['h', undefined]]);
    const muted = client.mute('h', Date.now() + 60_000);
    const [frame] = s.sentOf('mute');
    expect(frame).toEqual({ type: 'mute', rid: frame!.rid, conv: 'h', until: Date.now() + 60_000 });
    s.receive({ type: 'mute', rid: frame!.rid, conv: 'h', until: Date.now() + 60_000 });
    await expect(muted).resolves.toBe(Date.now() + 60_000);
    expect(client.conversations().find((c) => c.conv === 'h')!.mutedUntil).toBe(Date.now() + 60_000);
    // Another device unmutes g.
    s.receive({ type: 'mute', conv: 'g', until: 0 });
    expect(mutes.map((m) => m.conv)).toEqual(['h', 'g']);
    expect(client.conversations().find((c) => c.conv === 'g')!.mutedUntil).toBeUndefined();
    const refused = client.unmute('x');
    const [, again] = s.sentOf('mute');
    expect(again).toMatchObject({ conv: 'x', until: 0 });
    s.receive({ type: 'error', code: ErrorCode.NOT_MEMBER, message: 'not a member of x', rid: again!.rid, conv: 'x' });
    await expect(refused).rejects.toMatchObject({ code: ErrorCode.NOT_MEMBER });
    // A mute for a while is over by itself (the connection may have gone meanwhile: what the app sees is kept).
    await vi.advanceTimersByTimeAsync(60_001);
    expect(client.conversations().find((c) => c.conv === 'h')!.mutedUntil).toBeUndefined();
    client.close();
  });

  it("sdk client – with history 'all' the first list is pulled and delivered in order", async () => {
    const { client, s, messages } = await welcomedHarness({ history: 'all' });
    s.receive({ type: 'convs', list: [{ conv: 'c', kind: 'direct', lastSeq: 2, readSeq: 1, unread: 1 }] });
    const [pull] = s.sentOf('pull');
    expect(pull).toMatchObject({ conv: 'c', after: 0, limit: 200 });
    s.receive({ type: 'history', rid: pull!.rid, conv: 'c', msgs: [msg('c', 1, 0), msg('c', 2, 1)], more: false });
    await flush();
    expect(messages).toEqual(['c:1', 'c:2']);
    await vi.advanceTimersByTimeAsync(50);
    expect(s.sentOf('ack')).toEqual([{ type: 'ack', conv: 'c', seq: 2 }]);
    // lastTs: the latest message's commit time (the test's messages have ts = seq).
    expect(client.conversations()).toEqual([{ conv: 'c', kind: 'direct', lastSeq: 2, lastTs: 2, last: 2, readSeq: 1, unread: 1, mentions: 0, peerRead: 0, peerDelivered: 0 }]);
    client.close();
  });

  it('sdk client – joined adds a conversation before any message, left takes it away; joined again, its chain goes on where it was: nothing twice', async () => {
    const { client, ws, messages } = harness({ history: 'all' });
    const events: string[] = [];
    client.on('joined', (j) => events.push(`joined ${j.conv} ${j.title ?? ''}`));
    client.on('left', (l) => events.push(`left ${l.conv}`));
    void client.connect();
    await flush();
    const s = ws.last();
    s.open();
    s.receive(WELCOME);
    s.receive({ type: 'convs', list: [] });
    s.receive({ type: 'joined', conv: 'g', kind: 'group', title: 'Club', lastSeq: 2 });
    // Whole history: the two messages before the join are pulled.
    const [first] = s.sentOf('pull');
    expect(first).toMatchObject({ conv: 'g', after: 0 });
    s.receive({ type: 'history', rid: first!.rid, conv: 'g', msgs: [msg('g', 1, 0), msg('g', 2, 1)], more: false });
    await flush();
    expect(client.conversations()).toMatchObject([{ conv: 'g', title: 'Club', last: 2 }]);
    s.receive({ type: 'left', conv: 'g' });
    s.receive({ type: 'left', conv: 'g' });
    expect(client.conversations()).toEqual([]);
    s.receive({ type: 'joined', conv: 'g', kind: 'group', title: 'Club', lastSeq: 4 });
    const [, again] = s.sentOf('pull');
    expect(again).toMatchObject({ conv: 'g', after: 2 });
    s.receive({ type: 'history', rid: again!.rid, conv: 'g', msgs: [msg('g', 3, 2), msg('g', 4, 3)], more: false });
    await flush();
    // A repeated joined of a conversation the user is in is no news.
    s.receive({ type: 'joined', conv: 'g', kind: 'group', title: 'Club', lastSeq: 4 });
    expect(messages).toEqual(['g:1', 'g:2', 'g:3', 'g:4']);
    expect(events).toEqual(['joined g Club', 'left g', 'joined g Club']);
    client.close();
  });

  it('sdk client – a conversation missing from a fresh list was left while away: it goes from the list with a left event, and comes back where its chain was', async () => {
    const { client, ws, messages } = harness({ history: 'all' });
    const left: string[] = [];
    client.on('left', (l) => left.push(l.conv));
    void client.connect();
    await flush();
    const s = ws.last();
    s.open();
    s.receive(WELCOME);
    s.receive({ type: 'convs', list: [{ conv: 'a', kind: 'group', lastSeq: 0, readSeq: 0, unread: 0 }, { conv: 'b', kind: 'group', lastSeq: 1, readSeq: 0, unread: 1 }] });
    const [pull] = s.sentOf('pull');
    s.receive({ type: 'history', rid: pull!.rid, conv: 'b', msgs: [msg('b', 1, 0)], more: false });
    await flush();
    s.receive({ type: 'convs', list: [{ conv: 'a', kind: 'group', lastSeq: 0, readSeq: 0, unread: 0 }] });
    expect(left).toEqual(['b']);
    expect(client.conversations().map((c) => c.conv)).toEqual(['a']);
    s.receive({ type: 'convs', list: [{ conv: 'a', kind: 'group', lastSeq: 0, readSeq: 0, unread: 0 }] });
    expect(left).toEqual(['b']);
    s.receive({ type: 'convs', list: [{ conv: 'b', kind: 'group', lastSeq: 2, readSeq: 0, unread: 2 }, { conv: 'a', kind: 'group', lastSeq: 0, readSeq: 0, unread: 0 }] });
    const [, again] = s.sentOf('pull');
    expect(again).toMatchObject({ conv: 'b', after: 1 });
    s.receive({ type: 'history', rid: again!.rid, conv: 'b', msgs: [msg('b', 2, 1)], more: false });
    await flush();
    expect(messages).toEqual(['b:1', 'b:2']);
    // Most recent message first: b has one, a none.
    expect(client.conversations().map((c) => c.conv)).toEqual(['b', 'a']);
    client.close();
  });

  it('sdk client – a live message that overtakes the first list starts that conversation there (history from now)', async () => {
    const { client, ws, messages } = harness();
    const connected = client.connect();
    await flush();
    const s = ws.last();
    s.open();
    s.receive(WELCOME);
    // Pushed as soon as the connector knew the device, before the attach reply carrying the list got here.
    s.receive({ type: 'msg', ...msg('c', 41, 40) });
    s.receive({ type: 'convs', list: [{ conv: 'c', kind: 'direct', lastSeq: 41, readSeq: 40, unread: 1 }] });
    await connected;
    expect(messages).toEqual(['c:41']);
    // Not the conversation's whole past: a device that asked for "from now" gets no pull from 0.
    expect(s.sentOf('pull')).toEqual([]);
    expect(client.conversations()).toMatchObject([{ conv: 'c', kind: 'direct', last: 41, unread: 1 }]);
    client.close();
  });

  it('sdk client – close() from a message handler stops the rest of a history page from being delivered', async () => {
    const { client, s, messages } = await welcomedHarness({ history: 'all' });
    client.on('message', (m) => {
      if (m.seq === 2) client.close();
    });
    s.receive({ type: 'convs', list: [{ conv: 'c', kind: 'group', lastSeq: 4, readSeq: 0, unread: 4 }] });
    const [pull] = s.sentOf('pull');
    s.receive({ type: 'history', rid: pull!.rid, conv: 'c', msgs: [1, 2, 3, 4].map((seq) => msg('c', seq, seq - 1)), more: false });
    await flush();
    expect(messages).toEqual(['c:1', 'c:2']);
  });

  it('sdk client – a connection attempt that ends before its welcome raises error (unauthorized for a refused token, unavailable else) while it keeps trying; one listener may stop it', async () => {
    const { client, ws } = harness();
    const errors: string[] = [];
    client.on('error', (e) => errors.push(`${e.code} ${e.message}`));
    void client.connect().catch(() => {});
    await flush();
    ws.last().refuse();
    expect(errors).toEqual(['unavailable connection attempt failed (1006); trying again']);
    await vi.advanceTimersByTimeAsync(60_000);
    ws.last().open();
    ws.last().serverClose(4001, 'token expired');
    expect(errors.at(-1)).toBe('unauthorized connection attempt failed (4001: token expired); trying again');
    // A listener that gives up closes the client: no attempt after it.
    client.on('error', () => client.close());
    await vi.advanceTimersByTimeAsync(60_000);
    const n = ws.sockets.length;
    ws.last().refuse();
    await vi.advanceTimersByTimeAsync(120_000);
    expect([client.state, ws.sockets.length]).toEqual(['closed', n]);
  });

  it('sdk client – an outbox whose load throws at once reports it as error to a listener added after the constructor', async () => {
    const errors: string[] = [];
    const { client } = harness({ outbox: { load: () => { throw new Error('storage disabled'); }, save: () => {} } });
    client.on('error', (e) => errors.push(e.message));
    await flush();
    expect(errors).toEqual([expect.stringContaining('storage disabled')]);
    client.close();
  });

  it('sdk client – the pins an app gets are its own copy: sorting them does not reorder conversations()', async () => {
    const { client, s } = await connectedHarness({}, [{ conv: 'c', lastSeq: 3 }]);
    let got: { seq: number }[] = [];
    client.on('pins', (p) => (got = p.pins));
    s.receive({ type: 'pins', conv: 'c', pins: [{ seq: 3, at: 30 }, { seq: 1, at: 10 }] });
    const held = () => client.conversations().find((x) => x.conv === 'c')!.pins!.map((p) => p.seq);
    got.reverse();
    expect(held()).toEqual([3, 1]);
    client.conversations().find((x) => x.conv === 'c')!.pins!.reverse();
    expect(held()).toEqual([3, 1]);
    client.close();
  });

  it('sdk client – a frame of a type this version does not know (a newer server) is skipped, not an error; a frame without a type is', async () => {
    const { client, s, messages } = await welcomedHarness();
    const errors: string[] = [];
    client.on('error', (e) => errors.push(e.code));
    s.receive({ type: 'convs', list: [{ conv: 'c', kind: 'group', lastSeq: 0, readSeq: 0, unread: 0 }] });
    s.receive({ type: 'stories', conv: 'c', n: 3 });
    s.receive({ type: 'msg', ...msg('c', 1, 0) });
    expect(messages).toEqual(['c:1']);
    expect(errors).toEqual([]);
    s.receive({ conv: 'c' });
    expect(errors).toEqual([ErrorCode.UNKNOWN_TYPE]);
    client.close();
  });

  it('sdk client – messages arrive whether ws hands over a Buffer, an array of Buffers or an ArrayBuffer; text is ignored', () => {
    const bytes = encodeFrame({ type: 'pong', ts: 5 });
    const buf = Buffer.from(bytes);
    expect(messageBytes(buf)).toBe(buf);
    expect(messageBytes([buf.subarray(0, 2), buf.subarray(2)])).toEqual(new Uint8Array(bytes));
    expect(new Uint8Array(messageBytes(new Uint8Array(bytes).buffer) as ArrayBuffer)).toEqual(new Uint8Array(bytes));
    expect(messageBytes('{"type":"pong"}')).toBeUndefined();
    // The ws package's class is accepted as the WebSocket option without a cast.
    const ctor: WebSocketConstructor = NodeWebSocket;
    expect(typeof ctor).toBe('function');
  });
});

describe('sdk client – sending', () => {
  it('sdk client – send resolves on sent and is emitted as sent', async () => {
    const { client, s } = await connectedHarness();
    const seen: unknown[] = [];
    client.on('sent', (r) => seen.push(r));
    const p = client.send('c', 'hi');
    const [frame] = s.sentOf('send');
    expect(frame).toEqual({ type: 'send', conv: 'c', cid: 1, body: 'hi' });
    s.receive({ type: 'sent', cid: 1, conv: 'c', seq: 9, ts: 123 });
    await expect(p).resolves.toEqual({ conv: 'c', cid: 1, seq: 9, ts: 123 });
    expect(seen).toEqual([{ conv: 'c', cid: 1, seq: 9, ts: 123 }]);
    client.close();
  });

  it('sdk client – an own message is linked into the chain from sent.prev: delivered once, in order with the others', async () => {
    const { client, messages, s } = await connectedHarness({}, [{ conv: 'c', lastSeq: 10 }]);
    const own: Msg[] = [];
    client.on('message', (m) => m.from === 'me' && own.push(m));
    const p = client.send('c', 'mine');
    s.receive({ type: 'msg', ...msg('c', 11, 10) });
    s.receive({ type: 'sent', cid: 1, conv: 'c', seq: 12, ts: 5, prev: 11 });
    await p;
    s.receive({ type: 'msg', ...msg('c', 13, 12) });
    expect(messages).toEqual(['c:11', 'c:12', 'c:13']);
    expect(own).toEqual([{ conv: 'c', seq: 12, prev: 11, from: 'me', did: 'phone', cid: 1, ts: 5, body: 'mine' }]);
    expect(s.sentOf('pull')).toEqual([]);
    client.close();
  });

  it('sdk client – typing on every keystroke sends one typing frame per conversation every 2 s', async () => {
    const { client, accept } = harness();
    expect(client.typing('c')).toBe(false);
    void client.connect();
    await flush();
    const s = accept();
    for (let i = 0; i < 5; i++) expect(client.typing('c')).toBe(true);
    client.typing('d');
    expect(s.sentOf('typing')).toEqual([{ type: 'typing', conv: 'c' }, { type: 'typing', conv: 'd' }]);
    await vi.advanceTimersByTimeAsync(1_999);
    client.typing('c');
    expect(s.sentOf('typing')).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    client.typing('c');
    expect(s.sentOf('typing')).toHaveLength(3);
    client.close();
  });

  it('sdk client – a non-retryable error fails the send and is emitted as sendFailed, with what it said (an app shows which one failed)', async () => {
    const { client, s } = await connectedHarness();
    const failed: { cid: number; body: string; code: string }[] = [];
    client.on('sendFailed', (f) => failed.push({ cid: f.cid, body: f.body, code: f.error.code }));
    const p = client.send('c', 'hi');
    s.receive({ type: 'error', code: 'not_member', message: 'no', cid: 1, conv: 'c' });
    await expect(p).rejects.toMatchObject({ code: ErrorCode.NOT_MEMBER });
    expect(failed).toEqual([{ cid: 1, body: 'hi', code: 'not_member' }]);
    client.close();
  });

  it('sdk client – a retryable error is emitted as sendRetry and the send goes out again with the same cid', async () => {
    const { client, s } = await connectedHarness();
    const retries: { cid: number; code: string }[] = [];
    client.on('sendRetry', (f) => retries.push({ cid: f.cid, code: f.error.code }));
    const p = client.send('c', 'hi');
    s.receive({ type: 'error', code: 'unavailable', message: 'shard between owners', cid: 1, conv: 'c' });
    expect(retries).toEqual([{ cid: 1, code: 'unavailable' }]);
    await vi.advanceTimersByTimeAsync(1000);
    expect(s.sentOf('send').map((f) => f.cid)).toEqual([1, 1]);
    s.receive({ type: 'sent', cid: 1, conv: 'c', seq: 4, ts: 9 });
    await expect(p).resolves.toMatchObject({ cid: 1, seq: 4 });
    client.close();
  });

  it('sdk client – leave() waits for a send to that conversation still to go again (a retryable error), so it is not refused not_member', async () => {
    const { client, s } = await connectedHarness();
    const p = client.send('g', 'bye all');
    s.receive({ type: 'error', code: 'unavailable', message: 'shard between owners', cid: 1, conv: 'g' });
    const left = client.leave('g');
    await vi.advanceTimersByTimeAsync(0);
    expect(s.sentOf('leave')).toEqual([]);
    await vi.advanceTimersByTimeAsync(1000);
    expect(s.sentOf('send').map((f) => f.cid)).toEqual([1, 1]);
    expect(s.sentOf('leave')).toEqual([]);
    s.receive({ type: 'sent', cid: 1, conv: 'g', seq: 4, ts: 9 });
    await expect(p).resolves.toMatchObject({ seq: 4 });
    await vi.advanceTimersByTimeAsync(0);
    const [frame] = s.sentOf('leave');
    expect(frame).toMatchObject({ conv: 'g' });
    s.receive({ type: 'left', rid: frame!.rid, conv: 'g' });
    await expect(left).resolves.toBeUndefined();
    // With nothing queued there it goes at once.
    void client.leave('h').catch(() => undefined);
    await vi.advanceTimersByTimeAsync(0);
    expect(s.sentOf('leave').map((f) => f.conv)).toEqual(['g', 'h']);
    client.close();
  });

  it('sdk client – unacknowledged sends are re-sent after a reconnect, same cids, in cid order', async () => {
    const { client, ws, accept, states } = harness();
    const sentBefore = client.send('a', 'early'); // queued while not connected
    void client.connect();
    await flush();
    const first = accept();
    client.send('b', 'b1').catch(() => {});
    client.send('a', 'a2').catch(() => {});
    expect(first.sentOf('send').map((f) => [f.conv, f.cid, f.after])).toEqual([
      ['a', 1, undefined],
      ['b', 2, undefined],
      ['a', 3, 1],
    ]);
    first.receive({ type: 'sent', cid: 1, conv: 'a', seq: 1, ts: 1 });
    await sentBefore;
    first.serverClose(1006);
    expect(states.at(-1)).toMatchObject({ state: 'reconnecting', code: 1006 });
    await vi.advanceTimersByTimeAsync(500); // backoff: 0.5 × 1 s
    expect(ws.sockets).toHaveLength(2);
    const second = accept();
    expect(second.sentOf('send').map((f) => [f.conv, f.cid, f.after])).toEqual([
      ['b', 2, undefined],
      ['a', 3, 1],
    ]);
    client.close();
  });
});
