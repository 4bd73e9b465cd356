/**
 * A minimal WebSocket client (RFC 6455) for the load generators, over a plain TCP socket. The generators share
 * the two cores with the system they measure: with the `ws` package a generator spent ~100 µs of CPU per
 * message sent, received and acked — as much as half the cluster's own cost — and could not read a large
 * group's fan-out as fast as the gateways wrote it. This client does only what a generator needs: binary frames
 * out (every frame of one turn in one write per socket), binary frames in (handed over as views, no copy), close.
 * Clients, the SDK and the tests keep using `ws`; this file is for benchmarks only.
 */
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;
/** The close code RFC 6455 reserves for "the connection closed without a close frame". */
export const ABNORMAL_CLOSURE = 1006;

/** Why a connect failed: `beforeUpgrade` with the socket's error code, or the server's refusal with its status. */
export class LeanConnectError extends Error {
  override readonly name = 'LeanConnectError';
  constructor(
    message: string,
    readonly beforeUpgrade: boolean,
    readonly code?: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

/** One client WebSocket; `onMessage` gets each binary or text message's payload. */
export class LeanSocket {
  onMessage: (data: Buffer) => void = () => undefined;
  onClose: (code: number, reason: string) => void = () => undefined;
  private open = true;
  private corked = false;
  private rest: Buffer | undefined;
  private fragments: Buffer[] | undefined;

  private constructor(private readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.read(chunk));
    socket.on('close', () => this.closed(ABNORMAL_CLOSURE, ''));
    socket.on('error', () => undefined); // 'close' follows
  }

  /** Opens `url` (ws://host:port/path?query); resolves once the server answered 101. */
  static connect(url: string, timeoutMs = 10_000): Promise<LeanSocket> {
    const u = new URL(url);
    const key = randomBytes(16).toString('base64');
    const accept = createHash('sha1').update(key + GUID).digest('base64');
    return new Promise((resolve, reject) => {
      const socket = net.connect(Number(u.port), u.hostname);
      let head = Buffer.alloc(0);
      const timer = setTimeout(() => fail(new LeanConnectError(`no upgrade from ${u.host} within ${timeoutMs} ms`, true, 'ETIMEDOUT')), timeoutMs);
      const fail = (e: LeanConnectError): void => {
        clearTimeout(timer);
        socket.destroy();
        reject(e);
      };
      socket.once('error', (err: NodeJS.ErrnoException) => fail(new LeanConnectError(err.message, true, err.code)));
      socket.once('connect', () => {
        socket.write(`GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
      });
      const onData = (chunk: Buffer): void => {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        const lines = head.subarray(0, end).toString('latin1').split('\r\n');
        const status = Number(lines[0]!.split(' ')[1]);
        if (status !== 101) return fail(new LeanConnectError(`upgrade refused: ${status}`, false, undefined, status));
        const got = lines.find((l) => l.toLowerCase().startsWith('sec-websocket-accept:'))?.slice(21).trim();
        if (got !== accept) return fail(new LeanConnectError('upgrade answered with a wrong Sec-WebSocket-Accept', false));
        clearTimeout(timer);
        socket.off('data', onData);
        socket.removeAllListeners('error');
        // Frames may have come with the 101 (the server's first messages): they are handed over once the caller
        // has had its turn to set `onMessage`, and the socket reads nothing more until then.
        socket.pause();
        const ws = new LeanSocket(socket);
        const early = head.subarray(end + 4);
        resolve(ws);
        setImmediate(() => {
          if (early.length > 0) ws.read(early);
          socket.resume();
        });
      };
      socket.on('data', onData);
    });
  }

  /** True until the connection closed. */
  get isOpen(): boolean {
    return this.open;
  }

  /** Sends one binary message; the frames of one turn leave in one write. */
  send(payload: Uint8Array): void {
    if (!this.open) return;
    const n = payload.length;
    const hdr = n < 126 ? 2 : n < 65_536 ? 4 : 10;
    // Masked, as clients must; with a zero key the masked payload is the payload itself.
    const frame = Buffer.allocUnsafe(hdr + 4 + n);
    frame[0] = 0x80 | OP_BINARY;
    if (n < 126) frame[1] = 0x80 | n;
    else if (n < 65_536) {
      frame[1] = 0x80 | 126;
      frame.writeUInt16BE(n, 2);
    } else {
      frame[1] = 0x80 | 127;
      frame.writeBigUInt64BE(BigInt(n), 2);
    }
    frame.writeUInt32BE(0, hdr);
    frame.set(payload, hdr + 4);
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    this.socket.write(frame);
  }

  /** Sends a close frame and ends the connection. */
  close(code = 1000): void {
    if (!this.open) return;
    const frame = Buffer.from([0x80 | OP_CLOSE, 0x82, 0, 0, 0, 0, code >> 8, code & 0xff]);
    this.socket.end(frame);
  }

  /** Drops the connection at once. */
  terminate(): void {
    this.socket.destroy();
  }

  private closed(code: number, reason: string): void {
    if (!this.open) return;
    this.open = false;
    this.onClose(code, reason);
  }

  private read(chunk: Buffer): void {
    let b = this.rest ? Buffer.concat([this.rest, chunk]) : chunk;
    this.rest = undefined;
    let pos = 0;
    while (b.length - pos >= 2) {
      const b0 = b[pos]!;
      const b1 = b[pos + 1]!;
      let len = b1 & 0x7f;
      let at = pos + 2;
      if (len === 126) {
        if (b.length - at < 2) break;
        len = b.readUInt16BE(at);
        at += 2;
      } else if (len === 127) {
        if (b.length - at < 8) break;
        len = Number(b.readBigUInt64BE(at));
        at += 8;
      }
      const masked = (b1 & 0x80) !== 0;
      if (b.length - at < len + (masked ? 4 : 0)) break;
      let payload: Buffer;
      if (masked) {
        const mask = b.subarray(at, at + 4);
        at += 4;
        payload = Buffer.from(b.subarray(at, at + len));
        for (let i = 0; i < len; i++) payload[i]! ^= mask[i & 3]!;
      } else payload = b.subarray(at, at + len);
      pos = at + len;
      this.frame(b0, payload);
      if (!this.open) return;
    }
    if (pos < b.length) this.rest = Buffer.from(b.subarray(pos));
  }

  private frame(b0: number, payload: Buffer): void {
    const fin = (b0 & 0x80) !== 0;
    const op = b0 & 0x0f;
    if (op === OP_CLOSE) {
      const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
      this.closed(code, payload.subarray(2).toString('utf8'));
      this.socket.end();
      return;
    }
    if (op === OP_PING) {
      if (this.open) this.socket.write(Buffer.concat([Buffer.from([0x80 | OP_PONG, 0x80 | payload.length, 0, 0, 0, 0]), payload]));
      return;
    }
    if (op === OP_PONG) return;
    if (op === OP_TEXT || op === OP_BINARY) {
      if (fin) return this.onMessage(payload);
      this.fragments = [Buffer.from(payload)];
      return;
    }
    // A continuation frame (op 0): uWS sends whole messages, but a fragmented one is still put together.
    if (this.fragments) {
      this.fragments.push(Buffer.from(payload));
      if (fin) {
        const whole = Buffer.concat(this.fragments);
        this.fragments = undefined;
        this.onMessage(whole);
      }
    }
  }
}
