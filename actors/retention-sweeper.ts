import { ErrorCode, toImError } from '../protocol/errors.js';
import type { Logger } from '../runtime/logger.js';
import type { MessageRetentionStore, RetentionBatch } from '../storage/message-retention-store.js';

/** Pause between passes over every conversation (and between tries while another node sweeps). */
export const DEFAULT_RETENTION_PASS_MS = 60_000;
/** Pause between the batches of a pass: the sweep yields to the traffic it shares Postgres with. */
export const DEFAULT_RETENTION_BATCH_GAP_MS = 200;

export interface RetentionSweeperOptions {
  store: MessageRetentionStore;
  /** The cluster's retention now, in seconds (0: keep messages for good, but for conversations with their own). */
  retentionSec: () => number;
  log: Logger;
  /** Messages of `conv` up to `upto` expired (once the batch committed): for telling the members online. */
  expired?: (conv: string, upto: number) => void;
  passMs?: number;
  batchGapMs?: number;
}

/**
 * Runs the retention sweep on this node (MessageRetentionStore): a batch of conversations at a time, a pass over
 * all of them every DEFAULT_RETENTION_PASS_MS. Every node runs one; a lock in Postgres lets one sweep at a time, so
 * a node that stops hands the work on without anyone noticing. A new retention setting starts a pass at once.
 */
export class RetentionSweeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private closed = false;
  /** The conversation id the next batch starts after ('' : the first). */
  private cursor = '';
  /** The setting changed during a batch: start a pass afresh after it. */
  private restart = false;
  private readonly passMs: number;
  private readonly gapMs: number;

  constructor(private readonly opts: RetentionSweeperOptions) {
    this.passMs = opts.passMs ?? DEFAULT_RETENTION_PASS_MS;
    this.gapMs = opts.batchGapMs ?? DEFAULT_RETENTION_BATCH_GAP_MS;
  }

  /** Starts sweeping (the first pass at once). */
  start(): void {
    this.schedule(0);
  }

  /** The cluster's or a conversation's retention changed: a new pass starts now (or right after the batch running). */
  settingChanged(): void {
    if (this.closed) return;
    this.cursor = '';
    if (this.running === undefined) this.schedule(0);
    else this.restart = true;
  }

  /** Stops; resolves once a batch in flight has ended. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private schedule(ms: number): void {
    if (this.closed) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.batch().finally(() => (this.running = undefined));
    }, ms);
    this.timer.unref();
  }

  private async batch(): Promise<void> {
    let r: RetentionBatch;
    try {
      // With no cluster retention (0), conversations with one of their own still expire.
      r = await this.opts.store.sweep(this.cursor, this.opts.retentionSec());
    } catch (err) {
      const e = toImError(err);
      // Postgres away or slow: the next pass tries again; anything else is worth an error.
      if (e.code === ErrorCode.UNAVAILABLE || e.code === ErrorCode.TIMEOUT) this.opts.log.warn({ err: e.message }, 'retention sweep failed; trying again later');
      else this.opts.log.error({ err: e.message }, 'retention sweep failed; trying again later');
      return this.schedule(this.passMs);
    }
    if (r.conversations > 0) this.opts.log.info({ conversations: r.conversations, deleted: r.deleted }, 'expired messages past the retention');
    for (const e of r.expired) this.opts.expired?.(e.conv, e.upto);
    if (this.restart) {
      this.restart = false;
      this.cursor = '';
      return this.schedule(0);
    }
    if (r.busy) return this.schedule(this.passMs);
    if (r.next === undefined) {
      this.cursor = '';
      return this.schedule(this.passMs);
    }
    this.cursor = r.next;
    this.schedule(this.gapMs);
  }
}
