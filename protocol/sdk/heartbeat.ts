import { HEARTBEAT_JITTER, IDLE_HEARTBEATS } from '../limits.js';

export interface HeartbeatOptions {
  /** `welcome.heartbeatMs`. */
  intervalMs: number;
  /** Sends a `ping`. */
  ping: () => void;
  /** Nothing heard for IDLE_HEARTBEATS intervals: the connection is dead. */
  onIdle: () => void;
  random?: () => number;
}

/**
 * The client side of README §6: a ping when, for a jittered interval, nothing else was sent or nothing was heard,
 * and a dead-connection verdict when the server was silent for IDLE_HEARTBEATS intervals. Frames sent alone do not
 * put the ping off: the server answers no `ack` or `typing`, so a client that only sent those (typing for a minute
 * in a quiet conversation) heard nothing and gave up a live connection.
 */
export class Heartbeat {
  private readonly opts: HeartbeatOptions;
  private readonly random: () => number;
  private lastSentAt = Date.now();
  private lastHeardAt = Date.now();
  /** When the last ping went: while the server is silent, pings go once an interval, not back to back. */
  private lastPingAt = 0;
  private pingTimer: ReturnType<typeof setTimeout> | undefined;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;

  constructor(opts: HeartbeatOptions) {
    this.opts = opts;
    this.random = opts.random ?? Math.random;
    this.schedulePing();
    this.scheduleIdleCheck(this.idleMs());
  }

  /** A frame went out: the next ping can wait. */
  sent(): void {
    this.lastSentAt = Date.now();
  }

  /** A frame came in: the connection is alive. */
  heard(): void {
    this.lastHeardAt = Date.now();
  }

  /** Clears both timers. */
  stop(): void {
    this.stopped = true;
    if (this.pingTimer !== undefined) clearTimeout(this.pingTimer);
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    this.pingTimer = undefined;
    this.idleTimer = undefined;
  }

  private idleMs(): number {
    return this.opts.intervalMs * IDLE_HEARTBEATS;
  }

  private schedulePing(): void {
    // Jitter every interval so that clients reconnected by one wave do not ping in step for ever.
    const due = this.opts.intervalMs * (1 - HEARTBEAT_JITTER + 2 * HEARTBEAT_JITTER * this.random());
    this.pingTimer = setTimeout(() => {
      this.pingTimer = undefined;
      if (this.stopped) return;
      if (Date.now() - this.quietSince() >= due) {
        this.lastPingAt = Date.now();
        this.opts.ping();
      }
      if (!this.stopped) this.schedulePing();
    }, Math.max(0, this.quietSince() + due - Date.now()));
  }

  /** Since when one side has been quiet: the older of the last frame sent and the last heard, but not before the last ping. */
  private quietSince(): number {
    return Math.max(this.lastPingAt, Math.min(this.lastSentAt, this.lastHeardAt));
  }

  private scheduleIdleCheck(wait: number): void {
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (this.stopped) return;
      const silent = Date.now() - this.lastHeardAt;
      if (silent >= this.idleMs()) {
        this.stop();
        this.opts.onIdle();
        return;
      }
      this.scheduleIdleCheck(this.idleMs() - silent);
    }, wait);
  }
}
