import { ErrorCode as NatsErrorCode, type NatsConnection, type NatsError } from 'nats';
import { decodeEnvelope, encodeEnvelope, type ActorCall, type ActorTell } from '../../protocol/envelopes.js';
import { ErrorCode, ImError } from '../../protocol/errors.js';
import type { Logger } from '../logger.js';
import { serveSubject, type CallHandler, type ServeHandle, type TellHandler } from './serve.js';

export type { ActorCallIn, ServeHandle } from './serve.js';

export interface TransportOptions {
  log: Logger;
  /** Most calls in one batch. */
  maxBatchItems?: number;
  /** Most encoded bytes in one batch (NATS' default max_payload is 1 MiB). */
  maxBatchBytes?: number;
  /** Batches outstanding per subject. 1 keeps per-subject FIFO even across no-responders retries. */
  maxInFlightPerSubject?: number;
  defaultTimeoutMs?: number;
  retry?: { initialMs: number; maxMs: number };
}

export const DEFAULT_MAX_BATCH_ITEMS = 4096;
export const DEFAULT_MAX_BATCH_BYTES = 512 * 1024;
export const DEFAULT_MAX_IN_FLIGHT_PER_SUBJECT = 1;
export const DEFAULT_CALL_TIMEOUT_MS = 5000;
export const DEFAULT_RETRY = { initialMs: 5, maxMs: 200 } as const;

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
}

interface Lane {
  calls: PendingCall[];
  tells: ActorTell[];
  inFlight: number;
}

/** What the transport has done, for metrics and benchmarks. */
export interface TransportStats {
  callsSent: number;
  batchesSent: number;
  tellsSent: number;
  tellBatchesSent: number;
  noResponderRetries: number;
}

/**
 * Actor calls over NATS, batched: calls and tells bound for one subject are coalesced into one NATS message
 * per event-loop turn, answered by one reply batch. "No responders" (a shard between owners) is retried with
 * backoff until each call's deadline — it was never delivered, so retrying is safe. A timeout is not
 * retried: the batch may have been processed; callers with idempotent operations retry themselves.
 *
 * With `maxInFlightPerSubject = 1` (the default) a subject has one batch outstanding at a time, and calls
 * accumulate into the next batch meanwhile: per-subject FIFO holds even across retries, which the chat layer
 * relies on for sender order, and throughput comes from batch size instead of concurrency.
 */
export class Transport {
  private readonly lanes = new Map<string, Lane>();
  private readonly outstanding = new Map<number, PendingCall>();
  private readonly serving = new Set<ServeHandle>();
  private nextId = 1;
  private flushScheduled = false;
  private closed = false;
  private readonly sweep: NodeJS.Timeout;
  private readonly maxItems: number;
  private readonly maxBytes: number;
  private readonly maxInFlight: number;
  private readonly defaultTimeout: number;
  private readonly retry: { initialMs: number; maxMs: number };
  private readonly counters: TransportStats = { callsSent: 0, batchesSent: 0, tellsSent: 0, tellBatchesSent: 0, noResponderRetries: 0 };

  constructor(
    private readonly nc: NatsConnection,
    private readonly opts: TransportOptions,
  ) {
    this.maxItems = opts.maxBatchItems ?? DEFAULT_MAX_BATCH_ITEMS;
    this.maxBytes = opts.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES;
    this.maxInFlight = opts.maxInFlightPerSubject ?? DEFAULT_MAX_IN_FLIGHT_PER_SUBJECT;
    this.defaultTimeout = opts.defaultTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    this.retry = opts.retry ?? DEFAULT_RETRY;
    // One sweep for every deadline instead of a timer per call.
    this.sweep = setInterval(() => this.expire(), 25);
    this.sweep.unref();
  }

  /** Counters since creation. */
  stats(): TransportStats {
    return { ...this.counters };
  }

