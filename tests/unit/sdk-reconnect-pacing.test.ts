import { describe, expect, it, vi } from 'vitest';
import type { FakeWebSocket } from '../helpers/fake-websocket.js';
import { fakeTimersPerTest, flush, harness, WELCOME } from '../helpers/sdk-harness.js';

fakeTimersPerTest();

/** The gateway of `s` welcomes the client and sends it to the other of two gateways, which does the same. */
async function bounce(s: FakeWebSocket, livedMs = 0): Promise<void> {
  s.open();
  s.receive({ ...WELCOME, heartbeatMs: 600_000 });
  s.receive({ type: 'convs', list: [] });
  if (livedMs > 0) await vi.advanceTimersByTimeAsync(livedMs);
  s.receive({ type: 'redirect', endpoints: [s.url.includes('//a/') ? 'ws://b/ws' : 'ws://a/ws'], reason: 'drain' });
  s.serverClose(4011);
  await flush();
}

describe('sdk client – reconnect pacing', () => {
  it('sdk client – two gateways redirecting to each other: the first 3 redirects are followed at once, then with the growing backoff; a connection that lasted starts again at once', async () => {
    const { client, ws } = harness({ endpoints: ['ws://a/ws'] });
    void client.connect();
    await flush();
    for (let i = 1; i <= 3; i++) {
      await bounce(ws.last());
      expect(ws.sockets).toHaveLength(i + 1);
    }
    // The 4th waits the backoff (random 0.5: half of 1 s), the 5th longer (half of 2 s), still to the redirect's gateway.
    for (const wait of [500, 1_000]) {
      const n = ws.sockets.length;
      await bounce(ws.last());
      await vi.advanceTimersByTimeAsync(wait - 1);
      expect(ws.sockets).toHaveLength(n);
      await vi.advanceTimersByTimeAsync(1);
      expect(ws.sockets).toHaveLength(n + 1);
    }
    expect(ws.sockets.map((x) => x.url.split('?')[0]).slice(0, 4)).toEqual(['ws://a/ws', 'ws://b/ws', 'ws://a/ws', 'ws://b/ws']);
    // A connection that lived 10 s (the backoff's reset rule) makes the next redirect immediate again.
    const n = ws.sockets.length;
    await bounce(ws.last(), 10_000);
    expect(ws.sockets).toHaveLength(n + 1);
    client.close();
  });

  it('sdk client – reconnect() while waiting out a backoff connects now, and the wait after it stays as long (a loop of calls connects once per call)', async () => {
    const { client, ws } = harness({ random: () => 0.999 });
    void client.connect().catch(() => undefined);
    await flush();
    // Refused upgrades grow the wait (random 0.999: the top of each window) up to the 30 s cap.
    for (const wait of [999, 1_999, 3_999, 7_999, 15_999, 29_999]) {
      ws.last().refuse();
      await vi.advanceTimersByTimeAsync(wait);
    }
    expect(ws.sockets).toHaveLength(7);
    ws.last().refuse();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(ws.sockets).toHaveLength(7);
    client.reconnect(); // the app: the network is back
    client.reconnect();
    await flush();
    expect(ws.sockets).toHaveLength(8);
    ws.last().refuse();
    await vi.advanceTimersByTimeAsync(29_000);
    expect(ws.sockets).toHaveLength(8);
    client.reconnect();
    await flush();
    expect(ws.sockets).toHaveLength(9);
    expect(client.state).toBe('connecting');
    client.close();
  });

  it('sdk client – reconnect() while a socket is still opening (made on the network that went) starts again at once, with no backoff, and is no refused token', async () => {
    let n = 0;
    const { client, ws, accept } = harness({ token: async () => `tok${++n}`, random: () => 0.999 });
    void client.connect();
    await flush();
    for (let i = 2; i <= 5; i++) {
      client.reconnect();
      await flush();
      expect(ws.sockets).toHaveLength(i);
      expect(ws.sockets[i - 2]!.readyState).toBe(3);
    }
    // Three refusals in a row would have renewed it.
    expect(n).toBe(1);
    accept();
    await flush();
    expect(client.state).toBe('open');
    client.close();
  });

  it('sdk client – close() while the token function is still pending leaves no timer', async () => {
    const { client } = harness({ token: () => new Promise<string>(() => {}) });
    void client.connect().catch(() => undefined);
    await flush();
    client.close();
    await flush();
    expect(vi.getTimerCount()).toBe(0);
  });
});
