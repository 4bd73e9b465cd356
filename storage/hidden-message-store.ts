import { ErrorCode, ImError } from '../protocol/errors.js';
import { MAX_HIDE_SEQS } from '../protocol/limits.js';
import type { Sql } from './db.js';
import { checkId } from './ids.js';
import { bounded, DEFAULT_STATEMENT_TIMEOUT_MS } from './pg-errors.js';
import { readUnreadCount, type UnreadCount } from './user-conversations.js';

/** What a hide did: the seqs hidden now and, when there are any, the user's unread count after them and when. */
export interface HideResult {
  seqs: number[];
  count?: UnreadCount;
  /** When the hide was stored (epoch ms; with hides made now). */
  hiddenAt?: number;
}

/** Most seqs one answer to "which messages did I hide here" gives: the latest by seq. */
export const MAX_HIDDEN_LISTED = 10_000;

/**
 * "Delete for me": messages a member hides from their own history (`hidden_messages`, migration 330). Pulls serve
 * them to that member as stubs (MessageStore's reads with a reader); nobody else's history changes. Like a clear, it
 * changes nothing anyone else sees and nothing a message does, so a device's hide is written straight from its
 * gateway.
 */
export class HiddenMessageStore {
  constructor(
    private readonly sql: Sql,
    private readonly timeoutMs = DEFAULT_STATEMENT_TIMEOUT_MS,
  ) {}

  /**
   * Hides messages `seqs` of `convId` from `uid` and returns those that are hidden now, ascending: the plain messages
   * among them still served to the user (a recall, an edit or a reaction is not a message to hide; one cleared or
   * expired is gone already; a seq with no message is nothing). Hiding again is harmless. With them, the user's
   * unread count after the hide (a hidden message is not unread), read once the rows are in. NOT_MEMBER when `uid`
   * is not in the conversation.
   */
  async hide(uid: string, convId: string, seqs: readonly number[]): Promise<HideResult> {
    checkId(uid, 'uid');
    checkId(convId, 'convId');
    if (!Array.isArray(seqs) || seqs.length === 0 || seqs.length > MAX_HIDE_SEQS || !seqs.every((s) => Number.isSafeInteger(s) && s > 0) || new Set(seqs).size !== seqs.length) {
      throw new ImError(ErrorCode.INVALID_FIELD, `seqs must be 1–${MAX_HIDE_SEQS} distinct positive integers`);
    }
    const rows = await bounded('hide messages', this.sql<{ member: boolean; seqs: number[]; at: number }[]>`
      WITH me AS (SELECT cleared_seq FROM members WHERE conv_id = ${convId} AND uid = ${uid}),
      ok AS (
        SELECT m.seq FROM messages m
        WHERE m.conv_id = ${convId} AND m.seq = ANY(${seqs}::int8[]) AND EXISTS (SELECT 1 FROM me)
          AND m.recalls IS NULL AND m.edits IS NULL AND m.reacts IS NULL
          AND m.seq > (SELECT cleared_seq FROM me)
          AND m.seq > COALESCE((SELECT expired_seq FROM conversations c WHERE c.conv_id = ${convId}), 0)
      ),
      -- Postgres' clock, not the node's: every node's hides compare on one clock.
      t AS (SELECT (extract(epoch FROM statement_timestamp()) * 1000)::int8 AS at),
      ins AS (INSERT INTO hidden_messages (uid, conv_id, seq, hidden_at) SELECT ${uid}, ${convId}, seq, (SELECT at FROM t) FROM ok ON CONFLICT DO NOTHING RETURNING 1)
      SELECT EXISTS (SELECT 1 FROM me) AS member, COALESCE((SELECT json_agg(seq ORDER BY seq) FROM ok), '[]'::json) AS seqs, (SELECT at FROM t) AS at`, this.timeoutMs);
    if (!rows[0]!.member) throw new ImError(ErrorCode.NOT_MEMBER, `${uid} is not a member of ${convId}`);
    const hidden = rows[0]!.seqs;
    if (hidden.length === 0) return { seqs: hidden };
    // A second statement: the one above cannot see its own inserts.
    const count = await readUnreadCount(this.sql, uid, convId, this.timeoutMs);
    const hiddenAt = rows[0]!.at;
    return count === undefined ? { seqs: hidden, hiddenAt } : { seqs: hidden, count, hiddenAt };
  }

  /**
   * The messages `uid` hid in `convId` (the latest MAX_HIDDEN_LISTED by seq), ascending, for a device that was away
   * when they were hidden (the list's `hiddenAt` tells it). NOT_MEMBER when `uid` is not in the conversation.
   */
  async hiddenSeqs(uid: string, convId: string): Promise<number[]> {
    checkId(uid, 'uid');
    checkId(convId, 'convId');
    const rows = await bounded('list hidden messages', this.sql<{ member: boolean; seqs: number[] }[]>`
      SELECT EXISTS (SELECT 1 FROM members WHERE conv_id = ${convId} AND uid = ${uid}) AS member,
             COALESCE((SELECT json_agg(seq ORDER BY seq) FROM (
               SELECT seq FROM hidden_messages WHERE uid = ${uid} AND conv_id = ${convId} ORDER BY seq DESC LIMIT ${MAX_HIDDEN_LISTED}
             ) h), '[]'::json) AS seqs`, this.timeoutMs);
    if (!rows[0]!.member) throw new ImError(ErrorCode.NOT_MEMBER, `${uid} is not a member of ${convId}`);
    return rows[0]!.seqs;
  }
}
