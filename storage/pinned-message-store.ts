import type postgres from 'postgres';
import { ErrorCode, ImError } from '../protocol/errors.js';
import type { Pin } from '../protocol/frames.js';
import { MAX_PINNED_MESSAGES } from '../protocol/limits.js';
import type { Sql } from './db.js';
import { checkFence, fencedError, fenceRow } from './fence.js';
import { checkId } from './ids.js';
import type { Fence } from './types.js';
import { bounded, DEFAULT_STATEMENT_TIMEOUT_MS } from './pg-errors.js';

/** A pin row as `livePins` builds it in JSON. */
export interface PinRow {
  seq: number;
  by: string | null;
  at: number;
}

/**
 * The pins of conversation `conv` (an SQL expression) still served, as a JSON array (null when none), the latest
 * pin first: a recalled message, or one past the retention, is pinned no more.
 */
export function livePins(sql: Sql, conv: postgres.Fragment): postgres.Fragment {
  return sql`(SELECT json_agg(json_build_object('seq', p.seq, 'by', p.pinned_by, 'at', p.pinned_at) ORDER BY p.pinned_at DESC, p.seq DESC)
    FROM pinned_messages p JOIN messages m ON m.conv_id = p.conv_id AND m.seq = p.seq
    WHERE p.conv_id = ${conv} AND m.recalled_by IS NULL AND p.seq > COALESCE((SELECT expired_seq FROM conversations x WHERE x.conv_id = ${conv}), 0))`;
}

/** The JSON of `livePins` as the protocol's pins (no `by` for the business server's). */
export function pinsOf(rows: PinRow[] | null): Pin[] {
  return (rows ?? []).map((r) => (r.by === null ? { seq: r.seq, at: r.at } : { seq: r.seq, by: r.by, at: r.at }));
}

/**
 * Messages pinned in a conversation for all its members (`pinned_messages`, migration 360). Written by the
 * conversation's chatter, which checks who may pin what and tells the members; read with users' lists.
 */
export class PinnedMessageStore {
  constructor(
    private readonly sql: Sql,
    private readonly timeoutMs = DEFAULT_STATEMENT_TIMEOUT_MS,
  ) {}

  /**
   * Pins message `seq` of `convId` (`pinned`; by `by`, null: the business server) or unpins it, and returns the
   * conversation's pins then. Pinning again keeps the first pin; unpinning what is not pinned changes nothing.
   * LIMIT_REACHED for a new pin past `max`. The caller checked the message (a plain one, still served).
   */
  async set(convId: string, seq: number, pinned: boolean, by: string | null, max = MAX_PINNED_MESSAGES, fence?: Fence): Promise<Pin[]> {
    checkId(convId, 'convId');
    if (by !== null) checkId(by, 'by');
    if (!Number.isSafeInteger(seq) || seq < 1) throw new ImError(ErrorCode.INVALID_FIELD, 'seq must be a positive integer');
    const sql = this.sql;
    // The list after the change is read by a second statement: one statement does not see its own writes. The
    // conversation's chatter makes every change, one at a time, so nothing comes between the two.
    checkFence(fence);
    const rows = await bounded('pin message', sql<{ before: PinRow[] | null; fence_ok: boolean }[]>`
      WITH f AS MATERIALIZED (${fenceRow(sql, fence)}),
      before AS (SELECT ${livePins(sql, sql`${convId}`)} AS pins),
      ins AS (
        INSERT INTO pinned_messages (conv_id, seq, pinned_by, pinned_at)
        SELECT ${convId}, ${seq}, ${by}, ${Date.now()} WHERE ${pinned}::boolean AND COALESCE(json_array_length((SELECT pins FROM before)), 0) < ${max} AND EXISTS (SELECT 1 FROM f)
        ON CONFLICT (conv_id, seq) DO NOTHING RETURNING 1
      ),
      del AS (DELETE FROM pinned_messages WHERE NOT ${pinned}::boolean AND conv_id = ${convId} AND seq = ${seq} AND EXISTS (SELECT 1 FROM f) RETURNING 1)
      SELECT (SELECT pins FROM before) AS before, EXISTS (SELECT 1 FROM f) AS fence_ok`, this.timeoutMs);
    if (!rows[0]!.fence_ok) throw fencedError(fence!, 'pin message');
    const before = rows[0]!.before ?? [];
    if (pinned && !before.some((p) => p.seq === seq) && before.length >= max) {
      throw new ImError(ErrorCode.LIMIT_REACHED, `${convId} has ${before.length} pinned messages, the most it may have: unpin one first`);
    }
    return this.list(convId);
  }

  /** The pins of `convId` still served, the latest pin first. */
  async list(convId: string): Promise<Pin[]> {
    checkId(convId, 'convId');
    const rows = await bounded('list pins', this.sql<{ pins: PinRow[] | null }[]>`SELECT ${livePins(this.sql, this.sql`${convId}`)} AS pins`, this.timeoutMs);
    return pinsOf(rows[0]!.pins);
  }
}
