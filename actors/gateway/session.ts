import type { WebSocket } from 'uWebSockets.js';
import { encodeFrame } from '../../protocol/codec.js';
import type { ServerFrame } from '../../protocol/frames.js';
import { RateLimiter } from './rate-limiter.js';

/** What the upgrade hands to the socket: who this is, from the verified token. */
export interface SessionData {
  uid: string;
  did: string;
  /** Token expiry, seconds since the epoch. */
  exp: number;
  /** The client puts together a list sent in pages (`pages=1` in its URL). */
  pages: boolean;
  /** When the token was issued (0 when it does not say): what a revocation is compared with. */
  iat: number;
  session?: Session;
}

// What `writeCorked` writes. cork() calls it synchronously, so one module-level pair serves every session: a
// closure per flush would be garbage on every turn that sends, and a ping's pong is all an idle socket gets.
let corkWs: WebSocket<SessionData> | undefined;
let corkOut: Uint8Array | Uint8Array[] | undefined;
let corkLimit = Infinity;
/** Whether `writeCorked` left frames unsent at the limit: the session must then close, whatever uWS holds after. */
let corkCut = false;

/** uWS's `send` result for bytes it buffered (the socket would not take them all now). */
const SEND_BACKPRESSURE = 0;

function writeCorked(): void {
  const ws = corkWs!;
  const out = corkOut!;
  if (out instanceof Uint8Array) ws.send(out, true);
  else
    for (const b of out) {
      // Past the limit the session is closed (4013) right after this flush and the client resyncs: the rest would
      // only grow the buffer its close frame waits behind.
      if (ws.send(b, true) === SEND_BACKPRESSURE && ws.getBufferedAmount() >= corkLimit) {
        corkCut = true;
        return;
      }
    }
}

/** Session state changes in one place: open → closing → closed. */
export type SessionState = 'open' | 'closing' | 'closed';

/**
 * One client connection on this gateway. Outgoing frames are queued and written in one corked batch per
 * turn of the event loop (the gateway flushes every dirty session at once), which is what lets uWS reach
 * its relay figures; a session whose unsent bytes pass the limit is closed rather than buffered without end.
 */
export class Session {
  state: SessionState = 'open';
  lastHeard = Date.now();
  readonly limiter: RateLimiter;
  /**
   * Large conversations whose subject this session takes, each with the attach generation current when it was
   * bound (made on first bind: most sessions have none).
   */
  bound: Map<string, number> | undefined;
  /** Bound large conversations whose messages up to a seq are not this session's (a newcomer's; ConvBinding.joined). */
  hiddenUpTo: Map<string, number> | undefined;
  /** Large conversations the user left, with the attach generation current then (ConvBinding.left). */
  unbound: Map<string, number> | undefined;
  /** When this session tells its connector where it is again (a refresh), epoch ms. */
  refreshAt = 0;
  /** Bumped by every attach: an older attach still retrying stops. */
  attachGen = 0;
  /** An attach is under way (a refresh then waits for the next round). */
  attaching = false;
  /** When the last rate_limited error went out (one per second at most). */
  lastRateError = 0;
  /** Bytes of one page of a long list for this client; 0: it takes no pages (an older client), lists go whole. */
  listPageBytes = 0;
  /** Frames waiting for this turn's flush: absent while there are none (most sockets are idle), one frame as itself. */
  private outbox: Uint8Array | Uint8Array[] | undefined;
  /** History pages waiting for room on this socket (client-frames.ts). */
  pullsWaiting = 0;
  /** Pulls under way for this socket, read or waiting (client-frames.ts, MAX_PULLS_IN_FLIGHT). */
  pullsInFlight = 0;
  /** Syncs under way for this socket, read or being paged (client-frames.ts, MAX_SYNCS_IN_FLIGHT). */
  syncsInFlight = 0;
  /** `members`, `reactors`, `hides`, `hide` and `clear` under way for this socket (client-frames.ts, MAX_READS_IN_FLIGHT). */
  readsInFlight = 0;

  constructor(
    readonly sid: number,
    readonly ws: WebSocket<SessionData>,
    readonly uid: string,
    readonly did: string,
    /** Token expiry, seconds since the epoch; a `refresh` moves it. */
    public exp: number,
    /** When the session's token was issued (what revocations are compared with); a `refresh` moves it. */
    public iat: number,
    rate: { perSec: number; burst: number },
    /** The limiter of the device's session this one replaces: reconnecting in a loop must not buy a fresh burst each time. */
    inherited?: RateLimiter,
  ) {
    this.limiter = inherited ?? new RateLimiter(rate.perSec, rate.burst);
  }

  /** Bytes queued for this turn's flush and bytes uWS holds: what the reader has not taken yet. */
  unsent(): number {
    if (this.state !== 'open') return 0;
    const out = this.outbox;
    let queued = 0;
    if (out instanceof Uint8Array) queued = out.byteLength;
    else if (out !== undefined) for (const b of out) queued += b.byteLength;
    return queued + this.ws.getBufferedAmount();
  }

  /** Queues a frame; true when the session was idle until now (the caller marks it dirty). */
  queue(frame: ServerFrame): boolean {
    return this.queueBytes(encodeFrame(frame));
  }

  /** Queues pre-encoded bytes (a frame published once for many sessions). */
  queueBytes(bytes: Uint8Array): boolean {
    if (this.state !== 'open') return false;
    const out = this.outbox;
    if (out === undefined) {
      this.outbox = bytes;
      return true;
    }
    if (out instanceof Uint8Array) this.outbox = [out, bytes];
    else out.push(bytes);
    return false;
  }

  /**
   * Writes what is queued in one corked batch, stopping once uWS buffers `limit` bytes for the socket (the caller
   * then closes it); returns the bytes uWS still buffers, or Infinity when it stopped with frames unsent: the uncork
   * may drain some of the buffer again, and a session that lost frames must close (and resync) all the same.
   */
  flush(limit = Infinity): number {
    const out = this.outbox;
    if (this.state !== 'open' || out === undefined) return 0;
    this.outbox = undefined;
    corkWs = this.ws;
    corkOut = out;
    corkLimit = limit;
    corkCut = false;
    try {
      this.ws.cork(writeCorked);
    } finally {
      corkWs = undefined;
      corkOut = undefined;
    }
    return corkCut ? Infinity : this.ws.getBufferedAmount();
  }

  /** Closes with a code (state changes here only); the socket's close event finishes the job. */
  end(code: number, reason: string): void {
    if (this.state !== 'open') return;
    try {
      // What was queued (an error or redirect frame explaining the close) goes out first.
      this.flush();
    } catch {
      // the peer is gone already
    }
    this.state = 'closing';
    this.outbox = undefined;
    try {
      this.ws.end(code, reason);
    } catch {
      // the peer is gone already
    }
  }

  /** Marks the session closed (from the socket's close event). */
  closed(): void {
    this.state = 'closed';
    this.outbox = undefined;
  }
}
