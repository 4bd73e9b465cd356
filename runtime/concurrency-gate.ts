/**
 * At most `limit` holders at once; the rest wait in arrival order. Waiting costs no timer and no call, which is
 * the point: work queued further down (an actor call, then a database query, each with a deadline) times out
 * when too much is started at once, and every retry of it adds to the pile it is stuck in.
 */
export class ConcurrencyGate {
  private running = 0;
  /** Waiters in arrival order, from `head` on (shifting a long array one by one would copy it every time). */
  private waiting: (() => void)[] = [];
  private head = 0;

  constructor(private readonly limit: number) {
    if (!(limit >= 1)) throw new RangeError(`a gate needs a limit of at least 1, got ${limit}`);
  }

  /** Holders now. */
  get active(): number {
    return this.running;
  }

  /** Waiting for a place now. */
  get queued(): number {
    return this.waiting.length - this.head;
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
    if (this.head < this.waiting.length) {
      const next = this.waiting[this.head]!;
      this.waiting[this.head++] = undefined as unknown as () => void;
      if (this.head === this.waiting.length) {
        this.waiting = [];
        this.head = 0;
      } else if (this.head > 1024 && this.head * 2 > this.waiting.length) {
        this.waiting = this.waiting.slice(this.head);
        this.head = 0;
      }
      next();
      return;
    }
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
