/**
 * A queued unit of work and whoever takes its outcome. Subclasses hold what the work needs as fields, so one
 * operation costs one object: closures for the work and its outcome, and an array for the queue, were the largest
 * share of a busy node's allocation (a fresh array for nearly every message, since most mailboxes drain at once).
 */
export abstract class MailboxJob {
  /** The job queued after this one: the queue is a list through the jobs themselves. */
  next: MailboxJob | undefined = undefined;
  /** Does the work; a returned promise holds the mailbox until it settles. */
  abstract run(): unknown;
  /** Takes the work's value. */
  abstract done(value: unknown): void;
  /** Takes a throw or a rejection of the work, or the mailbox's refusal of it. */
  abstract failed(err: unknown): void;
}

/** A job given as a function, with a promise for its outcome: for work off the per-message path. */
class FunctionJob extends MailboxJob {
  constructor(
    private readonly fn: () => unknown,
    private readonly resolve: (value: unknown) => void,
    private readonly reject: (err: unknown) => void,
  ) {
    super();
  }

  run(): unknown {
    return this.fn();
  }

  done(value: unknown): void {
    this.resolve(value);
  }

  failed(err: unknown): void {
    this.reject(err);
  }
}

/**
 * Runs jobs one at a time in arrival order. A job may return a promise (the next job waits for it) or a plain
 * value (the next job runs at once, in the same turn: most actor operations are synchronous, and a promise and
 * a microtask per message were a measurable share of a node's CPU). Nothing is allocated but the jobs and no
 * timer is kept, so an idle mailbox costs only its object: there is one per online user.
 */
export class Mailbox {
  private head: MailboxJob | undefined;
  private tail: MailboxJob | undefined;
  /** Jobs queued, not counting the running one. */
  private queued = 0;
  private running = false;
  private idleWaiters: (() => void)[] | undefined;

  /** Number of jobs waiting or running. */
  get size(): number {
    return this.queued + (this.running ? 1 : 0);
  }

  /** Queues `job`; it runs once every earlier job has finished. */
  push(job: MailboxJob): void {
    if (this.tail === undefined) this.head = job;
    else this.tail.next = job;
    this.tail = job;
    this.queued++;
    if (!this.running) this.drain();
  }

  /** Queues `run`; resolves with its result once every earlier job has finished. */
  post<T>(run: () => T | Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => this.push(new FunctionJob(run, resolve as (v: unknown) => void, reject)));
  }

  /** Resolves when the mailbox has nothing queued or running. */
  idle(): Promise<void> {
    if (this.size === 0) return Promise.resolve();
    return new Promise((resolve) => (this.idleWaiters ??= []).push(resolve));
  }

  /** Refuses every queued job (not the running one) with `err`. */
  rejectPending(err: unknown): void {
    let job = this.head;
    this.head = this.tail = undefined;
    this.queued = 0;
    while (job !== undefined) {
      const next = job.next;
      job.next = undefined;
      job.failed(err);
      job = next;
    }
  }

  /** Runs queued jobs until one returns a promise (then `resume` carries on when it settles) or none is left. */
  private drain(): void {
    this.running = true;
    for (let job = this.take(); job !== undefined; job = this.take()) {
      try {
        const value = job.run();
        if (value instanceof Promise) {
          const running = job;
          value.then(
            (v: unknown) => this.resume(running, v, false),
            (err: unknown) => this.resume(running, err, true),
          );
          return;
        }
        job.done(value);
      } catch (err) {
        job.failed(err);
      }
    }
    this.running = false;
    const waiters = this.idleWaiters;
    this.idleWaiters = undefined;
    if (waiters) for (const w of waiters) w();
  }

  private resume(job: MailboxJob, outcome: unknown, failed: boolean): void {
    try {
      if (failed) job.failed(outcome);
      else job.done(outcome);
    } catch (err) {
      if (!failed) job.failed(err);
    }
    this.drain();
  }

  private take(): MailboxJob | undefined {
    const job = this.head;
    if (job === undefined) return undefined;
    this.head = job.next;
    if (this.head === undefined) this.tail = undefined;
    job.next = undefined;
    this.queued--;
    return job;
  }
}
