import { CloseCode } from '../close-codes.js';
import { encodeFrame } from '../codec.js';
import { ErrorCode, ImError } from '../errors.js';
import type { ClientFrame } from '../frames.js';
import { CLIENT_IDLE_CLOSE } from './close-policy.js';
import { FramePacer } from './frame-pacer.js';
import { Heartbeat } from './heartbeat.js';
import { closeQuietly, listen, SOCKET_OPEN, type WebSocketConstructor, type WebSocketLike } from './socket.js';

/** What one connection tells the client. */
export interface ConnectionHooks {
  /** A message's `data` arrived. */
  data(data: unknown): void;
  /** The connection ended: closed by the server or the network, or given up on (`abandon`). Told once. */
  closed(code: number, reason: string): void;
  /** A hook threw inside the socket's callbacks. */
  failed(err: unknown): void;
  /** After `closed`: acks of these conversations were still waiting for the pace, and never went out. */
  unsentAcks?(convs: readonly string[]): void;
}

/**
 * One WebSocket of the client, from opening to its end: whether the upgrade went through and the session was
 * welcomed, the deadline for the `welcome`, the heartbeat and the wait after a `redirect`. Frames go out only once
 * welcomed. The client makes a new one per attempt, so nothing of a dead socket's state reaches the next.
 */
export class Connection {
  /** The server accepted the upgrade (a refused one tells the close policy something else). */
  upgraded = false;
  welcomed = false;
  openedAt = 0;
  private readonly ws: WebSocketLike;
  private heartbeat: Heartbeat | undefined;
  private connectTimer: ReturnType<typeof setTimeout> | undefined;
  private redirectTimer: ReturnType<typeof setTimeout> | undefined;
  private ended = false;
  /** The gateway's largest frame (`welcome.maxFrameBytes`). */
  private maxFrameBytes = Infinity;
  /** Keeps what this connection sends under the gateway's rate; none when the gateway did not say its rate. */
  private pacer: FramePacer | undefined;

  /** Opens `url` (a malformed one throws here); gives up when no `welcome` came within `welcomeTimeoutMs`. */
  constructor(
    WS: WebSocketConstructor,
    url: string,
    welcomeTimeoutMs: number,
    private readonly random: (() => number) | undefined,
    private readonly hooks: ConnectionHooks,
  ) {
    const ws = new WS(url);
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    listen(ws, {
      open: () => void (this.upgraded = true),
      data: (data) => this.ended || hooks.data(data),
      closed: (code, reason) => this.end(code, reason),
      failed: (err) => hooks.failed(err),
    });
    this.connectTimer = setTimeout(() => this.abandon(CloseCode.ABNORMAL, 'no welcome in time'), welcomeTimeoutMs);
  }

  /**
   * The session is open: frames may go out (up to the gateway's size, at its rate when it says it), and the
   * heartbeat runs at the server's interval.
   */
  welcome(heartbeatMs: number, maxFrameBytes: number, rate?: { perSec: number; burst: number }): void {
    this.maxFrameBytes = maxFrameBytes;
    this.pacer?.stop();
    this.pacer = rate && new FramePacer(rate.perSec, rate.burst, (bytes) => this.write(bytes));
    if (this.connectTimer !== undefined) clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
    this.welcomed = true;
    this.openedAt = Date.now();
    this.heartbeat?.stop();
    this.heartbeat = new Heartbeat({
      intervalMs: heartbeatMs,
      // Bare (no `ts`): the SDK does not time pongs, and a gateway answers bare pings without decoding them.
      ping: () => this.transmit({ type: 'ping' }),
      onIdle: () => this.abandon(CLIENT_IDLE_CLOSE, 'no frame from the server'),
      random: this.random,
    });
  }

  /**
   * Puts a frame on the wire, or in line for it when over the gateway's rate (see FramePacer); false when it cannot
   * go out (not welcomed yet, or the socket is closing). A frame in line is lost with the connection, as one in the
   * socket's buffer is: what must arrive is sent again on the next one.
   */
  transmit(frame: ClientFrame): boolean {
    if (!this.welcomed || this.ended || this.ws.readyState !== SOCKET_OPEN) return false;
    const bytes = encodeFrame(frame);
    // The gateway would answer frame_too_large and close (1009); re-sent after every reconnect, such a frame would
    // close every connection. The caller refuses it instead.
    if (bytes.byteLength > this.maxFrameBytes) throw new ImError(ErrorCode.FRAME_TOO_LARGE, `a ${frame.type} frame of ${bytes.byteLength} bytes is over this server's ${this.maxFrameBytes}`);
    return this.pacer ? this.pacer.offer(frame, bytes) : this.write(bytes);
  }

  private write(bytes: Uint8Array): boolean {
    if (this.ended || this.ws.readyState !== SOCKET_OPEN) return false;
    try {
      this.ws.send(bytes);
    } catch {
      return false; // the close event follows
    }
    this.heartbeat?.sent();
    return true;
  }

  /** A frame came from the server: it is alive. */
  heard(): void {
    this.heartbeat?.heard();
  }

  /** After a `redirect` the server closes; if it does not within `ms`, leave anyway. */
  leaveAfter(ms: number): void {
    this.redirectTimer ??= setTimeout(() => this.abandon(CloseCode.REDIRECT, 'following a redirect'), ms);
  }

  /** Gives up on the socket without waiting for its close handshake (a dead peer never answers it); told as `closed`. */
  abandon(code: number, reason: string): void {
    if (this.ended) return;
    closeQuietly(this.ws, code, reason);
    this.end(code, reason);
  }

  /** Closes for good, told to nobody (the client is closing itself). */
  close(code: number, reason: string): void {
    if (!this.ended) closeQuietly(this.ws, code, reason);
    this.stop();
  }

  private end(code: number, reason: string): void {
    if (this.ended) return;
    const unsentAcks = this.stop();
    this.hooks.closed(code, reason);
    if (unsentAcks.length > 0) this.hooks.unsentAcks?.(unsentAcks);
  }

  /** Stops everything; returns the conversations whose waiting ack was dropped. */
  private stop(): string[] {
    this.ended = true;
    const unsentAcks = this.pacer?.stop() ?? [];
    this.heartbeat?.stop();
    this.heartbeat = undefined;
    for (const t of [this.connectTimer, this.redirectTimer]) if (t !== undefined) clearTimeout(t);
    this.connectTimer = this.redirectTimer = undefined;
    return unsentAcks;
  }
}
