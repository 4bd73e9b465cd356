import { createHmac, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { NatsConnection, Subscription } from 'nats';
import { EventSubject } from '../protocol/subjects.js';
import type { WebhookConfig } from '../runtime/config.js';
import type { Logger } from '../runtime/logger.js';
import { Fifo } from '../runtime/fifo.js';

/** How long one POST may take before it counts as failed (and is tried again, split if it keeps taking longer). */
export const DEFAULT_WEBHOOK_TIMEOUT_MS = 5_000;
/** Most bytes of events one POST carries. */
export const DEFAULT_WEBHOOK_BATCH_BYTES = 256 * 1024;
/** Most bytes of events a node holds while the business server is away; past it the oldest go (and are counted). */
export const DEFAULT_WEBHOOK_QUEUE_BYTES = 16 * 1024 * 1024;
/** Retries of a failed POST wait a random time up to base · 2^attempt, at most the cap (full jitter). */
export const WEBHOOK_RETRY_BASE_MS = 200;
export const WEBHOOK_RETRY_CAP_MS = 30_000;
/** The longest wait a receiver's Retry-After gets: past it the request goes again anyway. */
export const WEBHOOK_RETRY_AFTER_CAP_MS = 60_000;
/**
 * A request of several NATS messages' events that the receiver answered with a failure (408, 500 and the 5xx not
 * below) this many times is split, one message's events a request: one event the receiver chokes on then holds up
 * only its own. One that timed out this many times in a row is halved: the receiver takes too long over that many.
 */
export const WEBHOOK_SPLIT_AFTER = 3;
/**
 * Answers of a proxy or load balancer whose app is away (bad gateway, unavailable, gateway timeout): retried as a
 * network error is, never split nor given up.
 */
const RECEIVER_AWAY = new Set([502, 503, 504]);
/**
 * How long a request of one message's events may go on being answered with a failure before it is given up
 * (`im_webhook_abandoned_total`, logged): the receiver is up and refusing it. Network errors, timeouts, 502–504
 * (the receiver away) and 429 (the receiver pacing us) do not count: those keep being tried, as the queue's bound
 * keeps the memory they hold.
 */
export const DEFAULT_WEBHOOK_GIVE_UP_MS = 10 * 60_000;
/** How long `drain` keeps posting what is queued before it gives up. */
export const DEFAULT_WEBHOOK_DRAIN_MS = 5_000;
/**
 * Every node forwarding events joins this NATS queue group, so each batch a node publishes reaches the business
 * server through one node, not once per node.
 */
export const WEBHOOK_QUEUE_GROUP = 'natsim-webhook';

export interface WebhookStats {
  /** POSTs answered 2xx. */
  delivered: number;
  /** POSTs that failed (network, timeout, 408, 413, 429, 5xx) and were tried again, whole or split. */
  retried: number;
  /** POSTs answered with another 4xx (413 for one message's events): the business server refused them; not tried again. */
  refused: number;
  /** NATS messages of events dropped because the queue was full. */
  dropped: number;
  /** Requests given up after the receiver answered them with failures for DEFAULT_WEBHOOK_GIVE_UP_MS. */
  abandoned: number;
}

export interface WebhookForwarderOptions {
  nc: NatsConnection;
  config: WebhookConfig;
  log: Logger;
  timeoutMs?: number;
  batchBytes?: number;
  queueBytes?: number;
  giveUpMs?: number;
}

/** One POST: its id stays the same across retries, so the business server can drop a repeat. */
interface Batch {
  id: string;
  body: string;
  /** The body's UTF-8 bytes. */
  bytes: number;
  /** The NATS messages' events it carries, to split it by. */
  parts: Queued[];
  attempt: number;
  /** Failures the receiver answered that count towards splitting and giving up (408, 500, …), and when the first came. */
  answeredFailures: number;
  firstAnsweredAt: number;
  /** Timeouts since the last attempt that ended otherwise. */
  timeouts: number;
  /** How long the receiver asked us to wait (Retry-After) before the next attempt; the backoff's when it did not. */
  retryAfterMs: number | undefined;
}

type Outcome = 'done' | 'retry' | 'halve';

/** One NATS message's events (a JSON array's items, without brackets) and their UTF-8 bytes. */
interface Queued {
  items: string;
  bytes: number;
}

/**
 * The NATS messages of events waiting for the webhook, oldest first, with their bytes. A full queue drops its oldest
 * on every message taken, and holds some 200,000 of them at 16 MB: hence a Fifo, not an array shifted.
 */
class WebhookQueue {
  private readonly items = new Fifo<Queued>();
  /** Bytes of the messages waiting. */
  bytes = 0;

  /** How many messages wait. */
  get length(): number {
    return this.items.length;
  }

  /** Appends one message. */
  push(q: Queued): void {
    this.items.push(q);
    this.bytes += q.bytes;
  }

  /** The oldest message, left in place. */
  peek(): Queued | undefined {
    return this.items.peek();
  }

  /** Takes the oldest message out. */
  shift(): Queued | undefined {
    const q = this.items.shift();
    if (q !== undefined) this.bytes -= q.bytes;
    return q;
  }
}

/**
 * Business events POSTed to the business server's URL as JSON arrays, signed as Standard Webhooks do
 * (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, one per
 * secret during a rotation). POSTs go one at a time, in the order the events arrived; a failed one is tried again
 * with backoff until it is answered 2xx or refused with a 4xx, split or given up when the receiver keeps failing it
 * (`hopeless`), halved when it is too large for the receiver (413, timeouts). At least once while the node runs and
 * its queue holds: receivers drop repeats by `webhook-id`.
 */
export class WebhookForwarder {
  readonly stats: WebhookStats = { delivered: 0, retried: 0, refused: 0, dropped: 0, abandoned: 0 };
  private readonly subs: Subscription[] = [];
  private readonly queue = new WebhookQueue();
  private current: Batch | undefined;
  /** A split request's parts, each posted as a request of its own before the queue goes on. */
  private split: Queued[][] = [];
  /** The POST in flight's abort: its timeout, or `close`. */
  private request: AbortController | undefined;
  private running: Promise<void> | undefined;
  /** Signing keys: the secret's, then during a rotation the previous secret's. */
  private readonly keys: Buffer[];
  private readonly stop = new AbortController();
  private readonly decoder = new TextDecoder();

  constructor(private readonly opts: WebhookForwarderOptions) {
    const keyOf = (s: string): Buffer => (s.startsWith('whsec_') ? Buffer.from(s.slice('whsec_'.length), 'base64') : Buffer.from(s, 'utf8'));
    const { secret, previousSecret } = opts.config;
    this.keys = previousSecret === undefined ? [keyOf(secret)] : [keyOf(secret), keyOf(previousSecret)];
  }

  /** Bytes of events waiting, the batch in flight included. */
  get backlogBytes(): number {
    return this.queue.bytes + (this.current?.bytes ?? 0) + this.split.reduce((n, g) => g.reduce((m, q) => m + q.bytes, n), 0);
  }

  /** Starts taking this cluster's events (its share of them: see WEBHOOK_QUEUE_GROUP). */
  start(): void {
    const subjects = Object.values(EventSubject).filter((s) => this.opts.config.events.includes(s.slice(s.lastIndexOf('.') + 1)));
    for (const subject of subjects) {
      this.subs.push(this.opts.nc.subscribe(subject, { queue: WEBHOOK_QUEUE_GROUP, callback: (err, msg) => !err && this.take(msg.data) }));
    }
  }

  /** Queues one NATS message of events (a JSON array). */
  take(data: Uint8Array): void {
    const text = this.decoder.decode(data);
    // Each message is a JSON array (EventPublisher); requests join their items.
    const items = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : '';
    if (items.trim() === '' || this.stop.signal.aborted) return;
    // Bytes, not UTF-16 units: the limits are the receiver's body size and this node's memory.
    const bytes = Buffer.byteLength(items);
    this.queue.push({ items, bytes });
    while (this.queue.bytes > (this.opts.queueBytes ?? DEFAULT_WEBHOOK_QUEUE_BYTES) && this.queue.length > 1) {
      this.queue.shift();
      if (this.stats.dropped++ === 0) this.opts.log.warn({ url: this.opts.config.url }, 'webhook queue full: dropping the oldest events');
    }
    this.kick();
  }

  /** Runs the poster unless it runs; one that ends with events queued meanwhile (taken after its last look) runs again. */
  private kick(): void {
    this.running ??= this.run().finally(() => {
      this.running = undefined;
      if (this.queue.length > 0 && !this.stop.signal.aborted) this.kick();
    });
  }

  /** Stops taking events and posts what is queued for up to `ms`, then stops. */
  async drain(ms = DEFAULT_WEBHOOK_DRAIN_MS): Promise<void> {
    // Drained, not unsubscribed: messages NATS handed this node already are taken (an unsubscribed one drops them,
    // and core NATS gives them to no other member of the queue group).
    const deadline = sleep(ms, undefined, { ref: false });
    await Promise.race([Promise.all(this.subs.map((s) => s.drain().catch(() => undefined))), deadline]);
    const done = this.running ?? Promise.resolve();
    await Promise.race([done, deadline]);
    this.close();
    await done;
  }

  /** Stops at once; what is queued is dropped. */
  close(): void {
    for (const s of this.subs) s.unsubscribe();
    this.stop.abort();
    this.request?.abort();
  }

  private async run(): Promise<void> {
    while (!this.stop.signal.aborted) {
      const batch = (this.current ??= this.next());
      if (batch === undefined) return;
      const outcome = await this.post(batch);
      if (outcome === 'halve') {
        this.stats.retried++;
        const half = Math.ceil(batch.parts.length / 2);
        this.split.unshift(batch.parts.slice(0, half), batch.parts.slice(half));
        this.current = undefined;
        continue;
      }
      if (outcome === 'retry' && this.hopeless(batch)) {
        this.current = undefined;
        continue;
      }
      if (outcome === 'retry') {
        this.stats.retried++;
        const cap = Math.min(WEBHOOK_RETRY_CAP_MS, WEBHOOK_RETRY_BASE_MS * 2 ** batch.attempt++);
        // A Retry-After is the receiver's own pacing: waited as asked, but not so little as to spin on "0".
        const wait = batch.retryAfterMs === undefined ? Math.random() * cap : Math.max(WEBHOOK_RETRY_BASE_MS, batch.retryAfterMs);
        await sleep(wait, undefined, { signal: this.stop.signal }).catch(() => undefined);
        continue;
      }
      this.current = undefined;
    }
  }

  /**
   * After a failure the receiver answered: a request of several messages is split (WEBHOOK_SPLIT_AFTER), one of a
   * single message is given up past the give-up time. True when the request in hand is no longer to be posted.
   */
  private hopeless(b: Batch): boolean {
    if (b.answeredFailures === 0) return false;
    if (b.parts.length > 1 && b.answeredFailures >= WEBHOOK_SPLIT_AFTER) {
      this.split.unshift(...b.parts.map((p) => [p]));
      return true;
    }
    if (b.parts.length > 1 || Date.now() - b.firstAnsweredAt < (this.opts.giveUpMs ?? DEFAULT_WEBHOOK_GIVE_UP_MS)) return false;
    this.stats.abandoned++;
    this.opts.log.error({ url: this.opts.config.url, id: b.id, failures: b.answeredFailures }, 'the webhook kept failing a request of events: given up');
    return true;
  }

  /** The next request's body: a split request's next part, else queued messages joined, up to the batch size (one message over it goes alone). */
  private next(): Batch | undefined {
    const part = this.split.shift();
    if (part !== undefined) return this.batchOf(part);
    if (this.queue.length === 0) return undefined;
    const max = this.opts.batchBytes ?? DEFAULT_WEBHOOK_BATCH_BYTES;
    const parts: Queued[] = [];
    let bytes = 1;
    while (this.queue.length > 0 && (parts.length === 0 || bytes + this.queue.peek()!.bytes + 1 <= max)) {
      const p = this.queue.shift()!;
      parts.push(p);
      bytes += p.bytes + 1;
    }
    return this.batchOf(parts);
  }

  private batchOf(parts: Queued[]): Batch {
    const bytes = parts.reduce((n, p) => n + p.bytes + 1, 1);
    return { id: `msg_${randomUUID()}`, body: `[${parts.map((p) => p.items).join(',')}]`, bytes, parts, attempt: 0, answeredFailures: 0, firstAnsweredAt: 0, timeouts: 0, retryAfterMs: undefined };
  }

  private async post(b: Batch): Promise<Outcome> {
    const ts = String(Math.floor(Date.now() / 1000));
    // One signature per key, space-separated (Standard Webhooks): a receiver on either secret verifies the request.
    const signature = this.keys.map((k) => `v1,${createHmac('sha256', k).update(`${b.id}.${ts}.${b.body}`).digest('base64')}`).join(' ');
    // A timer of our own, not AbortSignal.timeout: inside AbortSignal.any that one can be garbage-collected before it
    // fires (nodejs/node#57736), and a receiver that never answers then holds every event for undici's 300 s.
    const request = (this.request = new AbortController());
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      request.abort();
    }, this.opts.timeoutMs ?? DEFAULT_WEBHOOK_TIMEOUT_MS);
    b.retryAfterMs = undefined;
    try {
      const res = await fetch(this.opts.config.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'webhook-id': b.id, 'webhook-timestamp': ts, 'webhook-signature': signature, 'user-agent': 'natsim-webhook' },
        body: b.body,
        // A redirect is not followed: fetch would follow a 301/302/303 as a GET without the body, and a 2xx then would
        // count events as taken that never arrived.
        redirect: 'manual',
        signal: request.signal,
      });
      await res.arrayBuffer().catch(() => undefined);
      b.timeouts = 0;
      return this.answered(b, res);
    } catch (err) {
      if (!timedOut) {
        b.timeouts = 0;
        return this.failed(b, (err as Error).message);
      }
      // The receiver takes too long over this many events; one message's events alone may be the receiver away.
      if (++b.timeouts >= WEBHOOK_SPLIT_AFTER && b.parts.length > 1) return this.halve(b, 'timeouts');
      return this.failed(b, `no answer in ${this.opts.timeoutMs ?? DEFAULT_WEBHOOK_TIMEOUT_MS} ms`);
    } finally {
      clearTimeout(timer);
      if (this.request === request) this.request = undefined;
    }
  }

  /** What an answer (any status) makes of the request. */
  private answered(b: Batch, res: Response): Outcome {
    if (res.ok) {
      this.stats.delivered++;
      return 'done';
    }
    b.retryAfterMs = retryAfterMs(res.headers.get('retry-after'));
    if (res.status >= 300 && res.status < 400) return this.failed(b, `HTTP ${res.status}: redirects are not followed; set --webhook-url to ${res.headers.get('location') ?? 'where it points'}`);
    // The receiver's body limit: halves get under it; one message's events over it never will.
    if (res.status === 413 && b.parts.length > 1) return this.halve(b, 'HTTP 413');
    // The receiver pacing us, or its proxy with the app away: nothing wrong with these events, so not counted.
    if (res.status === 429 || RECEIVER_AWAY.has(res.status)) return this.failed(b, `HTTP ${res.status}`);
    if (res.status === 408 || res.status >= 500) {
      if (b.answeredFailures++ === 0) b.firstAnsweredAt = Date.now();
      return this.failed(b, `HTTP ${res.status}`);
    }
    this.stats.refused++;
    const what = res.status === 413 ? 'one message’s events as too large' : 'a batch of events';
    this.opts.log.warn({ url: this.opts.config.url, status: res.status, id: b.id, bytes: b.bytes }, `the webhook refused ${what}: not sent again`);
    return 'done';
  }

  private halve(b: Batch, why: string): Outcome {
    this.opts.log.warn({ url: this.opts.config.url, id: b.id, bytes: b.bytes, err: why }, 'webhook request too large for the receiver: sending it in halves');
    return 'halve';
  }

  private failed(b: Batch, why: string): Outcome {
    // Once per outage, not once per retry.
    if (b.attempt === 0) this.opts.log.warn({ url: this.opts.config.url, id: b.id, err: why }, 'webhook POST failed: trying again with backoff');
    return 'retry';
  }
}

/** A Retry-After header (seconds, or an HTTP date) as milliseconds from `now`, at most WEBHOOK_RETRY_AFTER_CAP_MS. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (header === null) return undefined;
  const value = header.trim();
  const ms = /^\d+$/.test(value) ? Number(value) * 1000 : Date.parse(value) - now;
  return Number.isNaN(ms) ? undefined : Math.min(WEBHOOK_RETRY_AFTER_CAP_MS, Math.max(0, ms));
}
