/** Fan-outs kept for a replay after a NATS reconnect: this long back, and at most this many. */
export const DEFAULT_RECENT_FANOUT_MS = 2_000;
export const DEFAULT_RECENT_FANOUT_MAX = 20_000;

/** A fan-out that can be made again. */
export interface Redoable {
  redo(): void;
}

/**
 * The node's last few seconds of message fan-outs. Deliveries are fire-and-forget publishes; when the node's
 * NATS connection drops, what sat in the dead socket is gone, and a member whose conversation then stays quiet
 * would not see the gap until its next reconnect. Replaying the recent fan-outs after the reconnect closes that
 * window; repeats are harmless (clients drop a seq they hold, connectors' acks are cumulative).
 *
 * Entries also expire on a timer: each one holds its chatter (and that chatter's dedup windows), so a node that
 * goes quiet must not keep its last busy seconds' actors alive after they deactivated.
 */
export class RecentFanout {
  /** The fan-outs, oldest first, from `head` on; when each was recorded, at the same index (unboxed doubles). */
  private ring: Redoable[] = [];
  private at: number[] = [];
  private head = 0;
  private expiry: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly windowMs = DEFAULT_RECENT_FANOUT_MS,
    private readonly max = DEFAULT_RECENT_FANOUT_MAX,
  ) {}

  /** Remembers one fan-out, to repeat it. */
  record(fanOut: Redoable, now = Date.now()): void {
    this.ring.push(fanOut);
    this.at.push(now);
    const cutoff = now - this.windowMs;
    while (this.head < this.ring.length && (this.ring.length - this.head > this.max || this.at[this.head]! < cutoff)) this.head++;
    // Dropped entries are cut off in chunks, so recording stays O(1) amortised.
    if (this.head > 1024 && this.head * 2 > this.ring.length) this.compact(now);
    this.expiry ??= this.scheduleExpiry();
  }

  /** Fan-outs held: those inside the window, and for up to half a window more those past it. */
  get size(): number {
    return this.ring.length - this.head;
  }

  /** Repeats every fan-out of the last window, oldest first; returns how many. */
  replay(now = Date.now()): number {
    this.compact(now);
    const fanOuts = this.ring.slice(this.head);
    for (const f of fanOuts) f.redo();
    return fanOuts.length;
  }

  /** Forgets everything (and stops the expiry timer). */
  clear(): void {
    this.ring = [];
    this.at = [];
    this.head = 0;
    if (this.expiry !== undefined) clearTimeout(this.expiry);
    this.expiry = undefined;
  }

  /**
   * Fires just after the oldest entry leaves the window, but never sooner than half a window from now: on a busy
   * node the next-oldest entry expires a millisecond later, and waking for each one cost a timer and a copy of the
   * ring every millisecond. So an entry may be held up to half a window past it (a replay still takes only the
   * window); a busy node pays about two wake-ups per window, an idle one none.
   */
  private scheduleExpiry(): ReturnType<typeof setTimeout> {
    const oldest = this.at[this.head]!;
    const t = setTimeout(() => {
      this.expiry = undefined;
      this.compact(Date.now());
      if (this.size > 0) this.expiry = this.scheduleExpiry();
    }, Math.max(this.windowMs / 2, oldest + this.windowMs + 1 - Date.now()));
    t.unref?.();
    return t;
  }

  private compact(now: number): void {
    const cutoff = now - this.windowMs;
    let i = this.head;
    while (i < this.ring.length && this.at[i]! < cutoff) i++;
    this.ring = this.ring.slice(i);
    this.at = this.at.slice(i);
    this.head = 0;
  }
}
