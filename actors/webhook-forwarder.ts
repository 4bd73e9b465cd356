import { createHmac, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { NatsConnection, Subscription } from 'nats';
import { EventSubject } from '../protocol/subjects.js';
import type { WebhookConfig } from '../runtime/config.js';
import type { Logger } from '../runtime/logger.js';

/** How long one POST may take before it counts as failed (and is tried again). */
export const DEFAULT_WEBHOOK_TIMEOUT_MS = 5_000;
/** Most bytes of events one POST carries. */
export const DEFAULT_WEBHOOK_BATCH_BYTES = 256 * 1024;
/** Most bytes of events a node holds while the business server is away; past it the oldest go (and are counted). */
export const DEFAULT_WEBHOOK_QUEUE_BYTES = 16 * 1024 * 1024;
/** Retries of a failed POST wait a random time up to base · 2^attempt, at most the cap (full jitter). */
export const WEBHOOK_RETRY_BASE_MS = 200;
export const WEBHOOK_RETRY_CAP_MS = 30_000;
/**
 * A request of several NATS messages' events that the receiver answered with a failure (408, 429, 5xx) this many
 * times is split, one message's events a request: one event the receiver chokes on then holds up only its own.
 */
export const WEBHOOK_SPLIT_AFTER = 3;
/**
 * How long a request of one message's events may go on being answered with a failure before it is given up
 * (`im_webhook_abandoned_total`, logged): the receiver is up and refusing it. Network errors and timeouts (the
 * receiver away) do not count: those keep being tried, as the queue's bound keeps the memory they hold.
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
  /** POSTs that failed (network, timeout, 408, 429, 5xx) and were tried again. */
  retried: number;
  /** POSTs answered with another 4xx: the business server refused them; not tried again. */
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
  /** Failures the receiver answered (408, 429, 5xx), and when the first of them came. */
  answeredFailures: number;
  firstAnsweredAt: number;
}

/** One NATS message's events (a JSON array's items, without brackets) and their UTF-8 bytes. */
interface Queued {
  items: string;
  bytes: number;
}

/**
 * Business events POSTed to the business server's URL as JSON arrays, signed as Standard Webhooks do
 * (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, one per
 * secret during a rotation). POSTs go one at a time, in the order the events arrived; a failed one is tried again
 * with backoff until it is answered 2xx or refused with a 4xx, split or given up when the receiver keeps failing it
 * (`hopeless`). At least once while the node runs and its queue holds: receivers drop repeats by `webhook-id`.
 */
export class WebhookForwarder {
  readonly stats: WebhookStats = { delivered: 0, retried: 0, refused: 0, dropped: 0, abandoned: 0 };
  private readonly subs: Subscription[] = [];
  private queue: Queued[] = [];
  private queuedBytes = 0;
  private current: Batch | undefined;
  /** A split request's messages, posted one a request before the queue goes on. */
  private singles: Queued[] = [];
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
    return this.queuedBytes + (this.current?.bytes ?? 0) + this.singles.reduce((n, q) => n + q.bytes, 0);
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
    this.queuedBytes += bytes;
    while (this.queuedBytes > (this.opts.queueBytes ?? DEFAULT_WEBHOOK_QUEUE_BYTES) && this.queue.length > 1) {
      this.queuedBytes -= this.queue.shift()!.bytes;
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
  }

  private async run(): Promise<void> {
    while (!this.stop.signal.aborted) {
      const batch = (this.current ??= this.next());
      if (batch === undefined) return;
      const outcome = await this.post(batch);
      if (outcome === 'retry' && this.hopeless(batch)) {
        this.current = undefined;
        continue;
      }
      if (outcome === 'retry') {
        this.stats.retried++;
        const cap = Math.min(WEBHOOK_RETRY_CAP_MS, WEBHOOK_RETRY_BASE_MS * 2 ** batch.attempt++);
        await sleep(Math.random() * cap, undefined, { signal: this.stop.signal }).catch(() => undefined);
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
      this.singles.unshift(...b.parts);
      return true;
    }
    if (b.parts.length > 1 || Date.now() - b.firstAnsweredAt < (this.opts.giveUpMs ?? DEFAULT_WEBHOOK_GIVE_UP_MS)) return false;
    this.stats.abandoned++;
    this.opts.log.error({ url: this.opts.config.url, id: b.id, failures: b.answeredFailures }, 'the webhook kept failing a request of events: given up');
    return true;
  }

  /** The next request's body: a split request's next message, else queued messages joined, up to the batch size (one message over it goes alone). */
  private next(): Batch | undefined {
    const single = this.singles.shift();
    if (single !== undefined) return this.batchOf([single]);
    if (this.queue.length === 0) return undefined;
    const max = this.opts.batchBytes ?? DEFAULT_WEBHOOK_BATCH_BYTES;
    const parts: Queued[] = [];
    let bytes = 1;
    while (this.queue.length > 0 && (parts.length === 0 || bytes + this.queue[0]!.bytes + 1 <= max)) {
      const p = this.queue.shift()!;
      parts.push(p);
      bytes += p.bytes + 1;
      this.queuedBytes -= p.bytes;
    }
    return this.batchOf(parts);
  }

  private batchOf(parts: Queued[]): Batch {
    const bytes = parts.reduce((n, p) => n + p.bytes + 1, 1);
    return { id: `msg_${randomUUID()}`, body: `[${parts.map((p) => p.items).join(',')}]`, bytes, parts, attempt: 0, answeredFailures: 0, firstAnsweredAt: 0 };
  }

  private async post(b: Batch): Promise<'done' | 'retry'> {
    const ts = String(Math.floor(Date.now() / 1000));
    // One signature per key, space-separated (Standard Webhooks): a receiver on either secret verifies the request.
    const signature = this.keys.map((k) => `v1,${createHmac('sha256', k).update(`${b.id}.${ts}.${b.body}`).digest('base64')}`).join(' ');
    try {
      const res = await fetch(this.opts.config.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'webhook-id': b.id, 'webhook-timestamp': ts, 'webhook-signature': signature, 'user-agent': 'natsim-webhook' },
        body: b.body,
        // A redirect is not followed: fetch would follow a 301/302/303 as a GET without the body, and a 2xx then would
        // count events as taken that never arrived.
        redirect: 'manual',
        signal: AbortSignal.any([AbortSignal.timeout(this.opts.timeoutMs ?? DEFAULT_WEBHOOK_TIMEOUT_MS), this.stop.signal]),
      });
      await res.arrayBuffer().catch(() => undefined);
      if (res.ok) {
        this.stats.delivered++;
        return 'done';
      }
      if (res.status >= 300 && res.status < 400) return this.failed(b, `HTTP ${res.status}: redirects are not followed; set --webhook-url to ${res.headers.get('location') ?? 'where it points'}`);
      if (res.status === 408 || res.status === 429 || res.status >= 500) {
        if (b.answeredFailures++ === 0) b.firstAnsweredAt = Date.now();
        return this.failed(b, `HTTP ${res.status}`);
      }
      this.stats.refused++;
      this.opts.log.warn({ url: this.opts.config.url, status: res.status, id: b.id }, 'the webhook refused a batch of events: not sent again');
      return 'done';
    } catch (err) {
      return this.failed(b, (err as Error).message);
    }
  }

  private failed(b: Batch, why: string): 'retry' {
    // Once per outage, not once per retry.
    if (b.attempt === 0) this.opts.log.warn({ url: this.opts.config.url, id: b.id, err: why }, 'webhook POST failed: trying again with backoff');
    return 'retry';
  }
}
