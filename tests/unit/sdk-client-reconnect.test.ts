import { describe, expect, it, vi } from 'vitest';
import { ErrorCode, type ImError } from '../../protocol/errors.js';
import type { FakeWebSocket } from '../helpers/fake-websocket.js';
import { connectedHarness, fakeTimersPerTest, flush, harness, WELCOME } from '../helpers/sdk-harness.js';

fakeTimersPerTest();

describe('sdk client – reconnect policy', () => {
  it('sdk client – a redirect is followed at once to its endpoints in order, then the normal list with backoff', async () => {
    const { client, ws, s } = await connectedHarness({ endpoints: ['ws://gw1/ws', 'ws://gw2/ws'] });
    s.receive({ type: 'redirect', endpoints: ['ws://gw7/ws', 'ws://gw8/ws'], reason: 'drain' });
    s.serverClose(4011);
    await flush();
    expect(ws.sockets.map((x) => x.url.split('?')[0])).toEqual(['ws://gw1/ws', 'ws://gw7/ws']);
    ws.last().refuse();
    await flush();
    expect(ws.last().url.split('?')[0]).toBe('ws://gw8/ws');
    ws.last().refuse();
    await flush();
    expect(ws.sockets).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(500);
    expect(ws.last().url.split('?')[0]).toBe('ws://gw2/ws');
    client.close();
  });

  it.each([
    [4012, 'replaced'],
    [4014, 'signed out'],
  ])('sdk client – close %i (%s) ends the client: state closed, no reconnect, queued sends rejected', async (code, reason) => {
    const { client, ws, states, s } = await connectedHarness();
    const p = client.send('c', 'hi');
    s.serverClose(code, reason);
    await expect(p).rejects.toMatchObject({ code: ErrorCode.CLOSED });
    expect(states.at(-1)).toEqual({ state: 'closed', code, reason });
    await vi.advanceTimersByTimeAsync(120_000);
    expect(ws.sockets).toHaveLength(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('sdk client – a client closed by its own welcome listener leaves no timer and asks its token function nothing more', async () => {
    const jwt = `h.${Buffer.from(JSON.stringify({ sub: 'me', did: 'phone', exp: Math.floor(Date.now() / 1000) + 600 })).toString('base64url')}.s`;
    let asked = 0;
    const { client, ws } = harness({ token: async () => (asked++, jwt) });
    client.on('welcome', () => client.close());
    void client.connect().catch(() => undefined);
    await flush();
    ws.last().open();
    ws.last().receive(WELCOME);
    await flush();
    await vi.advanceTimersByTimeAsync(600_000);
    expect([asked, vi.getTimerCount()]).toEqual([1, 0]);
  });

  it('sdk client – a client closed by its own redirect listener leaves no timer and opens no socket', async () => {
    const { client, ws, states, s } = await connectedHarness();
    client.on('redirect', () => client.close());
    s.receive({ type: 'redirect', endpoints: ['ws://gw7/ws'], reason: 'moved' });
    await flush();
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(120_000);
    expect([ws.sockets.length, states.at(-1)?.state]).toEqual([1, 'closed']);
  });

  it('sdk client – a client closed by its own state listener at open emits no welcome after the close', async () => {
    const { client, ws } = harness();
    const seen: string[] = [];
    client.on('state', (s) => s.state === 'open' && client.close());
    client.on('welcome', () => seen.push('welcome'));
    void client.connect().catch(() => undefined);
    await flush();
    ws.last().open();
    ws.last().receive(WELCOME);
    await flush();
    expect(seen).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('sdk client – a client closed by its own state listener when the connection drops stays closed: no new socket, no timer', async () => {
    const { client, ws, states, s } = await connectedHarness();
    client.on('state', (x) => x.state === 'reconnecting' && client.close());
    s.serverClose(1011, 'restart');
    await flush();
    await vi.advanceTimersByTimeAsync(120_000);
    expect(ws.sockets).toHaveLength(1);
    expect(states.at(-1)?.state).toBe('closed');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('sdk client – a client closed by its own error listener when the token function fails asks it nothing more', async () => {
    let asked = 0;
    const { client, ws } = harness({ token: async () => (asked++, Promise.reject(new Error('signed out'))) });
    const states: string[] = [];
    client.on('state', (x) => states.push(x.state));
    client.on('error', () => client.close());
    void client.connect().catch(() => undefined);
    await flush();
    await vi.advanceTimersByTimeAsync(120_000);
    expect([asked, ws.sockets.length, vi.getTimerCount()]).toEqual([1, 0, 0]);
    expect(states.at(-1)).toBe('closed');
  });

  it('sdk client – a client closed by its own state listener as it starts connecting opens nothing', async () => {
    let asked = 0;
    const { client, ws } = harness({ token: () => (asked++, 't') });
    client.on('state', (x) => x.state === 'connecting' && client.close());
    await expect(client.connect()).rejects.toMatchObject({ code: ErrorCode.CLOSED });
    await vi.advanceTimersByTimeAsync(60_000);
    expect([asked, ws.sockets.length, vi.getTimerCount()]).toEqual([0, 0, 0]);
  });

  it('sdk client – a token function that never answers is given up after 30 s and asked again after a backoff', async () => {
    let asked = 0;
    const errors: string[] = [];
    const { client, ws } = harness({ token: () => (asked++, new Promise<string>(() => {})) });
    client.on('error', (e) => errors.push(e.code));
    void client.connect().catch(() => undefined);
    await vi.advanceTimersByTimeAsync(29_000);
    expect([asked, errors]).toEqual([1, []]);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(errors).toEqual([ErrorCode.TIMEOUT]);
    await vi.advanceTimersByTimeAsync(31_000);
    expect(asked).toBe(2);
    expect(ws.sockets).toHaveLength(0);
    client.close();
  });

  it('sdk client – a dispatcher fetch that ignores its abort signal and never answers is given up after the request timeout, and asked again', async () => {
    let fetched = 0;
    const errors: string[] = [];
    const { client, ws } = harness({ url: undefined, dispatcherUrl: 'http://d', uid: 'me', requestTimeoutMs: 5_000, fetch: (() => (fetched++, new Promise(() => {}))) as unknown as typeof fetch });
    client.on('error', (e) => errors.push(e.code));
    void client.connect().catch(() => undefined);
    await vi.advanceTimersByTimeAsync(4_900);
    expect([fetched, errors]).toEqual([1, []]);
    await vi.advanceTimersByTimeAsync(100);
    expect(errors).toEqual([ErrorCode.TIMEOUT]);
    // After the backoff's first wait (half of 1 s here).
    await vi.advanceTimersByTimeAsync(1_000);
    expect(fetched).toBe(2);
    expect(ws.sockets).toHaveLength(0);
    client.close();
  });

  it('sdk client – a fixed token past its exp ends the client at its next refusal, instead of connecting for good', async () => {
    const expired = `h.${Buffer.from(JSON.stringify({ sub: 'me', did: 'phone', exp: Math.floor(Date.now() / 1000) - 5 })).toString('base64url')}.s`;
    const { client, ws, states } = harness({ token: expired });
    const connected = client.connect();
    void connected.catch(() => undefined);
    await flush();
    ws.last().refuse(); // a refused upgrade: a browser sees 1006 and no status
    await vi.advanceTimersByTimeAsync(120_000);
    expect(ws.sockets).toHaveLength(1);
    expect(states.at(-1)).toMatchObject({ state: 'closed', code: 4001 });
    await expect(connected).rejects.toMatchObject({ code: ErrorCode.CLOSED });
  });

  it('sdk client – after 4001 or a refused upgrade the token function is called again', async () => {
    let n = 0;
    const { client, ws, accept } = harness({ token: async () => `tok${++n}` });
    void client.connect();
    await flush();
    expect(ws.last().url).toContain('token=tok1');
    ws.last().refuse();
    await vi.advanceTimersByTimeAsync(500);
    expect(ws.last().url).toContain('token=tok2');
    const s = accept();
    s.serverClose(4001);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(ws.last().url).toContain('token=tok3');
    client.close();
  });

  it('sdk client – a refused upgrade renews a token near its expiry at once, and a fresh one only after three refusals in a row', async () => {
    const jwt = (expInSec: number, n: number): string =>
      `h.${Buffer.from(JSON.stringify({ sub: 'u', did: 'd', exp: Math.floor(Date.now() / 1000) + expInSec, n })).toString('base64url')}.s`;
    let n = 0;
    let ttl = 3600;
    const { client, ws, accept } = harness({ token: async () => jwt(ttl, ++n) });
    const tokenOf = (): string => new URL(ws.last().url).searchParams.get('token')!;
    /** Lets time pass until the client opens its next socket (its backoff), no further. */
    const nextSocket = async (): Promise<string> => {
      const k = ws.sockets.length;
      // Fake time, 50 ms a step: a reconnect not tried within 60 s (twice the backoff's 30 s cap) is not coming.
      for (let waited = 0; ws.sockets.length === k; waited += 50) {
        if (waited >= 60_000) expect.fail(`no socket opened within 60 s after socket ${k}`);
        await vi.advanceTimersByTimeAsync(50);
      }
      return tokenOf();
    };
    void client.connect();
    await flush();
    const first = tokenOf();
    // A gateway in a storm (or a node down): the same good token for the next tries, then a new one.
    ws.last().refuse();
    expect(await nextSocket()).toBe(first);
    ws.last().refuse();
    expect(await nextSocket()).toBe(first);
    ttl = 30; // the tokens the app hands out from now on run out in 30 s
    ws.last().refuse();
    const second = await nextSocket();
    expect(second).not.toBe(first);
    // A welcome starts the count again; a token about to run out is renewed at the first refusal.
    accept();
    await flush();
    client.reconnect();
    expect(await nextSocket()).toBe(second);
    ws.last().refuse();
    const third = await nextSocket();
    expect(third).not.toBe(second);
    ws.last().refuse();
    expect(await nextSocket()).not.toBe(third);
    expect(n).toBe(4);
    client.close();
  });

  it('sdk client – a session gets a new token about a minute before its token expires, answered by rid, and plans the next one from the new token', async () => {
    const jwt = (expInSec: number): string => `h.${Buffer.from(JSON.stringify({ sub: 'me', did: 'phone', exp: Math.floor(Date.now() / 1000) + expInSec })).toString('base64url')}.s`;
    let n = 0;
    const { client, ws, states } = harness({ token: async () => (++n, jwt(600)) });
    void client.connect();
    await flush();
    // A heartbeat long enough that the silent fake server is not given up while half an hour passes.
    const s = ws.last();
    s.open();
    s.receive({ ...WELCOME, heartbeatMs: 10_000_000 });
    s.receive({ type: 'convs', list: [] });
    await flush();
    // random() = 0.5: 52.5 s ahead of the expiry, 599–600 s away (exp is whole seconds).
    await vi.advanceTimersByTimeAsync(546_000);
    expect(s.sentOf('refresh')).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(2_000);
    const [first] = s.sentOf('refresh');
    expect(first).toMatchObject({ type: 'refresh', rid: expect.any(Number), token: expect.stringMatching(/^h\./) });
    expect(n).toBe(2);
    s.receive({ type: 'refreshed', rid: first!.rid, exp: Math.floor(Date.now() / 1000) + 600 });
    await flush();
    await vi.advanceTimersByTimeAsync(548_000);
    expect(s.sentOf('refresh')).toHaveLength(2);
    // A refused refresh: the token is dropped and nothing more is tried in this session; the close at expiry follows.
    const errors: string[] = [];
    client.on('error', (e) => errors.push(e.code));
    s.receive({ type: 'error', code: ErrorCode.UNAUTHORIZED, message: 'no', rid: s.sentOf('refresh')[1]!.rid });
    await flush();
    expect(errors).toEqual([ErrorCode.UNAUTHORIZED]);
    await vi.advanceTimersByTimeAsync(600_000);
    expect(s.sentOf('refresh')).toHaveLength(2);
    expect(states.map((x) => x.state)).toEqual(['connecting', 'open']);
    client.close();
  });

  it('sdk client – a fixed token is never refreshed in the session', async () => {
    const fixed = `h.${Buffer.from(JSON.stringify({ exp: Math.floor(Date.now() / 1000) + 100 })).toString('base64url')}.s`;
    const { client, ws } = harness({ token: fixed });
    void client.connect();
    await flush();
    const s = ws.last();
    s.open();
    s.receive({ ...WELCOME, heartbeatMs: 10_000_000 });
    await vi.advanceTimersByTimeAsync(200_000);
    expect(s.sentOf('refresh')).toHaveLength(0);
    client.close();
  });

  it('sdk client – a silent server is given up after 2.5 heartbeats and the client reconnects; pings keep it company before', async () => {
    const { client, ws, s } = await connectedHarness();
    await vi.advanceTimersByTimeAsync(1_100);
    expect(s.sentOf('ping')).toHaveLength(1);
    expect(s.closedByClient).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1_400); // 2.5 s of silence
    expect(s.closedByClient).toEqual({ code: 4009, reason: 'no frame from the server' });
    expect(client.state).toBe('reconnecting');
    await vi.advanceTimersByTimeAsync(500);
    expect(ws.sockets).toHaveLength(2);
    client.close();
  });

  it('sdk client – a client that only sends frames the server does not answer (typing) still pings, and keeps a live connection', async () => {
    const { client, s } = await connectedHarness();
    s.receive({ ...WELCOME, heartbeatMs: 10_000 });
    let answered = 0;
    for (let i = 0; i < 30; i++) {
      client.typing('c');
      await vi.advanceTimersByTimeAsync(2_000);
      // The server answers each ping, as a live one does, and nothing else.
      for (; answered < s.sentOf('ping').length; answered++) s.receive({ type: 'pong' });
    }
    expect(s.sentOf('typing').length).toBeGreaterThanOrEqual(25);
    expect(s.closedByClient).toBeUndefined();
    expect(client.state).toBe('open');
    // One ping an interval or so while nothing is heard: not one after each frame sent, nor none.
    expect(s.sentOf('ping').length).toBeGreaterThanOrEqual(5);
    expect(s.sentOf('ping').length).toBeLessThanOrEqual(7);
    client.close();
  });

  it('sdk client – frames from the server keep the connection alive, frames sent and heard replace pings', async () => {
    const { client, s } = await connectedHarness();
    for (let i = 0; i < 10; i++) {
      await vi.advanceTimersByTimeAsync(500);
      void client.send('c', `m${i}`).catch(() => {});
      s.receive({ type: 'pong' });
    }
    expect(s.closedByClient).toBeUndefined();
    expect(s.sentOf('ping')).toEqual([]);
    client.close();
  });
});

describe('sdk client – closing', () => {
  it('sdk client – close() sends 1000, rejects pending requests and sends with closed, and leaves no timer', async () => {
    const { client, states, s } = await connectedHarness();
    const pull = client.pull('c', 0, 10);
    const sync = client.sync();
    const send = client.send('c', 'x');
    client.close();
    await expect(pull).rejects.toMatchObject({ code: ErrorCode.CLOSED });
    await expect(sync).rejects.toMatchObject({ code: ErrorCode.CLOSED });
    await expect(send).rejects.toMatchObject({ code: ErrorCode.CLOSED });
    await expect(client.connect()).rejects.toMatchObject({ code: ErrorCode.CLOSED });
    expect(s.closedByClient?.code).toBe(1000);
    expect(states.at(-1)?.state).toBe('closed');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('sdk client – a request cut off by a dropped connection rejects with unavailable (ask again once connected), not closed', async () => {
    const { client, s, accept } = await connectedHarness();
    const errors: string[] = [];
    client.on('error', (e) => errors.push(e.code));
    const pull = client.pull('c', 0, 10);
    const sync = client.sync();
    s.serverClose(1006);
    await expect(pull).rejects.toMatchObject({ code: ErrorCode.UNAVAILABLE });
    await expect(sync).rejects.toMatchObject({ code: ErrorCode.UNAVAILABLE });
    await vi.advanceTimersByTimeAsync(1_000);
    accept();
    await flush();
    expect(client.state).toBe('open');
    expect(errors).toEqual([]);
    client.close();
  });

  it('sdk client – a final close (4012) rejects what waits with closed; reconnect() from a state listener makes one attempt, not two; leave() offline is refused at once', async () => {
    const a = await connectedHarness();
    const pull = a.client.pull('c', 0, 10);
    a.s.serverClose(4012);
    await expect(pull).rejects.toMatchObject({ code: ErrorCode.CLOSED });

    const b = await connectedHarness();
    let asked = 0;
    b.client.on('state', (st) => void (st.state === 'reconnecting' && asked++ === 0 && b.client.reconnect()));
    b.s.serverClose(1006);
    await flush();
    await vi.advanceTimersByTimeAsync(5_000);
    expect(b.ws.sockets).toHaveLength(2);

    const c = await connectedHarness();
    void c.client.send('g', 'queued').catch(() => undefined);
    c.s.serverClose(1006);
    let code = '';
    void c.client.leave('g').catch((e: ImError) => (code = e.code));
    await flush();
    expect(code).toBe(ErrorCode.UNAVAILABLE);
    for (const x of [b, c]) x.client.close();
  });

  it('sdk client – close() while waiting to reconnect cancels the attempt', async () => {
    const { client, ws } = harness();
    const connected = client.connect();
    await flush();
    ws.last().refuse();
    client.close();
    await expect(connected).rejects.toMatchObject({ code: ErrorCode.CLOSED });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(ws.sockets).toHaveLength(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('sdk client – connect() and close() at once (a mount and unmount) ask neither the dispatcher nor the token function anything', async () => {
    let asked = 0;
    let fetched = 0;
    const { client, ws } = harness({
      url: undefined,
      dispatcherUrl: 'http://d',
      uid: 'me',
      token: () => (asked++, 't'),
      fetch: (async () => (fetched++, { ok: true, status: 200, json: async () => ({ endpoints: ['ws://gw/ws'] }) })) as unknown as typeof fetch,
    });
    void client.connect().catch(() => undefined);
    client.close();
    await flush();
    await vi.advanceTimersByTimeAsync(60_000);
    expect([fetched, asked, ws.sockets.length, vi.getTimerCount()]).toEqual([0, 0, 0, 0]);
  });

  it('sdk client – pull and sync are answered by rid, and time out when unanswered', async () => {
    const { client, accept } = harness({ requestTimeoutMs: 2_000 });
    void client.connect();
    await flush();
    const s: FakeWebSocket = accept();
    const sync = client.sync();
    const pull = client.pull('c', 0, 5);
    const [syncFrame] = s.sentOf('sync');
    s.receive({ type: 'convs', rid: syncFrame!.rid, list: [] });
    await expect(sync).resolves.toEqual([]);
    const timedOut = expect(pull).rejects.toMatchObject({ code: ErrorCode.TIMEOUT });
    await vi.advanceTimersByTimeAsync(2_000);
    await timedOut;
    client.close();
  });
});
