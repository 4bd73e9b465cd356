/** A queued unit of work with whatever waits for its outcome. */
interface Job {
  run: () => unknown;
  resolve: ((value: unknown) => void) | undefined;
  reject: (err: unknown) => void;
}

const ignore = (): void => undefined;

/**
 * Runs jobs one at a time in arrival order. A job may return a promise (the next job waits for it) or a plain
 * value (the next job runs at once, in the same turn: most actor operations are synchronous, and a promise and
 * a microtask per message were a measurable share of a node's CPU). The loop is started lazily and needs no
 * timer, so an idle mailbox costs only its object.
 */
export class Mailbox {
  /** Made on the first job and dropped when drained: most actors sit idle, one mailbox per online user. */
  private queue: Job[] | undefined;
  private head = 0;
  private running = false;
  private idleWaiters: (() => void)[] | undefined;

  /** Number of jobs waiting or running. */
  get size(): number {
    return (this.queue?.length ?? 0) - this.head + (this.running ? 1 : 0);
  }

  /** Queues `run`; resolves with its result once every earlier job has finished. */
  post<T>(run: () => T | Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      (this.queue ??= []).push({ run, resolve: resolve as (v: unknown) => void, reject });
      if (!this.running) void this.loop();
    });
  }

  /** Queues `run` when nobody waits for its result (a tell); `onError` gets a throw or a rejection. */
  enqueue(run: () => unknown, onError: (err: unknown) => void = ignore): void {
    (this.queue ??= []).push({ run, resolve: undefined, reject: onError });
    if (!this.running) void this.loop();
  }

  /** Resolves when the mailbox has nothing queued or running. */
  idle(): Promise<void> {
    if (this.size === 0) return Promise.resolve();
    return new Promise((resolve) => (this.idleWaiters ??= []).push(resolve));
  }

  /** Rejects every queued job (not the running one) with `err`. */
  rejectPending(err: unknown): void {
    const pending = this.queue?.splice(this.head) ?? [];
    if (this.queue) this.queue.length = 0;
    this.head = 0;
    for (const job of pending) job.reject(err);
  }

  private async loop(): Promise<void> {
    this.running = true;
    const queue = this.queue!;
    while (this.head < queue.length) {
      const job = queue[this.head++]!;
      if (this.head > 1024 && this.head * 2 > queue.length) {
        queue.splice(0, this.head);
        this.head = 0;
      }
      try {
        let value = job.run();
        if (value instanceof Promise) value = await value;
        job.resolve?.(value);
      } catch (err) {
        job.reject(err);
      }
    }
    this.queue = undefined;
    this.head = 0;
    this.running = false;
    const waiters = this.idleWaiters;
    this.idleWaiters = undefined;
    if (waiters) for (const w of waiters) w();
  }
}
