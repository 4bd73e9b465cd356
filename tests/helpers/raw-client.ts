import WebSocket from 'ws';
import { decodeServerFrame, encodeFrame } from '../../protocol/codec.js';
import type { ClientFrame, ServerFrame } from '../../protocol/frames.js';

/** A bare WebSocket client for tests that must send what the SDK never would. */
export interface RawClient {
  ws: WebSocket;
  frames: ServerFrame[];
  send(frame: Readonly<Record<string, unknown>>): void;
  sendBytes(bytes: Uint8Array | string): void;
  /** Resolves with the first frame (already received or future) matching `pred`. */
  waitFor<T extends ServerFrame = ServerFrame>(pred: (f: ServerFrame) => boolean, timeoutMs?: number): Promise<T>;
  closed: Promise<{ code: number; reason: string }>;
  close(): void;
}

/** Opens a socket with a token (as a page of `origin`, if given); resolves once open, rejects with the HTTP status when the upgrade is refused. */
export function rawConnect(url: string, token?: string, origin?: string): Promise<RawClient> {
  const ws = new WebSocket(token === undefined ? url : `${url}${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}`, origin === undefined ? {} : { origin });
  ws.binaryType = 'nodebuffer';
  const frames: ServerFrame[] = [];
  const waiters: { pred: (f: ServerFrame) => boolean; resolve: (f: ServerFrame) => void }[] = [];
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (!isBinary) return;
    const r = decodeServerFrame(new Uint8Array(data));
    if (!r.ok) throw new Error(`server sent an undecodable frame: ${r.error.message}`);
    frames.push(r.value);
    for (const w of [...waiters]) {
      if (w.pred(r.value)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(r.value);
      }
    }
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  const client: RawClient = {
    ws,
    frames,
    send: (f) => ws.send(encodeFrame(f as ClientFrame)),
    sendBytes: (b) => ws.send(b),
    waitFor: <T extends ServerFrame>(pred: (f: ServerFrame) => boolean, timeoutMs = 10_000) =>
      new Promise<T>((resolve, reject) => {
        const hit = frames.find(pred);
        if (hit) return resolve(hit as T);
        const t = setTimeout(() => reject(new Error(`no matching frame within ${timeoutMs} ms; got ${JSON.stringify(frames.map((f) => f.type))}`)), timeoutMs);
        waiters.push({ pred, resolve: (f) => (clearTimeout(t), resolve(f as T)) });
      }),
    closed,
    close: () => ws.close(1000),
  };
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(client));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { status: res.statusCode, body })));
    });
    ws.once('error', reject);
  });
}
