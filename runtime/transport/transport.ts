import type { NatsConnection } from 'nats';
import type { ActorTell } from '../../protocol/envelopes.js';
import { ErrorCode, ImError } from '../../protocol/errors.js';
import type { Logger } from '../logger.js';
import { Batcher } from './batcher.js';
import { DeadlineSweep } from './deadlines.js';
import { encodeCallsWithin, encodeTellsWithin } from './encode.js';
import { LocalSubjects } from './local.js';
import { NotServedError } from './not-served.js';
import { settleFromReplies } from './reply-batch.js';
import {
  DEFAULT_CALL_TIMEOUT_MS,
  DEFAULT_DRAIN_TIMEOUT_MS,
  DEFAULT_MAX_BATCH_BYTES,
  DEFAULT_MAX_BATCH_ITEMS,
  DEFAULT_MAX_IN_FLIGHT_PER_SUBJECT,
  type TransportOptions,
  type TransportStats,
} from './options.js';
import { backoffDelay, classifyRequestError, DEFAULT_RETRY, type RetryPolicy } from './retry.js';
import { serveSubject, type CallHandler, type ServeHandle, type TellHandler } from './serve.js';

export type { ActorCallIn, CallHandler, ServeHandle, TellHandler } from './serve.js';
export type { RetryPolicy } from './retry.js';
export * from './options.js';
export { DEFAULT_RETRY };

/** What one call asks for. */
export interface CallRequest {
  kind: string;
  key: string;
  op: string;
  payload: unknown;
  /** Overrides the transport's default deadline. */
  timeoutMs?: number;
}

/** A caller's call while it waits for its answer. */
interface PendingCall {
  id: number;
  kind: string;
  key: string;
  op: string;
  payload: unknown;
  deadline: number;
  resolve: (v: unknown) => void;
  reject: (e: ImError) => void;
  settled: boolean;
  /**
   * An earlier send met no responders and no later one has been answered, so running out of time means
   * UNAVAILABLE rather than TIMEOUT (also when the deadline strikes while a re-send is on its way).
   */
  unavailable: boolean;
}

// Ids stay within 31 bits: msgpack keeps them small and they never decode as anything but numbers.
const MAX_ID = 0x7fffffff;

/** The latest deadline of a batch's calls (never before `now`): how long the batch may hold its subject's slot. */
function lastDeadlineOf(calls: readonly PendingCall[], now: number): number {
  let last = now;
  for (const c of calls) if (c.deadline > last) last = c.deadline;
  return last;
}

/**
 * Actor calls over NATS, batched: calls and tells bound for one subject are coalesced into one NATS message
 * per event-loop turn, answered by one reply batch. "No responders" (a shard between owners) is retried with
 * backoff until each call's deadline — the batch was never delivered, so resending is safe. A timeout is not
 * retried: the batch may have been processed; callers with idempotent operations retry themselves.
 *
 * With `maxInFlightPerSubject = 1` (the default) a subject has one batch outstanding at a time, and calls
 * accumulate into the next batch meanwhile: per-subject FIFO holds even across retries, which the chat layer
 * relies on for sender order, and throughput comes from batch size instead of concurrency. The price is that
 * one slow batch delays every later call to that subject; raise the limit only for subjects whose callers do
 * not need order. Tells are not ordered against calls, only against tells to the same subject, and a tell to
 * a subject nobody serves is lost (fire-and-forget).
 */
export class Transport {
  private readonly batcher: Batcher<PendingCall, ActorTell>;
  /** Calls not settled yet; they sit in the batcher's queues or in `sending`. */
  private outstanding = 0;
  /** Batches handed over by the batcher and not yet released (in flight, or backing off). */
  private readonly sending = new Set<PendingCall[]>();
  private readonly serving = new Set<ServeHandle>();
  private readonly local: LocalSubjects;
  private readonly sweep: DeadlineSweep;
  private readonly retryTimers = new Map<NodeJS.Timeout, () => void>();
  private idleWaiters: (() => void)[] = [];
  private nextId = 1;
  private closed = false;
  private readonly maxBytes: number;
  private readonly defaultTimeout: number;
  private readonly retry: RetryPolicy;
  private readonly log: Logger;
  private readonly counters: Omit<TransportStats, 'outstanding'> = {
    callsSent: 0,
    batchesSent: 0,
    tellsSent: 0,
    tellBatchesSent: 0,
    tellsDropped: 0,
    noResponderRetries: 0,
    notServedRetries: 0,
    timeouts: 0,
    unavailable: 0,
    oversizeSplits: 0,
  };

