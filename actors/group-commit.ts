import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCode, ImError, toImError } from '../protocol/errors.js';
import { DEFAULT_COMMIT_GATHER_BELOW, DEFAULT_COMMIT_GATHER_MS, DEFAULT_COMMIT_MAX_BACKLOG_MB, DEFAULT_COMMIT_MAX_ROWS } from '../runtime/config.js';
import { latencyHistogram } from '../runtime/metrics.js';
import type { Sql } from '../storage/db.js';
import { rolledBack } from '../storage/pg-errors.js';
import type { NewMessage } from '../storage/message-store.js';
import { appendAcrossShards, type ShardRows } from '../storage/shard-batch-append.js';
import type { Fence } from '../storage/types.js';

/*
 * Why rows gather (DEFAULT_COMMIT_GATHER_* in runtime/config.ts): while rows keep arriving during statements, a
 * batch smaller than `gatherBelow` waits `gatherMs` for company before it is written. At a few thousand messages
 * a second, statements of five rows each cost Postgres and the node about a third more CPU per message than
 * statements of a dozen (measured at 5,000 msgs/s: Postgres 81 → 53 µs, nodes 178 → 154 µs per message), and on
 * a busy box that CPU is what the latency waits for. Measured again with no gathering (gather 0 against 2 ms, back
 * to back): nodes 177 vs 168 µs, Postgres 80 vs 75 µs per message, p99 57 vs 45 ms.
 */

/** Batch sizing of a GroupCommitter. */
export interface GroupCommitOptions {
  /** Most rows in one statement. */
  maxRows?: number;
  /** Below this many rows, a batch that formed while a statement ran waits `gatherMs` for more. 0: never waits. */
  gatherBelow?: number;
  gatherMs?: number;
  /**
   * A statement failed as a whole (Postgres down or slow, or a bug in it): every client re-sends into the same
   * failure, so the operator must hear of it. Told once per statement, with the rows it refused.
   */
  onError?: (err: ImError, rows: number) => void;
  /** The target's `settle` failed (it is tried again). */
  onSettleError?: (err: ImError) => void;
  /** How long rows wait for an unknown outcome to be settled before they are refused unsent; default SETTLED_WAIT_MS. */
  settleWaitMs?: number;
  /**
   * Bytes of rows (bodies, and ROW_OVERHEAD_BYTES each) waiting for their statement past which the committer is
   * `full`; default DEFAULT_COMMIT_MAX_BACKLOG_MB. A Postgres slow but still answering (I/O stalls, lock waits) writes
   * a few hundred rows a second while clients go on sending thousands: without a bound the queue, and the node's
   * memory with it, grew until the process was killed, taking every conversation and connector on it down.
   */
  maxBacklogBytes?: number;
}

/** What a queued row costs besides its body: the row's other fields, its promise and its caller's state. */
const ROW_OVERHEAD_BYTES = 512;
const rowBytes = (p: Pending): number => p.row.body.byteLength + ROW_OVERHEAD_BYTES;

const SETTLE_RETRY_BASE_MS = 50;
const SETTLE_RETRY_CAP_MS = 1_000;
/** Where a GroupCommitter writes (a CommitConnection, or a plain pool in tests of batching alone). */
export interface CommitTarget {
  /** Read at each statement: a CommitConnection opens a new pool after settling. */
  readonly sql: Sql;
  /** Resolves once the connection can take statements; a failure refuses the batch unsent. */
  ready?(): Promise<void>;
  /**
   * Makes sure that a statement whose outcome the node never learned (its deadline passed, its connection dropped)
   * can no longer commit. Without it such a statement could land after its chatters reloaded and fork their chains.
   */
  settle?(): Promise<void>;
}

/** How long a chatter waits for an unknown outcome to be settled before its reload fails (its client re-sends). */
export const SETTLED_WAIT_MS = 10_000;

interface Pending {
  fence: Fence;
  row: NewMessage;
  resolve: (createdAt: number) => void;
  reject: (err: ImError) => void;
  /** When it was submitted (performance.now()). */
  at: number;
}

/**
 * The node's group commit for chat messages: every chatter on the node hands its rows here, and they go to
 * Postgres in one statement per batch, whatever conversation or shard they belong to. One statement is in
 * flight at a time, so commit order is submit order: a conversation's seqs commit in the order they were
 * given out, and a later row can never be stored when an earlier row of its conversation failed (its `prev`
 * would point at a seq that does not exist). Rows that arrive while a statement runs form the next batch,
 * so batches grow with load and a lone message waits for nothing but its own statement.
 *
 * A failure is contagious on purpose: the failed rows, every row queued behind them, and any later submit for
 * the same conversations are refused until that conversation's chatter reloads (`reset`).
 */
