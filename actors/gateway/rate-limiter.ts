/**
 * A token bucket per connection: `ratePerSec` sustained, `burst` on top. It also remembers since when the
 * connection has been refused without a second's break, so the gateway can close one that never slows down.
 */
export class RateLimiter {
  private tokens: number;
  private last: number;
  /** When the current run of refusals began: a run ends after a full second without a refusal. */
  overSince = 0;
  private lastRefused = 0;

  constructor(
    private readonly ratePerSec: number,
    private readonly burst: number,
    now = Date.now(),
  ) {
    this.tokens = burst;
    this.last = now;
  }

  /** Takes one token; false when the bucket is empty. */
  take(now = Date.now()): boolean {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.ratePerSec);
    this.last = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    // A flooder still gets a frame through whenever a token drips in; that does not end its run.
    if (this.overSince === 0 || now - this.lastRefused > 1000) this.overSince = now;
    this.lastRefused = now;
    return false;
  }
}
