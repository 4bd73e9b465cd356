/**
 * Runs an async task one at a time. A call while it runs shares that run's promise and makes it go once more
 * right after (what prompted the call may have come too late for the run under way); several such calls make
 * one more run, not several. Nothing runs once `stopped()` says so.
 */
export class CoalescedRunner {
  private running: Promise<void> | undefined;
  private again = false;

  constructor(
    private readonly task: () => Promise<void>,
    private readonly stopped: () => boolean,
  ) {}

  /** Runs the task now, or once more after the run under way; resolves when that is done. */
  run(): Promise<void> {
    if (this.stopped()) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    let run: Promise<void> | undefined;
    let ended = false;
    run = (async () => {
      try {
        do {
          this.again = false;
          await this.task();
        } while (this.again && !this.stopped());
      } finally {
        // In the same turn as the last check of `again`: cleared by a callback a few microtasks later, a call in
        // between would set `again` for a run that had ended, and nothing would run for it.
        ended = true;
        if (this.running === run) this.running = undefined;
      }
    })();
    if (!ended) this.running = run;
    return run;
  }

  /** The run under way, if any (to wait for it before closing). */
  get current(): Promise<void> | undefined {
    return this.running;
  }
}
