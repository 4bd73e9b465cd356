import { checkId } from './ids.js';
import type { Sql } from './db.js';
import { bounded, DEFAULT_STATEMENT_TIMEOUT_MS } from './pg-errors.js';

/** How long delivery marks gather before one statement stores them all. */
export const DEFAULT_DELIVERED_FLUSH_MS = 500;
/** Rows one statement writes at most. */
const MAX_ROWS_PER_WRITE = 5_000;

interface Mark {
  conv: string;
  uid: string;
  seq: number;
}

/**
 * Members' delivery marks (the highest seq a device of theirs acknowledged holding), stored in batches: every
 * acknowledged message moves one, and a statement per ack would double what Postgres does per message. A mark
 * only ever grows, so batches need no fence: a stale writer cannot move one back. A batch that fails is tried again
 * with the next one.
 */
export class DeliveredMarkStore {
  private pending = new Map<string, Mark>();
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly sql: Sql,
    private readonly opts: { flushMs?: number; timeoutMs?: number; onError?: (err: unknown) => void } = {},
  ) {}

  /** Records, soon, that a device of `uid` holds `conv` up to `seq`. */
  record(conv: string, uid: string, seq: number): void {
    if (this.closed) return;
    checkId(conv, 'conv');
    checkId(uid, 'uid');
    const key = `${conv}\n${uid}`;
    const had = this.pending.get(key);
    if (had) had.seq = Math.max(had.seq, seq);
    else this.pending.set(key, { conv, uid, seq });
    this.timer ??= setTimeout(() => void this.flush(), this.opts.flushMs ?? DEFAULT_DELIVERED_FLUSH_MS);
  }

  /** Writes what is recorded so far; resolves once it is stored (or failed: `onError` was told). */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.size > 0) {
      // Sorted, so that two writers lock the rows they share in one order.
      const batch = [...this.pending.values()].sort((a, b) => (a.conv < b.conv ? -1 : a.conv > b.conv ? 1 : a.uid < b.uid ? -1 : a.uid > b.uid ? 1 : 0));
      this.pending = new Map();
      this.writing = this.writing
        .then(() => this.write(batch))
        .catch((err) => {
          // Kept for the next batch (Postgres restarting, a deadline): the members may not ack again for a long time.
          for (const m of batch) this.record(m.conv, m.uid, m.seq);
          this.opts.onError?.(err);
        });
    }
    return this.writing;
  }

  /** Writes what is recorded (once: a failure now is not tried again) and takes no more. */
  close(): Promise<void> {
    const last = this.flush();
    this.closed = true;
    return last;
  }

  private get timeoutMs(): number {
    return this.opts.timeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS;
  }

  private async write(batch: Mark[]): Promise<void> {
    for (let i = 0; i < batch.length; i += MAX_ROWS_PER_WRITE) {
      const part = batch.slice(i, i + MAX_ROWS_PER_WRITE);
      // A member who left meanwhile has no row: nothing to write.
      await bounded('record delivery marks', this.sql`
        UPDATE members m SET delivered_seq = t.seq
        FROM unnest(${part.map((x) => x.conv)}::text[], ${part.map((x) => x.uid)}::text[], ${part.map((x) => x.seq)}::int8[]) AS t(conv_id, uid, seq)
        WHERE m.conv_id = t.conv_id AND m.uid = t.uid AND m.delivered_seq < t.seq`, this.timeoutMs);
    }
  }
}