  constructor(
    private readonly nc: NatsConnection,
    opts: TransportOptions,
  ) {
    this.log = opts.log;
    this.local = new LocalSubjects(opts.log);
    this.maxBytes = opts.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES;
    this.defaultTimeout = opts.defaultTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    this.retry = opts.retry ?? DEFAULT_RETRY;
    this.batcher = new Batcher<PendingCall, ActorTell>(
      {
        sendCalls: (s, calls, release) => {
          this.sending.add(calls);
          const done = (): void => {
            this.sending.delete(calls);
            release();
          };
          this.sendCalls(s, calls, done, 0).catch((err: unknown) => {
            // A bug here must not leave callers hanging nor the subject's slot taken.
            this.log.error({ subject: s, err }, 'sending a call batch failed');
            const e = new ImError(ErrorCode.INTERNAL, `sending to ${s} failed: ${(err as Error)?.message}`, { cause: err });
            for (const c of calls) this.settle(c, e);
            done();
          });
        },
        sendTells: (s, tells) => this.sendTells(s, tells),
      },
      {
        maxItems: opts.maxBatchItems ?? DEFAULT_MAX_BATCH_ITEMS,
        maxInFlight: opts.maxInFlightPerSubject ?? DEFAULT_MAX_IN_FLIGHT_PER_SUBJECT,
        flushDelayMs: Math.max(0, opts.flushDelayMs ?? 0),
      },
    );
    this.sweep = new DeadlineSweep(() => this.expire());
  }

  /** Counters since creation. */
  stats(): TransportStats {
    return { ...this.counters, outstanding: this.outstanding };
  }

  /** Calls `op` on actor (kind, key) behind `subject`; resolves with its value or rejects with an ImError (TIMEOUT, UNAVAILABLE, CLOSED or the remote's code). */
  call(subject: string, c: CallRequest): Promise<unknown> {
    if (this.closed || this.nc.isClosed() || this.nc.isDraining()) return Promise.reject(new ImError(ErrorCode.CLOSED, 'transport is closed'));
    const timeoutMs = c.timeoutMs ?? this.defaultTimeout;
    if (!(timeoutMs > 0)) return Promise.reject(new ImError(ErrorCode.TIMEOUT, `${c.kind}/${c.key} ${c.op}: no time left`));
    return new Promise((resolve, reject) => {
      const call: PendingCall = {
        id: this.nextId,
        kind: c.kind,
        key: c.key,
        op: c.op,
        payload: c.payload,
        deadline: Date.now() + timeoutMs,
        resolve,
        reject,
        settled: false,
        unavailable: false,
      };
      this.nextId = this.nextId >= MAX_ID ? 1 : this.nextId + 1;
      this.outstanding++;
      this.sweep.watch(call.deadline);
      this.batcher.addCall(subject, call);
    });
  }

  /** Sends `op` to actor (kind, key) behind `subject` without waiting; coalesced like calls, lost if nobody serves it. */
  tell(subject: string, t: ActorTell): void {
    if (this.closed) {
      this.counters.tellsDropped++;
      return;
    }
    this.batcher.addTell(subject, t);
  }

  /** Serves `subject`: calls go to `handler`, tells to `onTell` (or to `handler`, answers dropped). */
  serve(subject: string, handler: CallHandler, onTell?: TellHandler): ServeHandle {
    if (this.closed) throw new ImError(ErrorCode.CLOSED, 'transport is closed');
    const h = serveSubject(this.nc, subject, handler, onTell, this.log);
    const unlocal = this.local.add(subject, handler, onTell);
    const handle: ServeHandle = {
      subject,
      closed: h.closed,
      // Local senders stop reaching us the moment intake stops, like remote ones.
      stop: (graceMs) => (unlocal(), h.stop(graceMs)),
    };
    this.serving.add(handle);
    void h.closed.then(() => {
      unlocal();
      this.serving.delete(handle);
    });
    return handle;
  }