  /** Calls `op` on actor (kind, key) behind `subject`; resolves with its value or rejects with an ImError. */
  call(subject: string, c: { kind: string; key: string; op: string; payload: unknown; timeoutMs?: number }): Promise<unknown> {
    if (this.closed || this.nc.isClosed()) return Promise.reject(new ImError(ErrorCode.CLOSED, 'transport is closed'));
    return new Promise((resolve, reject) => {
      const call: PendingCall = {
        id: this.nextId++,
        kind: c.kind,
        key: c.key,
        op: c.op,
        payload: c.payload,
        deadline: Date.now() + (c.timeoutMs ?? this.defaultTimeout),
        resolve,
        reject,
        settled: false,
      };
      if (this.nextId > Number.MAX_SAFE_INTEGER - 1) this.nextId = 1;
      this.outstanding.set(call.id, call);
      this.lane(subject).calls.push(call);
      this.scheduleFlush();
    });
  }

  /** Sends `op` to actor (kind, key) behind `subject` without waiting; coalesced like calls. */
  tell(subject: string, t: ActorTell): void {
    if (this.closed) return;
    this.lane(subject).tells.push(t);
    this.scheduleFlush();
  }

  /** Serves `subject`: calls go to `handler`, tells to `onTell` (or to `handler`, answers dropped). */
  serve(subject: string, handler: CallHandler, onTell?: TellHandler): ServeHandle {
    const h = serveSubject(this.nc, subject, handler, onTell, this.opts.log);
    this.serving.add(h);
    void h.closed.then(() => this.serving.delete(h));
    return h;
  }

