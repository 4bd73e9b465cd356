/**
 * A token bucket per connection: `ratePerSec` sustained, `burst` on top. It also remembers since when the
 * connection has been refused without a break, so the gateway can close one that never slows down.
 */
export class RateLimiter {
  private tokens: number;
  private last: number;
  /** When the current run of refusals began; 0 while frames get through. */
  overSince = 0;

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
      this.overSince = 0;
      return true;
    }
    if (this.overSince === 0) this.overSince = now;
    return false;
  }
}
