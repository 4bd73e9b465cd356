import { checkId } from './ids.js';
import type { Sql } from './db.js';
import { bounded, DEFAULT_STATEMENT_TIMEOUT_MS } from './pg-errors.js';

/** Rows one last-seen statement writes at most (a gateway's worth of users leaving at once takes a few). */
const MAX_ROWS_PER_WRITE = 5_000;

/**
 * When users were last online (their last device left), for "last seen" in direct conversations. Times are
 * recorded in batches, one statement per turn: a gateway dying takes thousands of users offline at once, and a
 * statement each would queue behind them every message the node commits.
 */
export class LastSeenStore {
  private pending = new Map<string, number>();
  private scheduled = false;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly sql: Sql,
    private readonly timeoutMs = DEFAULT_STATEMENT_TIMEOUT_MS,
    private readonly onError: (err: unknown) => void = () => {},
  ) {}

  /** Records, soon, that `uid` went offline at `atMs`; an earlier time than the one stored changes nothing. */
  record(uid: string, atMs: number): void {
    checkId(uid, 'uid');
    this.pending.set(uid, Math.max(atMs, this.pending.get(uid) ?? 0));
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => void this.flush());
  }

  /** Writes what is recorded so far; resolves once it is stored (or failed: `onError` was told). */
  flush(): Promise<void> {
    this.scheduled = false;
    if (this.pending.size > 0) {
      const batch = [...this.pending];
      this.pending = new Map();
      // One write at a time, in order: a later time for a user never lands before an earlier one.
      this.writing = this.writing.then(() => this.write(batch)).catch(this.onError);
    }
    return this.writing;
  }

  /** The last-seen times (epoch ms) of those of `uids` that were ever recorded. */
  async of(uids: readonly string[]): Promise<Map<string, number>> {
    for (const uid of uids) checkId(uid, 'uid');
    if (uids.length === 0) return new Map();
    const rows = await bounded('read last seen', this.sql<{ uid: string; last_seen: Date }[]>`
      SELECT uid, last_seen FROM user_last_seen WHERE uid = ANY(${uids as string[]}::text[])`, this.timeoutMs);
    return new Map(rows.map((r) => [r.uid, r.last_seen.getTime()]));
  }

  private async write(batch: [string, number][]): Promise<void> {
    for (let i = 0; i < batch.length; i += MAX_ROWS_PER_WRITE) {
      const part = batch.slice(i, i + MAX_ROWS_PER_WRITE);
      await bounded('record last seen', this.sql`
        INSERT INTO user_last_seen (uid, last_seen)
        SELECT uid, to_timestamp(ms / 1000) FROM unnest(${part.map(([uid]) => uid)}::text[], ${part.map(([, ms]) => ms)}::float8[]) AS t(uid, ms)
        ON CONFLICT (uid) DO UPDATE SET last_seen = GREATEST(user_last_seen.last_seen, EXCLUDED.last_seen)`, this.timeoutMs);
    }
  }
}
