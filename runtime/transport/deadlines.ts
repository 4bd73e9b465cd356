/** How often the sweep looks at the clock; call deadlines are honoured to about this precision. */
export const SWEEP_INTERVAL_MS = 10;

/**
 * One timer for every call deadline of a transport instead of a timer per call. It only runs the (linear)
 * expiry pass once the earliest known deadline is reached, so under steady load it costs a clock read per tick.
 */
export class DeadlineSweep {
  private next = Infinity;
  private readonly timer: NodeJS.Timeout;

  /** `expire` settles what is due and returns the earliest deadline still pending (Infinity for none). */
  constructor(
    private readonly expire: () => number,
    intervalMs = SWEEP_INTERVAL_MS,
  ) {
    this.timer = setInterval(() => this.tick(), intervalMs);
    // Deadlines alone must not keep a process alive.
    this.timer.unref();
  }

  /** Notes a new deadline. */
  watch(deadline: number): void {
    if (deadline < this.next) this.next = deadline;
  }

  /** Stops the timer. */
  close(): void {
    clearInterval(this.timer);
  }

  private tick(): void {
    if (Date.now() < this.next) return;
    this.next = this.expire();
  }
}
