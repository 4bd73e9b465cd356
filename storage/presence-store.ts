import { checkId } from './ids.js';
import type { Sql } from './db.js';
import { MaxBatchWriter } from './max-batch-writer.js';
import { bounded, DEFAULT_STATEMENT_TIMEOUT_MS } from './pg-errors.js';

/** One user's latest presence change on its way to Postgres; `seen` is the latest time they went offline. */
interface PresenceRow {
  uid: string;
  ms: number;
  /** Set when the change is "online": the node life that announced it and the device that brought them online. */
  life?: string;
  did?: string;
  seen?: number;
}

/** A user a dead node life still holds online: their connector is told (`did`: the device that brought them online). */
export interface LostUser {
  uid: string;
  did: string;
}

/**
 * Presence as the cluster announced it: who is online through which node life (online_users), and when users were
 * last online (user_last_seen, "last seen" in direct conversations). Changes are written in batches, one statement
 * per turn: a gateway dying takes thousands of users offline at once, and a statement each would queue behind them
 * every message the node commits. A change's time (`at`) orders the writes of nodes that held the user one after
 * another while the row is there: a late write of an earlier change does not move it back. (One that lands after
 * the row was deleted makes it again: the sweep's takeLost tells such a row by a later last seen.)
 */
export class PresenceStore {
  private readonly writer: MaxBatchWriter<PresenceRow>;

  constructor(
    private readonly sql: Sql,
    private readonly timeoutMs = DEFAULT_STATEMENT_TIMEOUT_MS,
    onError: (err: unknown) => void = () => {},
  ) {
    this.writer = new MaxBatchWriter<PresenceRow>({
      delayMs: 0,
      // The later change wins; a last-seen time carried by the earlier one is kept.
      merge: (had, next) => {
        const later = next.ms >= had.ms ? next : had;
        const seen = Math.max(had.seen ?? 0, next.seen ?? 0);
        return seen > 0 ? { ...later, seen } : later;
      },
      // A change that failed to be written (a database blip) is written later, after a growing pause, merged with
      // whatever came since: lost, an `offline` would leave the user's row on this node's life, and the user would
      // be announced offline again, with a wrong last seen, the day this node stops.
      retry: true,
      // Two nodes' batches lock the rows they share in one order: no deadlock between them.
      sort: (a, b) => (a.uid < b.uid ? -1 : a.uid > b.uid ? 1 : 0),
      onError,
      write: (part) => this.write(part),
    });
  }

  /** Records, soon, that `life` announced `uid` online at `atMs` (its device `did` first). */
  online(uid: string, did: string, life: string, atMs: number): void {
    checkId(uid, 'uid');
    this.writer.add(uid, { uid, ms: atMs, life, did });
  }

  /** Records, soon, that `uid` went offline at `atMs`: their last seen, unless a later one is stored. */
  offline(uid: string, atMs: number): void {
    checkId(uid, 'uid');
    this.writer.add(uid, { uid, ms: atMs, seen: atMs });
  }

  /** Writes what is recorded so far; resolves once it is stored (or failed: `onError` was told). */
  flush(): Promise<void> {
    return this.writer.flush();
  }

  /** Drops what is recorded of `uid` and not written yet (an erased user: a late write would make their rows again). */
  forget(uid: string): void {
    this.writer.forget(uid);
  }

  /** Writes what is recorded (once) and takes no more: a failed write is not tried again after the pool ended. */
  close(): Promise<void> {
    return this.writer.close();
  }

  /** The last-seen times (epoch ms) of those of `uids` that were ever recorded. */
  async lastSeen(uids: readonly string[]): Promise<Map<string, number>> {
    for (const uid of uids) checkId(uid, 'uid');
    if (uids.length === 0) return new Map();
    const rows = await bounded('read last seen', this.sql<{ uid: string; last_seen: Date }[]>`
      SELECT uid, last_seen FROM user_last_seen WHERE uid = ANY(${uids as string[]}::text[])`, this.timeoutMs);
    return new Map(rows.map((r) => [r.uid, r.last_seen.getTime()]));
  }

  /** The node lives that announced anyone online now (a skip scan of the index: there are few, the rows many). */
  async lives(): Promise<string[]> {
    const rows = await bounded('read presence lives', this.sql<{ life: string }[]>`
      WITH RECURSIVE l(life) AS (
        SELECT min(life) FROM online_users
        UNION ALL
        SELECT (SELECT min(o.life) FROM online_users o WHERE o.life > l.life) FROM l WHERE l.life IS NOT NULL
      )
      SELECT life FROM l WHERE life IS NOT NULL`, this.timeoutMs);
    return rows.map((r) => r.life);
  }

