import { ErrorCode, ImError } from '../protocol/errors.js';
import { checkId } from './ids.js';
import type { Sql } from './db.js';
import { bounded, DEFAULT_STATEMENT_TIMEOUT_MS } from './pg-errors.js';

/** A member's list preferences for one conversation: when pinned and when archived (epoch ms; 0: not). */
export interface MemberPrefs {
  pinnedAt: number;
  archivedAt: number;
}

/**
 * Members' own list preferences (`members.pinned_at`, `members.archived_at`) and history clears
 * (`members.cleared_seq`). They change nothing anyone else sees and nothing a message does, so a device's change is
 * written straight from its gateway.
 */
export class MemberPrefsStore {
  constructor(
    private readonly sql: Sql,
    private readonly timeoutMs = DEFAULT_STATEMENT_TIMEOUT_MS,
  ) {}

  /**
   * Pins or unpins, archives or unarchives `convId` for `uid` (what is not named keeps its value) and returns what
   * is stored; pinning or archiving again keeps the first time. NOT_MEMBER when `uid` is not in it.
   */
  async set(uid: string, convId: string, change: { pinned?: boolean; archived?: boolean }, now = Date.now()): Promise<MemberPrefs> {
    checkId(uid, 'uid');
    checkId(convId, 'convId');
    const at = (on: boolean | undefined, column: 'pinned_at' | 'archived_at') =>
      on === undefined ? this.sql`${this.sql(column)}` : on ? this.sql`CASE WHEN ${this.sql(column)} > 0 THEN ${this.sql(column)} ELSE ${now}::int8 END` : this.sql`0`;
    const rows = await bounded('set member prefs', this.sql<{ pinned_at: number; archived_at: number }[]>`
      UPDATE members SET pinned_at = ${at(change.pinned, 'pinned_at')}, archived_at = ${at(change.archived, 'archived_at')}
      WHERE conv_id = ${convId} AND uid = ${uid}
      RETURNING pinned_at, archived_at`, this.timeoutMs);
    if (rows.length === 0) throw new ImError(ErrorCode.NOT_MEMBER, `${uid} is not a member of ${convId}`);
    return { pinnedAt: rows[0]!.pinned_at, archivedAt: rows[0]!.archived_at };
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
    const rows = await bounded('clear history', this.sql<{ cleared_seq: number }[]>`
      UPDATE members SET cleared_seq = GREATEST(cleared_seq, LEAST(${seq}::int8,
        COALESCE((SELECT max(seq) FROM messages WHERE conv_id = ${convId}), 0)))
      WHERE conv_id = ${convId} AND uid = ${uid}
      RETURNING cleared_seq`, this.timeoutMs);
    if (rows.length === 0) throw new ImError(ErrorCode.NOT_MEMBER, `${uid} is not a member of ${convId}`);
    return rows[0]!.cleared_seq;
  }
}
