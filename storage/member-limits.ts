import type postgres from 'postgres';
import { ErrorCode, ImError } from '../protocol/errors.js';
import { NewcomerHistory } from '../protocol/frames.js';
import type { Sql } from './db.js';

/** A group's size before a create or an add, as `groupSize` reads it in the same statement. */
export interface GroupSize {
  has: number;
  joining: number;
  fits: boolean;
}

/**
 * A new member's `joined_seq, cleared_seq` for `convId` (in an INSERT … SELECT over `u`, their uid): the conversation's
 * last seq now (what came before is history, not unread); and cleared, what they had cleared if they were a member
 * before or, in a group whose newcomers see only what follows their joining (320), everything up to now.
 */
export function joinedAt(sql: Sql, convId: string): postgres.Fragment {
  const last = sql`COALESCE((SELECT max(m.seq) FROM messages m WHERE m.conv_id = ${convId}), 0)`;
  return sql`${last},
    GREATEST(COALESCE((SELECT f.cleared_seq FROM former_members f WHERE f.uid = u AND f.conv_id = ${convId}), 0),
             CASE WHEN (SELECT c.history FROM conversations c WHERE c.conv_id = ${convId}) = ${NewcomerHistory.JOINED} THEN ${last} ELSE 0 END)`;
}

/**
 * How many conversations one user may be in and members one group may have, checked inside the statements that
 * add members (as fragments), and the LIMIT_REACHED errors they end in.
 */
export class MemberLimits {
  constructor(
    private readonly sql: Sql,
    private readonly maxUserConvs: number,
    private readonly maxGroupMembers: number,
  ) {
    if (!Number.isSafeInteger(maxUserConvs) || maxUserConvs < 1) throw new RangeError('maxUserConversations must be a positive integer');
    if (!Number.isSafeInteger(maxGroupMembers) || maxGroupMembers < 2) throw new RangeError('maxGroupMembers must be an integer of at least 2');
  }

  /**
   * One row: how many members `convId` has (counted up to one past the limit), how many of `uids` would join, and
   * whether they `fit` (re-adding members never fails). Checked in the statement, not locked, like `atLimit`.
   */
  groupSize(convId: string, uids: string[]): ReturnType<Sql> {
    return this.sql`SELECT has, joining, (joining = 0 OR has + joining <= ${this.maxGroupMembers}) AS fits FROM (SELECT
      (SELECT count(*) FROM (SELECT 1 FROM members WHERE conv_id = ${convId} LIMIT ${this.maxGroupMembers + 1}) z)::int AS has,
      (SELECT count(*) FROM unnest(${uids}::text[]) AS u WHERE NOT EXISTS (SELECT 1 FROM members x WHERE x.conv_id = ${convId} AND x.uid = u))::int AS joining) n`;
  }

  /** The refusal of a change `groupSize` found would not fit. */
  groupTooBig(size: GroupSize): ImError {
    return new ImError(ErrorCode.LIMIT_REACHED, `a group may have at most ${this.maxGroupMembers} members; it has ${size.has} and ${size.joining} would join: nothing was changed`);
  }

  /**
   * The users of `uids` who are not in `convId` yet and are in the most conversations a user may be in already:
   * a statement adds nobody while any is left here. Checked in the statement, not locked: adds of one user
   * running at the same instant may each pass and take them a few over.
   */
  atLimit(convId: string, uids: string[]): ReturnType<Sql> {
    return this.sql`SELECT u FROM unnest(${uids}::text[]) AS u
      WHERE NOT EXISTS (SELECT 1 FROM members x WHERE x.conv_id = ${convId} AND x.uid = u)
        AND (SELECT count(*) FROM (SELECT 1 FROM members y WHERE y.uid = u LIMIT ${this.maxUserConvs}) z) >= ${this.maxUserConvs}`;
  }

  /** The refusal of a change that would take `uids` (from `atLimit`) past their conversation limit. */
  limitReached(uids: string[]): ImError {
    const some = uids.slice(0, 10).join(', ') + (uids.length > 10 ? `, … (${uids.length} in all)` : '');
    return new ImError(ErrorCode.LIMIT_REACHED, `already in ${this.maxUserConvs} conversations, the most one user may be in: ${some}; nothing was changed`);
  }
}
