import { checkId } from './ids.js';
import type { Sql } from './db.js';
import { MaxBatchWriter } from './max-batch-writer.js';
import { bounded, DEFAULT_STATEMENT_TIMEOUT_MS } from './pg-errors.js';

/**
 * When users were last online (their last device left), for "last seen" in direct conversations. Times are
 * recorded in batches, one statement per turn: a gateway dying takes thousands of users offline at once, and a
 * statement each would queue behind them every message the node commits.
 */
export class LastSeenStore {
  private readonly writer: MaxBatchWriter<[string, number]>;

  constructor(
    private readonly sql: Sql,
    private readonly timeoutMs = DEFAULT_STATEMENT_TIMEOUT_MS,
    onError: (err: unknown) => void = () => {},
  ) {
    this.writer = new MaxBatchWriter<[string, number]>({
      delayMs: 0,
      merge: (had, next) => (next[1] > had[1] ? next : had),
      retry: false,
      onError,
      write: async (part) => {
        await bounded('record last seen', this.sql`
          INSERT INTO user_last_seen (uid, last_seen)
          SELECT uid, to_timestamp(ms / 1000) FROM unnest(${part.map(([uid]) => uid)}::text[], ${part.map(([, ms]) => ms)}::float8[]) AS t(uid, ms)
          ON CONFLICT (uid) DO UPDATE SET last_seen = GREATEST(user_last_seen.last_seen, EXCLUDED.last_seen)`, this.timeoutMs);
      },
    });
  }

  /** Records, soon, that `uid` went offline at `atMs`; an earlier time than the one stored changes nothing. */
  record(uid: string, atMs: number): void {
    checkId(uid, 'uid');
    this.writer.add(uid, [uid, atMs]);
  }

  /** Writes what is recorded so far; resolves once it is stored (or failed: `onError` was told). */
  flush(): Promise<void> {
    return this.writer.flush();
  }

  /** The last-seen times (epoch ms) of those of `uids` that were ever recorded. */
  async of(uids: readonly string[]): Promise<Map<string, number>> {
    for (const uid of uids) checkId(uid, 'uid');
    if (uids.length === 0) return new Map();
    const rows = await bounded('read last seen', this.sql<{ uid: string; last_seen: Date }[]>`
      SELECT uid, last_seen FROM user_last_seen WHERE uid = ANY(${uids as string[]}::text[])`, this.timeoutMs);
    return new Map(rows.map((r) => [r.uid, r.last_seen.getTime()]));
  }
}
