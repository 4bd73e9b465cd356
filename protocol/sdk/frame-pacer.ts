import type { ClientFrame } from '../frames.js';
import { TokenBucket } from '../token-bucket.js';

/**
 * The share of the gateway's rate and burst (`welcome.rate`, `welcome.burst`) a client allows itself: frames sent
 * evenly can still arrive bunched, and the gateway's bucket counts arrivals.
 */
export const PACE_RATE_SHARE = 0.9;
export const PACE_BURST_SHARE = 0.5;

/**
 * Keeps one connection under the gateway's rate limit. Past it the gateway drops frames with no answer of their own
 * (one `rate_limited` a second says so), and closes a connection that stays over it (4008): a client re-sending a
 * long outbound queue after a reconnect, or an app sending in a loop, would lose frames and then the connection, over
 * and over. Frames over the pace wait here in order, and go out as the bucket fills. Frames other than sends go
 * first: acks, read marks, requests and pings are few, and a request waits for its answer against a deadline. A send
 * still waiting is not queued twice when the outbound queue re-sends it.
 */
export class FramePacer {
  private readonly bucket: TokenBucket;
  private urgent: Uint8Array[] = [];
  /** Sends waiting, by cid, in the order they came. */
  private readonly sends = new Map<number, Uint8Array>();
  private timer: ReturnType<typeof setTimeout> | undefined;

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
    return this.urgent.length + this.sends.size;
  }

  /** Writes `frame` (encoded: `bytes`) now if nothing waits and the pace allows, else queues it; false when the write failed. */
  offer(frame: ClientFrame, bytes: Uint8Array): boolean {
    if (this.waiting === 0 && this.bucket.take()) return this.write(bytes);
    if (frame.type === 'send') {
      if (!this.sends.has(frame.cid)) this.sends.set(frame.cid, bytes);
    } else this.urgent.push(bytes);
    this.arm();
    return true;
  }

  /** Drops what waits and stops the timer (the connection ended: the client re-sends what matters on the next one). */
  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.urgent = [];
    this.sends.clear();
  }

  private drain(): void {
    this.timer = undefined;
    while (this.waiting > 0 && this.bucket.take()) {
      if (!this.write(this.urgent.shift() ?? this.nextSend())) return this.stop();
    }
    this.arm();
  }

  private nextSend(): Uint8Array {
    const [cid, bytes] = this.sends.entries().next().value!;
    this.sends.delete(cid);
    return bytes;
  }

  private arm(): void {
    if (this.timer === undefined && this.waiting > 0) this.timer = setTimeout(() => this.drain(), this.bucket.waitMs());
  }
}
