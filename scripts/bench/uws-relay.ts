/**
 * The baseline of the chat benchmark: a bare uWebSockets.js relay speaking the same frames, with no
 * persistence, no cluster and no checks. `send {conv}` is answered with `sent` and relayed as `msg` to the
 * socket whose token (here: just a user id) equals `conv`. Run: `node --import tsx uws-relay.ts <port>`.
 */
import { decode, encodeFrame } from '../../protocol/codec.js';
import type { ClientFrame } from '../../protocol/frames.js';
import { loadUws } from '../../runtime/uws.js';

interface Data {
  uid: string;
}

const uws = loadUws();
const port = Number(process.argv[2]);
const sockets = new Map<string, import('uWebSockets.js').WebSocket<Data>>();
let seq = 0;

uws
  .App()
  .ws<Data>('/ws', {
    compression: uws.DISABLED,
    maxPayloadLength: 64 * 1024,
    idleTimeout: 0,
    upgrade: (res, req, ctx) => {
      res.upgrade<Data>({ uid: req.getQuery('token') ?? '' }, req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'), req.getHeader('sec-websocket-extensions'), ctx);
    },
    open: (ws) => {
      sockets.set(ws.getUserData().uid, ws);
      const uid = ws.getUserData().uid;
      ws.send(encodeFrame({ type: 'welcome', uid, did: uid, node: 'relay', heartbeatMs: 25_000, maxFrameBytes: 65_536 }), true);
      ws.send(encodeFrame({ type: 'convs', list: [] }), true);
    },
    message: (ws, data) => {
      const f = decode(new Uint8Array(data)) as ClientFrame;
      if (f.type !== 'send') return;
      const s = ++seq;
      const ts = Date.now();
      ws.send(encodeFrame({ type: 'sent', cid: f.cid, conv: f.conv, seq: s, ts }), true);
      const peer = sockets.get(f.conv);
      const uid = ws.getUserData().uid;
      peer?.send(encodeFrame({ type: 'msg', conv: f.conv, seq: s, prev: s - 1, from: uid, did: uid, cid: f.cid, ts, body: f.body }), true);
    },
    close: (ws) => {
      sockets.delete(ws.getUserData().uid);
    },
  })
  .listen('127.0.0.1', port, (token) => {
    if (!token) process.exit(1);
    process.send?.({ ready: true });
  });
