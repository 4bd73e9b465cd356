import { Fifo } from './fifo.js';

/**
 * At most `limit` holders at once; the rest wait in arrival order. Waiting costs no timer and no call, which is
 * the point: work queued further down (an actor call, then a database query, each with a deadline) times out
 * when too much is started at once, and every retry of it adds to the pile it is stuck in.
 */
export class ConcurrencyGate {
  private running = 0;
  /** Waiters in arrival order. */
  private readonly waiting = new Fifo<() => void>();

  constructor(private readonly limit: number) {
    if (!(limit >= 1)) throw new RangeError(`a gate needs a limit of at least 1, got ${limit}`);
  }

  /** Holders now. */
  get active(): number {
    return this.running;
  }

  /** Waiting for a place now. */
  get queued(): number {
    return this.waiting.length;
  }

  /** Resolves once the caller holds a place; pair every resolved `enter()` with one `leave()`. */
  enter(): Promise<void> {
    if (this.running < this.limit) {
      this.running++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Gives the place up, straight to the longest waiter if there is one. */
  leave(): void {
    const next = this.waiting.shift();
    if (next !== undefined) return next();
    this.running--;
  }

  /** Runs `fn` while holding a place. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    await this.enter();
    try {
      return await fn();
    } finally {
      this.leave();
    }
  }
}