  /**
   * Claims up to `limit` users announced online by `life` that no node claimed in the last `claimMs`: the caller
   * sweeps them, and another node sweeping the same life meanwhile skips them.
   */
  async claim(life: string, limit: number, claimMs: number): Promise<string[]> {
    const rows = await bounded('claim presence rows', this.sql<{ uid: string }[]>`
      UPDATE online_users SET swept_at = now() WHERE uid IN (
        SELECT uid FROM online_users WHERE life = ${life} AND (swept_at IS NULL OR swept_at < now() - ${claimMs} * interval '1 millisecond')
        LIMIT ${limit} FOR UPDATE SKIP LOCKED
      ) RETURNING uid`, this.timeoutMs);
    return rows.map((r) => r.uid);
  }

  /** Those of `uids` that `life` still holds online (no later announcement of theirs replaced its row). */
  async stillOn(life: string, uids: readonly string[]): Promise<LostUser[]> {
    if (uids.length === 0) return [];
    return bounded('read lost presence rows', this.sql<LostUser[]>`
      SELECT uid, did FROM online_users WHERE uid = ANY(${uids as string[]}::text[]) AND life = ${life} ORDER BY uid`, this.timeoutMs);
  }

  /** Up to `limit` of the users `life` holds online, by uid after `afterUid`: a node pages through its own this way. */
  async announcedBy(life: string, afterUid: string, limit: number): Promise<LostUser[]> {
    return bounded('read presence rows of a life', this.sql<LostUser[]>`
      SELECT uid, did FROM online_users WHERE life = ${life} AND uid > ${afterUid} ORDER BY uid LIMIT ${limit}`, this.timeoutMs);
  }

  /**
   * Deletes `uid`'s row if the dead `life` still holds it; undefined when it does not (someone announced them since,
   * or took the row already). `offlineSince`: they went offline after it announced them online (a row a late write
   * made again), so nobody is to be told.
   */
  async takeLost(uid: string, life: string): Promise<{ offlineSince: boolean } | undefined> {
    const [row] = await bounded('take a lost presence row', this.sql<{ offline_since: boolean }[]>`
      DELETE FROM online_users o WHERE uid = ${uid} AND life = ${life}
      RETURNING EXISTS (SELECT 1 FROM user_last_seen s WHERE s.uid = o.uid AND s.last_seen >= to_timestamp(o.at / 1000.0)) AS offline_since`, this.timeoutMs);
    return row === undefined ? undefined : { offlineSince: row.offline_since };
  }

  /** Moves `uid`'s row from the dead `life` to `own` (a device of theirs is back through it), whatever the clocks say. */
  async adopt(uid: string, life: string, own: string, did: string, atMs: number): Promise<void> {
    await bounded('adopt a lost presence row', this.sql`
      UPDATE online_users SET life = ${own}, did = ${did}, at = GREATEST(at, ${atMs}), swept_at = NULL WHERE uid = ${uid} AND life = ${life}`, this.timeoutMs);
  }

  /** The other members of `uid`'s direct conversations: whom their presence goes to. */
  async directPeers(uid: string): Promise<string[]> {
    const rows = await bounded('read direct peers', this.sql<{ uid: string }[]>`
      SELECT p.uid FROM members m
      JOIN conversations c ON c.conv_id = m.conv_id AND c.kind = 'direct'
      JOIN members p ON p.conv_id = m.conv_id AND p.uid <> m.uid
      WHERE m.uid = ${uid}`, this.timeoutMs);
    return rows.map((r) => r.uid);
  }

  private async write(part: PresenceRow[]): Promise<void> {
    const col = <T>(f: (r: PresenceRow) => T): T[] => part.map(f);
    // A data-modifying WITH runs whether or not the query reads it.
    await bounded('record presence', this.sql`
      WITH t AS (
        SELECT * FROM unnest(${col((r) => r.uid)}::text[], ${col((r) => r.ms)}::float8[], ${col((r) => r.life ?? null)}::text[],
          ${col((r) => r.did ?? null)}::text[], ${col((r) => r.seen ?? null)}::float8[]) AS t(uid, ms, life, did, seen)
      ),
      s AS (
        INSERT INTO user_last_seen (uid, last_seen) SELECT uid, to_timestamp(seen / 1000) FROM t WHERE seen IS NOT NULL
        ON CONFLICT (uid) DO UPDATE SET last_seen = GREATEST(user_last_seen.last_seen, EXCLUDED.last_seen)
        RETURNING 1
      ),
      d AS (DELETE FROM online_users o USING t WHERE o.uid = t.uid AND t.life IS NULL AND o.at <= t.ms RETURNING 1)
      INSERT INTO online_users (uid, life, did, at) SELECT uid, life, did, ms::bigint FROM t WHERE life IS NOT NULL
      ON CONFLICT (uid) DO UPDATE SET life = EXCLUDED.life, did = EXCLUDED.did, at = EXCLUDED.at, swept_at = NULL
      WHERE online_users.at <= EXCLUDED.at`, this.timeoutMs);
  }
}
