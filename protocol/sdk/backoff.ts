import { DEFAULT_RECONNECT_BASE_MS, DEFAULT_RECONNECT_CAP_MS } from '../limits.js';

/** A connection that lived at least this long resets the backoff: the next failure starts from the base again. */
export const DEFAULT_BACKOFF_RESET_AFTER_MS = 10_000;
/**
 * Attempts that follow a redirect at once, in a row without a connection that lived long enough (resetAfterMs) between
 * them; later ones wait the backoff's delay: two gateways sending the client to each other would otherwise make it
 * bounce at network speed.
 */
export const DEFAULT_IMMEDIATE_REDIRECTS = 3;

export interface BackoffOptions {
  /** Delay ceiling of the first attempt, in ms. */
  baseMs?: number;
  /** Largest delay ceiling, in ms. */
  capMs?: number;
  /** A connection that lived this long (ms) resets the attempt count. */
  resetAfterMs?: number;
  /** Uniform random in [0, 1); injectable for tests. */
  random?: () => number;
}

/**
 * Full-jitter exponential backoff (README §7.4): the n-th delay is uniform in [0, min(cap, base · 2^n)].
 * Full jitter spreads a reconnect wave of many clients over the whole window instead of a few spikes.
 */
export class Backoff {
  private readonly baseMs: number;
  private readonly capMs: number;
  private readonly resetAfterMs: number;
  private readonly random: () => number;
  private attempts = 0;
  private redirects = 0;

  constructor(opts: BackoffOptions = {}) {
    this.baseMs = opts.baseMs ?? DEFAULT_RECONNECT_BASE_MS;
    this.capMs = opts.capMs ?? DEFAULT_RECONNECT_CAP_MS;
    this.resetAfterMs = opts.resetAfterMs ?? DEFAULT_BACKOFF_RESET_AFTER_MS;
    this.random = opts.random ?? Math.random;
  }

  /** Attempts counted since the last reset. */
  get attempt(): number {
    return this.attempts;
  }

  /** The upper bound of the next delay, without consuming an attempt. */
  ceilingMs(): number {
    // 2^attempt overflows to Infinity long after it passed any cap: min() keeps it finite.
    return Math.min(this.capMs, this.baseMs * 2 ** this.attempts);
  }

  /** The delay before the next attempt, in ms; counts the attempt. */
  next(): number {
    const delay = Math.floor(this.random() * this.ceilingMs());
    this.attempts++;
    return delay;
  }

  /** The delay before following a redirect: none for the first DEFAULT_IMMEDIATE_REDIRECTS in a row, then as next(). */
  redirectDelay(): number {
    return ++this.redirects <= DEFAULT_IMMEDIATE_REDIRECTS ? 0 : this.next();
  }

  /** Tells the backoff how long a connection lived: a long enough one resets it. */
  connectionLived(ms: number): void {
    if (ms >= this.resetAfterMs) this.reset();
  }

  /** Starts again from the base. */
  reset(): void {
    this.attempts = 0;
    this.redirects = 0;
  }
}