export class GroupCommitter {
  private queue: Pending[] = [];
  /** What the rows in `queue` and in the statement under way hold (rowBytes). */
  private queuedBytes = 0;
  private readonly maxBacklogBytes: number;
  private running = false;
  private scheduled = false;
  /** Conversations whose in-memory chain broke; refused until their chatter reloads. */
  private readonly broken = new Set<string>();
  private closed = false;
  private idle: (() => void)[] = [];
  /** Settling a statement of unknown outcome: no statement goes out, and no chatter reads its last seq, before it is done. */
  private doubt: Promise<void> | undefined;
  /** Statements and rows committed, rows refused, and the time statements took (ms, summed), for metrics and benchmarks. */
  readonly stats = { batches: 0, rows: 0, failedRows: 0, statementMs: 0 };
  /** How long each row took from its submit to its commit: gathering, the statement before it, and its own. */
  readonly rowLatency = latencyHistogram('im_commit_row_seconds', 'Time from a chat message being handed to the group commit to its commit.');
  /** How long each statement took, INSERT to commit. */
  readonly statementLatency = latencyHistogram('im_commit_statement_seconds', 'Time each group-commit statement took, from sending it to its commit.');

  private readonly maxRows: number;
  private readonly gatherBelow: number;
  private readonly gatherMs: number;

  constructor(
    private readonly db: CommitTarget,
    private readonly opts: GroupCommitOptions = {},
  ) {
    this.maxRows = opts.maxRows ?? DEFAULT_COMMIT_MAX_ROWS;
    this.gatherBelow = opts.gatherBelow ?? DEFAULT_COMMIT_GATHER_BELOW;
    this.gatherMs = opts.gatherMs ?? DEFAULT_COMMIT_GATHER_MS;
    this.maxBacklogBytes = opts.maxBacklogBytes ?? DEFAULT_COMMIT_MAX_BACKLOG_MB * 1024 * 1024;
  }

  /**
   * Whether so much waits for Postgres that no new message should be taken (`maxBacklogBytes`): its
   * chatter refuses it `overloaded` before giving it a seq, so nothing breaks, and its client re-sends later.
   */
  get full(): boolean {
    return this.queuedBytes >= this.maxBacklogBytes;
  }

  /** Queues one row under its shard's fence; resolves with the commit time once durable. */
  submit(fence: Fence, row: NewMessage): Promise<number> {
    if (this.closed) return Promise.reject(new ImError(ErrorCode.CLOSED, 'the node is closing'));
    if (this.broken.has(row.convId)) return Promise.reject(new ImError(ErrorCode.UNAVAILABLE, `conversation ${row.convId} is reloading after a failed commit; re-send`));
    return new Promise<number>((resolve, reject) => {
      const p: Pending = { fence, row, resolve, reject, at: performance.now() };
      this.queuedBytes += rowBytes(p);
      this.queue.push(p);
      if (!this.running && !this.scheduled) {
        this.scheduled = true;
        // Whatever else arrives in this turn of the event loop joins the same statement.
        setImmediate(() => {
          this.scheduled = false;
          void this.run();
        });
      }
    });
  }

  /** Lets a reloaded chatter commit again. */
  reset(convId: string): void {
    this.broken.delete(convId);
  }

  /**
   * Resolves once no statement whose outcome this node never learned can still commit: a reloading chatter reads its
   * last seq only then. UNAVAILABLE past `timeoutMs` (Postgres out of reach): the reload fails, its client re-sends.
   */
  async settled(timeoutMs = SETTLED_WAIT_MS): Promise<void> {
    if (this.doubt !== undefined && !(await this.settledWithin(timeoutMs))) throw unsettled();
  }

  /** Waits up to `ms` for a doubt to be settled; true when none is left. */
  private async settledWithin(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.doubt, new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
    clearTimeout(timer);
    return this.doubt === undefined;
  }

  /** Rows waiting or being written. */
  get backlog(): number {
    return this.queue.length;
  }

  /** What the rows waiting or being written hold, as `full` counts it. */
  get backlogBytes(): number {
    return this.queuedBytes;
  }

  /** Waits until every queued row is committed or refused; new submits are refused. */
  async close(): Promise<void> {
    this.closed = true;
    if (!this.running && this.queue.length === 0) return;
    await new Promise<void>((r) => this.idle.push(r));
  }

