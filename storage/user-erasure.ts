import type { Sql } from './db.js';
import { checkId } from './ids.js';
import { bounded } from './pg-errors.js';

/** Blanking a user's messages may touch many rows: it gets longer than an ordinary statement. */
export const DEFAULT_ERASE_TIMEOUT_MS = 30_000;

/** Conversations one statement looks into for messages of the user: an index probe each. */
const SENT_IN_CONVS_PER_STATEMENT = 50;
/**
 * Messages blanked in one statement, each committed: a bot's or a support agent's million messages (or reactions)
 * in one conversation took one statement past its deadline, rolled back, on every retry.
 */
export const BLANK_ROWS_PER_STATEMENT = 10_000;

/**
 * Empties the bodies of the messages `uid` sent in `convs` (found by the sender index), reactions included, in
 * statements of at most BLANK_ROWS_PER_STATEMENT messages, each committed; returns how many were emptied. Each
 * conversation goes in seq order, with the mentions and the reactions they made (each counted off its message in
 * the statement that blanks it). Seqs, chains and everything else of the messages stay. Safe to run again: what is
 * blank is not counted twice.
 */
export async function blankMessagesOf(sql: Sql, uid: string, convs: readonly string[], timeoutMs = DEFAULT_ERASE_TIMEOUT_MS, rowsPerStatement = BLANK_ROWS_PER_STATEMENT): Promise<number> {
  checkId(uid, 'uid');
  let blanked = 0;
  // Only where they wrote something: a user in 5,000 conversations is silent in most.
  for (let i = 0; i < convs.length; i += SENT_IN_CONVS_PER_STATEMENT) {
    for (const conv of await sentIn(sql, uid, convs.slice(i, i + SENT_IN_CONVS_PER_STATEMENT), timeoutMs)) {
      for (let after = 0; after >= 0; ) {
        const r = await blankAfter(sql, uid, conv, after, rowsPerStatement, timeoutMs);
        blanked += r.n;
        after = r.seen < rowsPerStatement ? -1 : r.last;
      }
    }
  }
  return blanked;
}

/** Which of `convs` hold a message `uid` sent. */
async function sentIn(sql: Sql, uid: string, convs: readonly string[], timeoutMs: number): Promise<string[]> {
  const rows = await bounded(
    'find conversations sent in',
    sql<{ c: string }[]>`SELECT c FROM unnest(${[...convs]}::text[]) AS c WHERE EXISTS (SELECT 1 FROM messages m WHERE m.conv_id = c AND m.sender_uid = ${uid})`,
    timeoutMs,
  );
  return rows.map((r) => r.c);
}

/**
 * Blanks up to `limit` of the user's messages in `conv` after seq `after`, by the sender index, with the mentions
 * they made (their list, and the mentioned members' rows, which counted them unread) and the reactions (their
 * targets' counts); says how many it looked at and the last seq among them.
 */
async function blankAfter(sql: Sql, uid: string, conv: string, after: number, limit: number, timeoutMs: number): Promise<{ n: number; seen: number; last: number }> {
  const rows = await bounded('blank messages', sql<{ n: number; seen: number; last: number | null }[]>`
    WITH batch AS MATERIALIZED (
      -- Bodies of reactions only (an emoji each), not of up to 10,000 messages.
      SELECT seq, reacts, CASE WHEN reacts IS NOT NULL THEN body END AS body FROM messages
      WHERE conv_id = ${conv} AND sender_uid = ${uid} AND seq > ${after} ORDER BY seq LIMIT ${limit}
    ),
    -- Their reactions go with what they wrote (a blank one is none, migration 290): a target's count loses the emoji
    -- of their latest reaction to it, in the statement that blanks that reaction. Earlier ones were replaced by it.
    latest AS (
      SELECT b.seq, b.reacts, convert_from(b.body, 'UTF8') AS emoji FROM batch b
      WHERE b.reacts IS NOT NULL AND b.body <> ''::bytea
        AND NOT EXISTS (SELECT 1 FROM messages l WHERE l.conv_id = ${conv} AND l.reacts = b.reacts AND l.sender_uid = ${uid} AND l.seq > b.seq)
    ),
    unmentioned AS (DELETE FROM mentions x USING batch b WHERE x.conv_id = ${conv} AND x.seq = b.seq RETURNING 1),
    blanked AS (
      UPDATE messages m SET body = ''::bytea, react_was = NULL, mentions = NULL, mentions_all = NULL FROM batch b
      WHERE m.conv_id = ${conv} AND m.seq = b.seq
        AND (m.body <> ''::bytea OR m.react_was IS NOT NULL OR m.mentions IS NOT NULL OR m.mentions_all IS NOT NULL)
      RETURNING m.seq
    ),
    -- Only through the row this statement blanked: two erasures of the user at once (a retried API call) both see
    -- it unblanked, and the one that waited on the other's row lock finds it blank and blanks nothing.
    uncounted AS (
      UPDATE reaction_counts rc SET n = rc.n - 1 FROM latest JOIN blanked USING (seq)
      WHERE rc.conv_id = ${conv} AND rc.target = latest.reacts AND rc.emoji = latest.emoji
      RETURNING 1
    )
    SELECT (SELECT count(*) FROM blanked)::int AS n, (SELECT count(*) FROM batch)::int AS seen, (SELECT max(seq) FROM batch) AS last`, timeoutMs);
  const r = rows[0]!;
  return { n: r.n, seen: r.seen, last: r.last ?? after };
}

/**
 * Deletes what is kept about `uid` outside conversations, in one statement: settings, blocks (both ways), mentions,
 * messages they hid, last seen, the groups they left (but, with `messagesKept`, those where messages of theirs are
 * kept), their devices' expired cids, and their name on pinned messages.
 */
export async function deleteUserRows(sql: Sql, uid: string, messagesKept: boolean, timeoutMs = DEFAULT_ERASE_TIMEOUT_MS): Promise<void> {
  checkId(uid, 'uid');
  await bounded('delete user rows', sql`
    WITH s AS (DELETE FROM user_settings WHERE uid = ${uid} RETURNING 1),
    b AS (DELETE FROM user_blocks WHERE uid = ${uid} OR blocked_uid = ${uid} RETURNING 1),
    m AS (DELETE FROM mentions WHERE uid = ${uid} RETURNING 1),
    -- A group they left where messages of theirs are kept (erased with "keep") stays on record: those messages show
    -- it anyway, and a later "blank" erasure finds them through it.
    f AS (
      -- After a "blank" erasure none is: the probe would read every message they ever sent (bodies are in the heap).
      DELETE FROM former_members fm WHERE fm.uid = ${uid}
      AND (NOT ${messagesKept}::boolean OR NOT EXISTS (SELECT 1 FROM messages m WHERE m.conv_id = fm.conv_id AND m.sender_uid = ${uid} AND m.body <> ''::bytea))
      RETURNING 1
    ),
    h AS (DELETE FROM hidden_messages WHERE uid = ${uid} RETURNING 1),
    x AS (DELETE FROM expired_client_ids WHERE sender_uid = ${uid} RETURNING 1),
    -- Their pins stay the conversation's, with nobody named.
    p AS (UPDATE pinned_messages SET pinned_by = NULL WHERE pinned_by = ${uid} RETURNING 1),
    o AS (DELETE FROM online_users WHERE uid = ${uid} RETURNING 1)
    -- A data-modifying WITH runs whether or not the query reads it.
    DELETE FROM user_last_seen WHERE uid = ${uid}`, timeoutMs);
}
