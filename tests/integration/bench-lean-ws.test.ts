import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type * as Uws from 'uWebSockets.js';
import { loadUws } from '../../runtime/uws.js';
import { LeanConnectError, LeanSocket } from '../../scripts/bench/lean-ws.js';

/**
 * The load generators' WebSocket client against a real uWebSockets.js server: what it sends must arrive
 * whole and in order, whatever the length encoding, and refusals and closes must come back with their codes —
 * a benchmark that miscounts is worse than none.
 */
describe('bench lean WebSocket client (real uWebSockets.js)', () => {
  const uws = loadUws();
  let listen: Uws.us_listen_socket | undefined;
  let port = 0;

  beforeAll(async () => {
    const app = uws.App().ws<{ token: string }>('/ws', {
      maxPayloadLength: 1 << 20,
      idleTimeout: 0,
      upgrade: (res, req, ctx) => {
        const token = req.getQuery('token') ?? '';
        if (token === 'bad') {
          res.cork(() => res.writeStatus('401 Unauthorized').end('{"code":"unauthorized"}'));
          return;
        }
        res.upgrade({ token }, req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'), req.getHeader('sec-websocket-extensions'), ctx);
      },
      // Greets at once, so the first frame can arrive in the same packet as the 101.
      open: (ws) => void ws.send(new TextEncoder().encode(`hello ${ws.getUserData().token}`), true),
      message: (ws, data) => {
        const text = data.byteLength < 64 ? Buffer.from(data).toString() : '';
        if (text.startsWith('close ')) return void ws.end(Number(text.slice(6)), 'asked to');
        ws.send(data, true);
      },
    });
    await new Promise<void>((resolve, reject) =>
      app.listen('127.0.0.1', 0, (token) => {
        if (!token) return reject(new Error('no port'));
        listen = token;
        port = uws.us_socket_local_port(token as unknown as Uws.us_socket);
        resolve();
      }),
    );
  });

  afterAll(() => {
    if (listen) uws.us_listen_socket_close(listen);
  });

  it('lean ws – frames of every length encoding arrive whole and in order, after the greeting that came with the 101', async () => {
    const ws = await LeanSocket.connect(`ws://127.0.0.1:${port}/ws?token=t1`);
    const got: Buffer[] = [];
    ws.onMessage = (d) => got.push(Buffer.from(d));
    const sizes = [0, 1, 125, 126, 200, 65_535, 65_536, 300_000];
    const sent = sizes.map((n, i) => Buffer.alloc(n, i + 1));
    for (const b of sent) ws.send(b);
    const deadline = Date.now() + 10_000;
    while (got.length < sizes.length + 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(got[0]!.toString()).toBe('hello t1');
    expect(got.slice(1).map((b) => b.length)).toEqual(sizes);
    for (let i = 0; i < sizes.length; i++) expect(got[i + 1]!.equals(sent[i]!)).toBe(true);
    ws.terminate();
  });

  it('lean ws – a close from the server reports its code; a refused upgrade fails with the status, not as a network error', async () => {
    const ws = await LeanSocket.connect(`ws://127.0.0.1:${port}/ws?token=t2`);
    const closed = new Promise<number>((resolve) => (ws.onClose = (code) => resolve(code)));
    ws.send(Buffer.from('close 4013'));
    expect(await closed).toBe(4013);
    expect(ws.isOpen).toBe(false);

    const err = await LeanSocket.connect(`ws://127.0.0.1:${port}/ws?token=bad`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LeanConnectError);
    expect((err as LeanConnectError).status).toBe(401);
    expect((err as LeanConnectError).beforeUpgrade).toBe(false);
  });
});