  private async run(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      let streaming = false;
      while (this.queue.length > 0) {
        // A lone message goes at once; only rows that queued up behind a statement wait, and never past a close.
        if (streaming && this.queue.length < this.gatherBelow && !this.closed) await sleep(this.gatherMs);
        streaming = true;
        if (this.doubt !== undefined && !(await this.settledWithin(this.opts.settleWaitMs ?? SETTLED_WAIT_MS))) {
          // Not sent, so no doubt about these: refused rather than held without an answer while Postgres is away.
          const waiting = this.queue;
          this.queue = [];
          this.fail(waiting, unsettled());
          continue;
        }
        const batch = this.queue.length <= this.maxRows ? this.queue : this.queue.slice(0, this.maxRows);
        this.queue = batch === this.queue ? [] : this.queue.slice(this.maxRows);
        await this.write(batch);
      }
    } finally {
      this.running = false;
      for (const r of this.idle.splice(0)) r();
    }
  }

  private async write(batch: Pending[]): Promise<void> {
    if (this.db.ready !== undefined) {
      try {
        await this.db.ready();
      } catch (err) {
        // Told like a failed statement: a connection Postgres does not show under its name is a setup error to fix.
        this.opts.onError?.(toImError(err, ErrorCode.STORAGE), batch.length);
        return this.fail(batch, new ImError(ErrorCode.UNAVAILABLE, 'the group commit connection is not ready; re-send', { cause: err }));
      }
    }
    const groups = new Map<number, { shard: ShardRows; items: Pending[] }>();
    for (const p of batch) {
      let g = groups.get(p.fence.shard);
      if (g === undefined || g.shard.fence.epoch !== p.fence.epoch) {
        // Two epochs of one shard on one node cannot both be current; the older rows are refused below.
        if (g !== undefined && g.shard.fence.epoch > p.fence.epoch) {
          this.fail([p], new ImError(ErrorCode.FENCED, `shard ${p.fence.shard} moved on to epoch ${g.shard.fence.epoch}`));
          continue;
        }
        if (g !== undefined) this.fail(g.items, new ImError(ErrorCode.FENCED, `shard ${p.fence.shard} moved on to epoch ${p.fence.epoch}`));
        g = { shard: { fence: p.fence, rows: [] }, items: [] };
        groups.set(p.fence.shard, g);
      }
      g.shard.rows.push(p.row);
      g.items.push(p);
    }
    const list = [...groups.values()].filter((g) => g.items.length > 0);
    let outcomes;
    const started = performance.now();
    try {
      outcomes = await appendAcrossShards(this.db.sql, list.map((g) => g.shard));
    } catch (err) {
      const e = toImError(err, ErrorCode.STORAGE);
      const items = list.flatMap((g) => g.items);
      this.opts.onError?.(e, items.length);
      // Only an ERROR from Postgres itself says the statement was rolled back; anything else (a deadline, a dropped or
      // broken link, a FATAL) may yet commit.
      if (this.db.settle !== undefined && !rolledBack(e)) this.doubt ??= this.settleDoubt();
      this.fail(items, e);
      return;
    } finally {
      const ms = performance.now() - started;
      this.stats.statementMs += ms;
      this.statementLatency.observe(ms / 1000);
    }
    this.stats.batches++;
    list.forEach((g, i) => {
      const o = outcomes[i]!;
      if (o.ok) {
        this.stats.rows += g.items.length;
        const now = performance.now();
        for (const p of g.items) {
          this.rowLatency.observe((now - p.at) / 1000);
          this.queuedBytes -= rowBytes(p);
          p.resolve(o.createdAt);
        }
      } else this.fail(g.items, o.error);
    });
  }

  /** Settles an unknown outcome, again and again while Postgres is out of reach, until it is done or the node closes. */
  private async settleDoubt(): Promise<void> {
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          return await this.db.settle?.();
        } catch (err) {
          if (this.closed) return; // the shard's next owner fences the statement out instead
          this.opts.onSettleError?.(toImError(err, ErrorCode.STORAGE));
          await sleep(Math.min(SETTLE_RETRY_CAP_MS, SETTLE_RETRY_BASE_MS * 2 ** attempt));
        }
      }
    } finally {
      this.doubt = undefined;
    }
  }

  /** Refuses rows, and with them everything queued for their conversations (their chains are broken now). */
  private fail(items: Pending[], error: ImError): void {
    for (const p of items) this.broken.add(p.row.convId);
    const rest: Pending[] = [];
    const dropped: Pending[] = [];
    for (const q of this.queue) (this.broken.has(q.row.convId) ? dropped : rest).push(q);
    this.queue = rest;
    this.stats.failedRows += items.length + dropped.length;
    for (const p of items) this.queuedBytes -= rowBytes(p);
    for (const p of dropped) this.queuedBytes -= rowBytes(p);
    for (const p of items) p.reject(error);
    for (const p of dropped) p.reject(new ImError(ErrorCode.UNAVAILABLE, `an earlier message of ${p.row.convId} failed to commit; re-send`, { cause: error }));
  }
}

function unsettled(): ImError {
  return new ImError(ErrorCode.UNAVAILABLE, 'a group commit statement of unknown outcome is not settled yet; re-send');
}
