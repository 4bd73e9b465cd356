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
 * a node that stops hands the work on without anyone noticing. A new cluster retention starts a pass at once.
 *
 * With a cluster retention set, a pass walks every conversation, ~1,000 a second: minutes per million. Conversations
 * with a retention of their own (disappearing messages, often short) are walked on their own as well, every
 * DEFAULT_RETENTION_PASS_MS, between the batches of that long walk, so their messages do not outlive it.
 */
export class RetentionSweeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private closed = false;
  /** The conversation id the next batch of the whole walk starts after ('' : the first). */
  private cursor = '';
  /** The cluster's retention changed during a batch: the whole walk starts afresh after it. */
  private restart = false;
  /** Where the walk of conversations with their own retention is (undefined: none under way), and when the next is due. */
  private ownCursor: string | undefined;
  private ownDueAt = 0;
  /** A conversation's own retention changed during that walk: another starts right after it. */
  private ownAgain = false;
  /**
   * Such a walk just ended wanting another: the whole walk takes a batch first, or changes made during every walk
   * would keep it from ever moving (messages past the cluster's retention served for good).
   */
  private wholeFirst = false;
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

  /**
   * The cluster's retention changed (`conversation` false: the whole walk starts over, now or right after the batch
   * running) or a conversation's own did (the walk of those conversations comes now; one under way goes on, and
   * another follows it, so that frequent changes never keep it from reaching the end).
   */
  settingChanged(conversation = false): void {
    if (this.closed) return;
    if (conversation) {
      // A walk under way (or a batch that read the conversations before the change) may have passed it: one more.
      const underWay = this.opts.retentionSec() > 0 ? this.ownCursor !== undefined : this.cursor !== '';
      if (underWay || this.running !== undefined) this.ownAgain = true;
      this.ownDueAt = 0;
    } else if (this.running === undefined) this.cursor = '';
    else this.restart = true;
    if (this.running === undefined) this.schedule(0);
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
    const clusterSec = this.opts.retentionSec();
    // With no cluster retention the whole walk is already only the conversations with their own.
    const own = clusterSec > 0 && !this.wholeFirst && (this.ownCursor !== undefined || Date.now() >= this.ownDueAt);
    if (!own) this.wholeFirst = false;
    let r: RetentionBatch;
    try {
      r = await this.opts.store.sweep(own ? (this.ownCursor ?? '') : this.cursor, clusterSec, own);
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
    if (own) {
      this.ownCursor = r.next;
      if (r.next === undefined) {
        this.ownDueAt = this.ownAgain ? 0 : Date.now() + this.passMs;
        this.wholeFirst = this.ownAgain;
        this.ownAgain = false;
      }
      // The whole walk goes on between two walks of these (it may be minutes from its end).
      return this.schedule(this.gapMs);
    }
    if (r.next === undefined) {
      this.cursor = '';
      // Done with every conversation: the next pass, or the walk of those with their own retention when it is due.
      if (clusterSec > 0) return this.schedule(Math.max(this.gapMs, Math.min(this.passMs, this.ownDueAt - Date.now())));
      const again = this.ownAgain;
      this.ownAgain = false;
      return this.schedule(again ? 0 : this.passMs);
    }
    this.cursor = r.next;
    this.schedule(this.gapMs);
  }
}
