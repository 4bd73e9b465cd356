import type { ClientFrame } from '../frames.js';
import { TokenBucket } from '../token-bucket.js';

/**
 * The share of the gateway's rate and burst (`welcome.rate`, `welcome.burst`) a client allows itself: frames sent
 * evenly can still arrive bunched, and the gateway's bucket counts arrivals.
 */
export const PACE_RATE_SHARE = 0.9;
export const PACE_BURST_SHARE = 0.5;

const KEY_SEP = '\u0000';
/** Entries taken from the head of the sends before the rest moves down: a backlog that never empties keeps no more. */
const COMPACT_AFTER = 1024;
const ACK_KEY = `ack${KEY_SEP}`;
/**
 * Frames of the first kind (acks, read marks, typing, requests, pings) that go in a row while a send or leave waits.
 * Past it the next send goes: acks alone can fill the pace (one per busy conversation every 50 ms), and the user's
 * own message must not wait for a quiet moment. Acks are cumulative: one that waits a frame more loses nothing.
 */
export const MAX_URGENT_IN_A_ROW = 2;

/** A frame that goes before the sends: a request, a ping, or a cumulative frame (`ack`, `read`, `typing`). */
interface Urgent {
  bytes: Uint8Array;
  /** A cumulative frame's key, and the seq it carries (the newest one stands for all). */
  key?: string;
  seq?: number;
}

/** A send or a leave, in cid order. */
interface Ordered {
  bytes: Uint8Array;
  /** A send's cid; a leave's just past the highest cid offered before it (it must not overtake those sends). */
  order: number;
  /** A send's cid. */
  cid?: number;
}

/**
 * Keeps one connection under the gateway's rate limit. Past it the gateway drops frames with no answer of their own
 * (one `rate_limited` a second says so), and closes a connection that stays over it (4008): a client re-sending a
 * long outbound queue after a reconnect, or an app sending in a loop, would lose frames and then the connection, over
 * and over. Frames over the pace wait here and go out as the bucket fills:
 * - acks, read marks, typing, requests and pings first, in the order they came (a request waits for its answer
 *   against a deadline), but at most MAX_URGENT_IN_A_ROW of them while a send waits; a waiting ack, read mark or
 *   typing of a conversation is replaced by a newer one (they are cumulative), so they never pile up;
 * - then sends and leaves in cid order: a send the outbound queue offers again takes its place by cid (and its newest
 *   bytes) rather than going behind later sends, which would draw `out_of_order` for all of those; a `leave` keeps
 *   its place after the sends offered before it, so that "send, then leave" is not refused `not_member`.
 */
export class FramePacer {
  private readonly bucket: TokenBucket;
  /** Few (cumulative frames are merged): a plain queue. */
  private urgent: Urgent[] = [];
  /** Waiting cumulative frames by key (type and conversation). */
  private readonly latest = new Map<string, Urgent>();
  private ordered: Ordered[] = [];
  private orderedHead = 0;
  /** An entry went in out of order: sorted before the next one is taken. */
  private unsorted = false;
  /** Waiting sends by cid. */
  private readonly sends = new Map<number, Ordered>();
  private maxCid = 0;
  /** Frames of the first kind written one after another by next(): sends get their turn past MAX_URGENT_IN_A_ROW. */
  private urgentInARow = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** Conversations whose ack a failed write dropped (the socket was closing): handed back by stop(). */
  private unsentAcks: string[] = [];

  constructor(
    ratePerSec: number,
    burst: number,
    /** Puts bytes on the wire; false when the socket is gone (what waits is then dropped). */
    private readonly write: (bytes: Uint8Array) => boolean,
  ) {
    this.bucket = new TokenBucket(ratePerSec * PACE_RATE_SHARE, Math.max(1, Math.floor(burst * PACE_BURST_SHARE)));
  }

  /** Frames waiting for their turn. */
  get waiting(): number {
    return this.urgent.length + this.ordered.length - this.orderedHead;
  }

