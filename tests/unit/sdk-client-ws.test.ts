import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { decodeClientFrame, encodeFrame } from '../../protocol/codec.js';
import type { ClientFrame, ServerFrame } from '../../protocol/frames.js';
import { ImClient } from '../../protocol/sdk/client.js';

/** A tiny in-process gateway on the real `ws` package: welcome, convs, and `sent` for every send. */
async function miniGateway(opts: { refuseToken?: string } = {}) {
  const received: ClientFrame[] = [];
  const tokens: string[] = [];
  const sockets: WebSocket[] = [];
  let seq = 0;
  const wss = new WebSocketServer({
    port: 0,
    verifyClient: (info, cb) => {
      const token = new URL(info.req.url ?? '', 'http://x').searchParams.get('token') ?? '';
      tokens.push(token);
      if (token === opts.refuseToken) cb(false, 401, 'Unauthorized');
      else cb(true);
    },
  });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  const send = (ws: WebSocket, f: ServerFrame) => ws.send(encodeFrame(f));
  wss.on('connection', (ws) => {
    sockets.push(ws);
    send(ws, { type: 'welcome', uid: 'me', did: 'phone', node: 'n1', heartbeatMs: 25_000, maxFrameBytes: 65_536 });
    send(ws, { type: 'convs', list: [] });
    ws.on('message', (data) => {
      const r = decodeClientFrame(data as Buffer);
      if (!r.ok) return ws.close(4000);
      received.push(r.value);
      if (r.value.type === 'send') send(ws, { type: 'sent', cid: r.value.cid, conv: r.value.conv, seq: ++seq, ts: Date.now() });
      if (r.value.type === 'ping') send(ws, { type: 'pong', ts: r.value.ts });
    });
  });
  const url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/ws`;
  const close = () => new Promise<void>((resolve) => {
    for (const ws of wss.clients) ws.terminate();
    wss.close(() => resolve());
  });
  return { url, received, tokens, sockets, close };
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('sdk client on ws – a real socket', () => {
  it('sdk client on ws – connects, sends, survives a dropped connection and sends again', async () => {
    const gw = await miniGateway();
    cleanups.push(gw.close);
    const client = new ImClient({ url: gw.url, token: 'tok', WebSocket, reconnect: { baseMs: 20, capMs: 50 } });
    cleanups.push(() => client.close());
    await client.connect();
    await expect(client.send('c', 'one')).resolves.toMatchObject({ conv: 'c', seq: 1 });
    const reopened = new Promise<void>((resolve) => client.on('welcome', () => resolve()));
    gw.sockets[0]!.terminate();
    await reopened;
    await expect(client.send('c', 'two')).resolves.toMatchObject({ conv: 'c', seq: 2 });
    const sends = gw.received.filter((f) => f.type === 'send');
    expect(sends.map((f) => f.type === 'send' && f.body)).toEqual(['one', 'two']);
    // The first was answered before the second was queued: nothing to order it after, so no `after`, and a cid above.
    expect(sends[1]).not.toHaveProperty('after');
    expect(sends[1]!.type === 'send' && sends[0]!.type === 'send' && sends[1]!.cid > sends[0]!.cid).toBe(true);
  });

  it('sdk client on ws – a refused upgrade (401) fetches a new token and the next attempt gets in', async () => {
    const gw = await miniGateway({ refuseToken: 'stale' });
    cleanups.push(gw.close);
    const issued = ['stale', 'fresh'];
    const client = new ImClient({ url: gw.url, token: () => issued.shift() ?? 'fresh', WebSocket, reconnect: { baseMs: 20, capMs: 50 } });
    cleanups.push(() => client.close());
    await client.connect();
    expect(gw.tokens).toEqual(['stale', 'fresh']);
    expect(client.state).toBe('open');
  });

  it('sdk client on ws – close() while the upgrade is still pending neither throws nor reconnects', async () => {
    const gw = await miniGateway();
    cleanups.push(gw.close);
    const client = new ImClient({ url: gw.url, token: 'tok', WebSocket });
    const connected = client.connect();
    await new Promise((r) => setTimeout(r, 0));
    client.close();
    await expect(connected).rejects.toMatchObject({ code: 'closed' });
    await new Promise((r) => setTimeout(r, 100));
    expect(client.state).toBe('closed');
  });
});
