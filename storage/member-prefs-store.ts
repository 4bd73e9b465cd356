import { ErrorCode, ImError } from '../protocol/errors.js';
import { checkId } from './ids.js';
import type { Sql } from './db.js';
import { DEFAULT_MAX_PINNED } from '../protocol/limits.js';
import { bounded, DEFAULT_STATEMENT_TIMEOUT_MS } from './pg-errors.js';
import { checkFence, fencedError, fenceRow } from './fence.js';
import type { Fence } from './types.js';

/** A member's list preferences for one conversation: when pinned, archived and marked unread (epoch ms; 0: not). */
export interface MemberPrefs {
  pinnedAt: number;
  archivedAt: number;
  markedUnreadAt: number;
}

/** What a `prefs` changes (what is not named keeps its value). */
export interface PrefsChange {
  pinned?: boolean;
  archived?: boolean;
  /** Mark as unread (true), or take the mark off (false); the user's next read mark in the conversation takes it off too. */
  unread?: boolean;
}

/**
 * Members' own list preferences (`members.pinned_at`, `members.archived_at`, `members.marked_unread_at`) and history
 * clears (`members.cleared_seq`). They change nothing anyone else sees and nothing a message does, so no chatter takes
 * part: preferences are written by the user's connector (in turn with their reads, which take a mark as unread off),
 * clears straight from the gateway.
 */
export class MemberPrefsStore {
  constructor(
    private readonly sql: Sql,
    private readonly timeoutMs = DEFAULT_STATEMENT_TIMEOUT_MS,
    private readonly maxPinned = DEFAULT_MAX_PINNED,
  ) {
    if (!Number.isSafeInteger(maxPinned) || maxPinned < 1) throw new RangeError('maxPinned must be a positive integer');
  }

  /**
   * Pins or unpins, archives or unarchives, marks unread or not `convId` for `uid` (what is not named keeps its value)
   * and returns what is stored; doing one again keeps the first time. NOT_MEMBER when `uid` is not in it; LIMIT_REACHED
   * (and nothing changed) for a new pin of a user who has `maxPinned` pinned already. Counted in the statement, not
   * locked: two devices pinning at the same instant may each pass and take the user one over. Under `fence` (the
   * user's connector shard), FENCED and nothing changed once another node owns the shard: a late write of an old
   * owner would otherwise put back a mark as unread that a read on the new owner took off.
   */
  async set(uid: string, convId: string, change: PrefsChange, fence?: Fence, now = Date.now()): Promise<MemberPrefs> {
    checkId(uid, 'uid');
    checkId(convId, 'convId');
    checkFence(fence);
    const sql = this.sql;
    const at = (on: boolean | undefined, column: 'pinned_at' | 'archived_at' | 'marked_unread_at') =>
      on === undefined ? sql`${sql(column)}` : on ? sql`CASE WHEN ${sql(column)} > 0 THEN ${sql(column)} ELSE ${now}::int8 END` : sql`0`;
    const pinsFull = change.pinned === true
      ? sql`(SELECT count(*) FROM (SELECT 1 FROM members p WHERE p.uid = ${uid} AND p.pinned_at > 0 LIMIT ${this.maxPinned}) z) >= ${this.maxPinned}`
      : sql`false`;
    const rows = await bounded('set member prefs', sql<{ fence_ok: boolean; member: boolean; refused: boolean; pinned_at: number | null; archived_at: number | null; marked_unread_at: number | null }[]>`
      WITH f AS MATERIALIZED (${fenceRow(sql, fence)}),
      me AS (SELECT pinned_at FROM members WHERE conv_id = ${convId} AND uid = ${uid}),
      refused AS (SELECT (SELECT pinned_at FROM me) = 0 AND ${pinsFull} AS refused),
      upd AS (
        UPDATE members SET pinned_at = ${at(change.pinned, 'pinned_at')}, archived_at = ${at(change.archived, 'archived_at')},
          marked_unread_at = ${at(change.unread, 'marked_unread_at')}
        WHERE conv_id = ${convId} AND uid = ${uid} AND NOT (SELECT refused FROM refused) AND EXISTS (SELECT 1 FROM f)
        RETURNING pinned_at, archived_at, marked_unread_at
      )
      SELECT EXISTS (SELECT 1 FROM f) AS fence_ok, EXISTS (SELECT 1 FROM me) AS member, refused.refused, upd.pinned_at, upd.archived_at, upd.marked_unread_at FROM refused LEFT JOIN upd ON true`, this.timeoutMs);
    const r = rows[0]!;
    if (!r.fence_ok) throw fencedError(fence!, 'set member prefs');
    if (!r.member) throw new ImError(ErrorCode.NOT_MEMBER, `${uid} is not a member of ${convId}`);
    if (r.refused) throw new ImError(ErrorCode.LIMIT_REACHED, `${uid} has ${this.maxPinned} conversations pinned, the most one user may have; unpin one first`);
    return { pinnedAt: r.pinned_at!, archivedAt: r.archived_at!, markedUnreadAt: r.marked_unread_at! };
  }

  /**
   * Clears `convId`'s history for `uid` up to `seq` (never back, and capped at the conversation's last seq, as a
   * read mark is: a mark past it would hide the next messages) and returns the stored mark. NOT_MEMBER when `uid`
   * is not in it.
   */
  async clear(uid: string, convId: string, seq: number): Promise<number> {
    checkId(uid, 'uid');
    checkId(convId, 'convId');
    if (!Number.isSafeInteger(seq) || seq < 0) throw new ImError(ErrorCode.INVALID_FIELD, 'seq must be a non-negative safe integer');
    // What the user hid up to the mark is not served to them at all any more: those rows go (migration 330).
    const rows = await bounded('clear history', this.sql<{ cleared_seq: number }[]>`
      WITH up AS (
        UPDATE members SET cleared_seq = GREATEST(cleared_seq, LEAST(${seq}::int8,
          COALESCE((SELECT max(seq) FROM messages WHERE conv_id = ${convId}), 0)))
        WHERE conv_id = ${convId} AND uid = ${uid}
        RETURNING cleared_seq
      ),
      unhidden AS (DELETE FROM hidden_messages WHERE uid = ${uid} AND conv_id = ${convId} AND seq <= (SELECT cleared_seq FROM up))
      SELECT cleared_seq FROM up`, this.timeoutMs);
    if (rows.length === 0) throw new ImError(ErrorCode.NOT_MEMBER, `${uid} is not a member of ${convId}`);
    return rows[0]!.cleared_seq;
  }
}