  /** Sends what is queued, waits (at most `timeoutMs`) for outstanding calls, then stops every served subject. */
  async drain(timeoutMs = DEFAULT_DRAIN_TIMEOUT_MS): Promise<void> {
    this.batcher.flush();
    if (this.outstanding > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([new Promise<void>((r) => this.idleWaiters.push(r)), new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
      clearTimeout(timer);
      if (this.outstanding > 0) this.log.warn({ outstanding: this.outstanding }, 'transport drained with calls still outstanding');
    }
    await Promise.all([...this.serving].map((h) => h.stop()));
  }

  /** Rejects everything outstanding with CLOSED and stops serving; the NATS connection stays the caller's. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.sweep.close();
    const err = new ImError(ErrorCode.CLOSED, 'transport closed');
    for (const c of this.batcher.clear()) this.settle(c, err);
    for (const batch of this.sending) for (const c of batch) this.settle(c, err);
    // Resends waiting on a backoff wake up now, see `closed`, and give their slots back.
    for (const [timer, wake] of this.retryTimers) {
      clearTimeout(timer);
      wake();
    }
    this.retryTimers.clear();
    await Promise.all([...this.serving].map((h) => h.stop(1000)));
  }

  private async sendCalls(subject: string, batch: PendingCall[], release: () => void, attempt: number): Promise<void> {
    if (this.closed) return release();
    const now = Date.now();
    // One pass: drop calls settled while queued, expire the ones out of time, build the wire shape.
    let live: PendingCall[] = [];
    for (const c of batch) {
      if (c.settled) continue;
      if (c.deadline <= now) {
        this.expireOne(c);
        continue;
      }
      live.push(c);
    }
    if (live.length === 0) return release();
    if (this.local.has(subject)) {
      this.counters.batchesSent++;
      this.counters.callsSent += live.length;
      // Like a remote batch at its request timeout, the subject's slot comes back by the batch's last deadline even
      // when a handler never settles; what is unanswered by then gets TIMEOUT here (the batch leaves the sweep's view).
      const again = new Set<PendingCall>();
      const settleLocal = (i: number, err: ImError | undefined, value?: unknown): void => {
        if (err instanceof NotServedError) again.add(live[i]!);
        else this.settle(live[i]!, err, value);
      };
      await this.settledOrDue(this.local.calls(subject, live, settleLocal), lastDeadlineOf(live, now) - now);
      for (const c of live) if (!c.settled && !again.has(c)) this.expireOne(c);
      if (again.size === 0) return release();
      this.counters.notServedRetries++;
      return this.sendAgain(subject, [...again], release, attempt);
    }

    const encoded = encodeCallsWithin(live, now, this.batchLimit());
    for (const f of encoded.failed) this.settle(f.call, f.error);
    if (encoded.rest.length > 0) {
      this.counters.oversizeSplits++;
      this.batcher.requeueFront(subject, encoded.rest);
    }
    if (!encoded.data) return release();
    live = encoded.send;
    const data = encoded.data;

    const lastDeadline = lastDeadlineOf(live, now);
    this.counters.batchesSent++;
    this.counters.callsSent += live.length;
    let replyBytes: Uint8Array;
    try {
      replyBytes = (await this.nc.request(subject, data, { timeout: Math.max(1, lastDeadline - now) })).data;
    } catch (err) {
      const f = classifyRequestError(err, subject, this.nc.isClosed());
      if (!f.retry) {
        // The request's timeout is the batch's last deadline, so a timeout is that deadline passing: settled by the
        // same rule as the sweep (UNAVAILABLE for calls only ever bounced), whichever timer fires first.
        if (f.error.code === ErrorCode.TIMEOUT) for (const c of live) this.expireOne(c);
        else for (const c of live) this.settle(c, f.error);
        return release();
      }
      this.counters.noResponderRetries++;
      return this.sendAgain(subject, live, release, attempt);
    }
    const again = settleFromReplies(subject, live, replyBytes, (c, err, value) => this.settle(c, err, value), this.log);
    if (again.length === 0) return release();
    this.counters.notServedRetries++;
    return this.sendAgain(subject, again, release, attempt);
  }

  /**
   * Sends calls again after a backoff: they reached nobody, or a node that no longer serves their shard, and did
   * not run. The slot stays taken meanwhile, so later calls to this subject cannot overtake them.
   */
  private async sendAgain(subject: string, calls: PendingCall[], release: () => void, attempt: number): Promise<void> {
    let latest = 0;
    for (const c of calls) {
      c.unavailable = true;
      if (!c.settled && c.deadline > latest) latest = c.deadline;
    }
    const wait = Math.min(backoffDelay(this.retry, attempt), latest - Date.now());
    if (wait > 0 && !this.closed) await this.sleep(wait);
    return this.sendCalls(subject, calls, release, attempt + 1);
  }

  private sendTells(subject: string, tells: ActorTell[]): void {
    if (this.closed) {
      this.counters.tellsDropped += tells.length;
      return;
    }
    if (this.local.has(subject)) {
      this.counters.tellBatchesSent++;
      this.counters.tellsSent += tells.length;
      return this.local.tells(subject, tells);
    }
    const { batches, dropped } = encodeTellsWithin(tells, this.batchLimit());
    if (batches.length > 1) this.counters.oversizeSplits++;
    for (const d of dropped) {
      this.counters.tellsDropped++;
      this.log.warn({ subject, op: d.tell.op, reason: d.reason }, 'tell dropped');
    }
    for (let i = 0; i < batches.length; i++) {
      const b = batches[i]!;
      try {
        this.nc.publish(subject, b.data);
        this.counters.tellBatchesSent++;
        this.counters.tellsSent += b.count;
      } catch (err) {
        for (let j = i; j < batches.length; j++) this.counters.tellsDropped += batches[j]!.count;
        // A closing connection loses tells by design; anything else is worth a look.
        if (!this.nc.isClosed() && !this.nc.isDraining()) this.log.warn({ subject, err: (err as Error).message }, 'tell batch not sent');
        return;
      }
    }
  }

  /** The byte limit of one batch: ours, and never over what the server accepts. */
  private batchLimit(): number {
    return Math.min(this.maxBytes, this.nc.info?.max_payload ?? this.maxBytes);
  }

  /** Resolves when `work` does or after `ms`, whichever comes first. */
  private settledOrDue(work: Promise<void>, ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([work, new Promise<void>((r) => (timer = setTimeout(r, Math.max(1, ms))))]).finally(() => clearTimeout(timer));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.retryTimers.delete(timer);
        resolve();
      }, ms);
      this.retryTimers.set(timer, resolve);
    });
  }

  private settle(c: PendingCall, err: ImError | undefined, value?: unknown): void {
    if (c.settled) return;
    c.settled = true;
    this.outstanding--;
    if (err) c.reject(err);
    else c.resolve(value);
    if (this.outstanding === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  private expireOne(c: PendingCall): void {
    if (c.unavailable) {
      this.counters.unavailable++;
      this.settle(c, new ImError(ErrorCode.UNAVAILABLE, `nobody serves ${c.kind}/${c.key} (shard between owners?)`));
    } else {
      this.counters.timeouts++;
      this.settle(c, new ImError(ErrorCode.TIMEOUT, `${c.kind}/${c.key} ${c.op} timed out`));
    }
  }

  /** Settles every call past its deadline; returns the earliest deadline still pending. */
  private expire(): number {
    const now = Date.now();
    let next = Infinity;
    const check = (c: PendingCall): void => {
      if (c.settled) return;
      if (c.deadline <= now) this.expireOne(c);
      else if (c.deadline < next) next = c.deadline;
    };
    this.batcher.forEachQueued(check);
    for (const batch of this.sending) for (const c of batch) check(c);
    return next;
  }
}