  /** Writes `frame` (encoded: `bytes`) now if nothing waits and the pace allows, else queues it; false when the write failed. */
  offer(frame: ClientFrame, bytes: Uint8Array): boolean {
    if (frame.type === 'send') this.maxCid = Math.max(this.maxCid, frame.cid);
    if (this.waiting === 0 && this.bucket.take()) return this.write(bytes);
    if (frame.type === 'send') this.queueSend(frame.cid, bytes);
    else if (frame.type === 'leave') this.queueOrdered({ bytes, order: this.maxCid + 0.5 });
    else if (frame.type === 'ack' || frame.type === 'read' || frame.type === 'typing') this.queueLatest(`${frame.type}${KEY_SEP}${frame.conv}`, frame.type === 'typing' ? 0 : frame.seq, bytes);
    else this.urgent.push({ bytes });
    this.arm();
    return true;
  }

  /**
   * Drops what waits and stops the timer (the connection ended: the client re-sends what matters on the next one).
   * Returns the conversations whose ack was dropped: the ack batcher took them as sent.
   */
  stop(): string[] {
    const acks = this.unsentAcks;
    this.unsentAcks = [];
    this.drop(acks);
    return acks;
  }

  /** Drops what waits and stops the timer; the conversations of the acks among it go to `acks`. */
  private drop(acks: string[]): void {
    for (const key of this.latest.keys()) if (key.startsWith(ACK_KEY)) acks.push(key.slice(ACK_KEY.length));
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.urgent = [];
    this.ordered = [];
    this.orderedHead = 0;
    this.latest.clear();
    this.sends.clear();
  }

  private queueSend(cid: number, bytes: Uint8Array): void {
    const w = this.sends.get(cid);
    if (w !== undefined) w.bytes = bytes; // its `after` may have been rewritten since
    else this.sends.set(cid, this.queueOrdered({ bytes, order: cid, cid }));
  }

  private queueOrdered(w: Ordered): Ordered {
    const last = this.ordered.length > this.orderedHead ? this.ordered[this.ordered.length - 1]! : undefined;
    if (last !== undefined && w.order < last.order) this.unsorted = true;
    this.ordered.push(w);
    return w;
  }

  private queueLatest(key: string, seq: number, bytes: Uint8Array): void {
    const w = this.latest.get(key);
    if (w !== undefined) {
      if (seq >= w.seq!) (w.bytes = bytes), (w.seq = seq);
      return;
    }
    const fresh: Urgent = { bytes, key, seq };
    this.urgent.push(fresh);
    this.latest.set(key, fresh);
  }

  private next(): Urgent | Ordered {
    const sendsWait = this.ordered.length > this.orderedHead;
    if (this.urgent.length > 0 && !(sendsWait && this.urgentInARow >= MAX_URGENT_IN_A_ROW)) {
      const u = this.urgent.shift()!;
      if (u.key !== undefined) this.latest.delete(u.key);
      this.urgentInARow++;
      return u;
    }
    this.urgentInARow = 0;
    if (this.unsorted) {
      // Stable: a leave stays after the sends of its order.
      this.ordered = this.ordered.slice(this.orderedHead).sort((a, b) => a.order - b.order);
      this.orderedHead = 0;
      this.unsorted = false;
    }
    const w = this.ordered[this.orderedHead++]!;
    if (w.cid !== undefined) this.sends.delete(w.cid);
    if (this.orderedHead === this.ordered.length) (this.ordered = []), (this.orderedHead = 0);
    // A bulk sender past the pace keeps a backlog for good: without this, every frame it wrote would stay referenced.
    else if (this.orderedHead >= COMPACT_AFTER && this.orderedHead * 2 >= this.ordered.length) (this.ordered = this.ordered.slice(this.orderedHead)), (this.orderedHead = 0);
    return w;
  }

  private drain(): void {
    this.timer = undefined;
    while (this.waiting > 0 && this.bucket.take()) {
      const w = this.next();
      if (this.write(w.bytes)) continue;
      // The socket is closing, its close event not in yet: what waits is dropped, but the acks among it (this one
      // too) are handed back at stop(), or the ack batcher, which took them as sent, would never send them again.
      if ('key' in w && w.key?.startsWith(ACK_KEY) === true) this.unsentAcks.push(w.key.slice(ACK_KEY.length));
      return this.drop(this.unsentAcks);
    }
    this.arm();
  }

  private arm(): void {
    if (this.timer === undefined && this.waiting > 0) this.timer = setTimeout(() => this.drain(), this.bucket.waitMs());
  }
}