  /** Sends what is queued, waits (bounded) for outstanding calls, and stops every served subject. */
  async drain(timeoutMs = 5000): Promise<void> {
    this.flush();
    const until = Date.now() + timeoutMs;
    while (this.outstanding.size > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    await Promise.all([...this.serving].map((h) => h.stop()));
  }

  /** Rejects everything outstanding with CLOSED and stops serving; the NATS connection stays the caller's. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweep);
    await Promise.all([...this.serving].map((h) => h.stop(1000)));
    for (const c of this.outstanding.values()) this.settle(c, new ImError(ErrorCode.CLOSED, 'transport closed'));
    this.lanes.clear();
  }

  private lane(subject: string): Lane {
    let l = this.lanes.get(subject);
    if (!l) {
      l = { calls: [], tells: [], inFlight: 0 };
      this.lanes.set(subject, l);
    }
    return l;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    for (const [subject, lane] of this.lanes) {
      if (lane.tells.length > 0) this.sendTells(subject, lane);
      while (lane.calls.length > 0 && lane.inFlight < this.maxInFlight) {
        const batch = this.takeBatch(lane);
        if (batch.length === 0) break;
        lane.inFlight++;
        void this.sendCalls(subject, lane, batch, 0);
      }
      if (lane.calls.length === 0 && lane.tells.length === 0 && lane.inFlight === 0) this.lanes.delete(subject);
    }
  }

  private takeBatch(lane: Lane): PendingCall[] {
    const taken = lane.calls.length <= this.maxItems ? lane.calls : lane.calls.splice(0, this.maxItems);
    if (taken === lane.calls) lane.calls = [];
    return taken;
  }

  private sendTells(subject: string, lane: Lane): void {
    const tells = lane.tells;
    lane.tells = [];
    for (let i = 0; i < tells.length; i += this.maxItems) {
      const part = tells.slice(i, i + this.maxItems);
      try {
        this.nc.publish(subject, encodeEnvelope({ type: 'tells', tells: part }));
        this.counters.tellBatchesSent++;
        this.counters.tellsSent += part.length;
      } catch (err) {
        this.opts.log.warn({ subject, err: (err as Error).message }, 'tell batch not sent');
      }
    }
  }

  private async sendCalls(subject: string, lane: Lane, batch: PendingCall[], attempt: number): Promise<void> {
    const now = Date.now();
    // One pass: drop calls that settled while queued (timed out), build the wire shape, find the last deadline.
    const live: PendingCall[] = [];
    const calls: ActorCall[] = [];
    let lastDeadline = now;
    for (const c of batch) {
      if (c.settled) continue;
      live.push(c);
      calls.push({ id: c.id, kind: c.kind, key: c.key, op: c.op, payload: c.payload, ttl: c.deadline - now });
      if (c.deadline > lastDeadline) lastDeadline = c.deadline;
    }
    if (live.length === 0) return this.release(lane);
    const data = encodeEnvelope({ type: 'calls', calls });
    if (data.length > this.maxBytes && live.length > 1) {
      // Too big for one NATS message: send the halves in order, each with its own slot.
      const half = Math.ceil(live.length / 2);
      await this.sendCalls(subject, { ...lane, inFlight: 0, calls: [], tells: [] }, live.slice(0, half), attempt);
      return this.sendCalls(subject, lane, live.slice(half), attempt);
    }
    const timeout = Math.max(1, lastDeadline - now);
    this.counters.batchesSent++;
    this.counters.callsSent += live.length;
    try {
      const msg = await this.nc.request(subject, data, { timeout });
      const r = decodeEnvelope(msg.data);
      if (!r.ok || r.value.type !== 'replies') {
        const e = r.ok ? new ImError(ErrorCode.BAD_FRAME, 'reply is not a replies batch') : r.error;
        for (const c of live) this.settle(c, e);
      } else if (r.value.error) {
        const e = new ImError(r.value.error.code, r.value.error.message);
        for (const c of live) this.settle(c, e);
      } else {
        for (const rep of r.value.replies) {
          const c = this.outstanding.get(rep.id);
          if (!c) continue;
          if (rep.ok) this.settle(c, undefined, rep.value);
          else this.settle(c, new ImError(rep.code, rep.message));
        }
        // A reply that forgot a call must not leave it hanging until its deadline.
        for (const c of live) if (!c.settled) this.settle(c, new ImError(ErrorCode.INTERNAL, 'no reply for this call in its batch'));
      }
      this.release(lane);
    } catch (err) {
      const code = (err as NatsError).code;
      if (code === NatsErrorCode.NoResponders) {
        this.counters.noResponderRetries++;
        const delay = Math.min(this.retry.maxMs, this.retry.initialMs * 2 ** attempt) * (0.5 + Math.random() * 0.5);
        const remaining = live.filter((c) => !c.settled);
        for (const c of remaining) {
          if (c.deadline <= Date.now() + delay) this.settle(c, new ImError(ErrorCode.UNAVAILABLE, `nobody serves ${subject} (shard between owners?)`));
        }
        if (this.closed || remaining.every((c) => c.settled)) return this.release(lane);
        // The lane slot stays taken while we wait: later calls to this subject must not overtake these.
        await new Promise((r) => setTimeout(r, delay));
        return this.sendCalls(subject, lane, remaining, attempt + 1);
      }
      const e =
        code === NatsErrorCode.Timeout
          ? new ImError(ErrorCode.TIMEOUT, `no reply from ${subject} in time`, { cause: err })
          : code === NatsErrorCode.ConnectionClosed || code === NatsErrorCode.ConnectionDraining
            ? new ImError(ErrorCode.CLOSED, 'NATS connection closed', { cause: err })
            : new ImError(ErrorCode.UNAVAILABLE, `request to ${subject} failed: ${(err as Error).message}`, { cause: err });
      for (const c of live) this.settle(c, e);
      this.release(lane);
    }
  }

  private release(lane: Lane): void {
    lane.inFlight--;
    if (lane.calls.length > 0) this.scheduleFlush();
  }

  private settle(c: PendingCall, err: ImError | undefined, value?: unknown): void {
    if (c.settled) return;
    c.settled = true;
    this.outstanding.delete(c.id);
    if (err) c.reject(err);
    else c.resolve(value);
  }

  private expire(): void {
    const now = Date.now();
    for (const c of this.outstanding.values()) {
      if (c.deadline <= now) this.settle(c, new ImError(ErrorCode.TIMEOUT, `${c.kind}/${c.key} ${c.op} timed out`));
    }
  }
}
