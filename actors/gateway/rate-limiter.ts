import { TokenBucket } from '../../protocol/token-bucket.js';

/**
 * A token bucket per connection: `ratePerSec` sustained, bursts up to `burst`. It also remembers since when the
 * connection has been refused without a second's break, so the gateway can close one that never slows down.
 * (It extends the bucket rather than holding one: an idle connection's memory counts per object.)
 */
export class RateLimiter extends TokenBucket {
  /** When the current run of refusals began: a run ends after a full second without a refusal. */
  overSince = 0;
  private lastRefused = 0;

  constructor(ratePerSec: number, burst: number, now = Date.now()) {
    super(ratePerSec, burst, now);
  }

  /** Takes one token; false when the bucket is empty. */
  override take(now = Date.now()): boolean {
    if (super.take(now)) return true;
    // A flooder still gets a frame through whenever a token drips in; that does not end its run.
    if (this.overSince === 0 || now - this.lastRefused > 1000) this.overSince = now;
    this.lastRefused = now;
    return false;
  }
}
