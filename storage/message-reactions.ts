import type { Reactor } from '../protocol/frames.js';
import { MAX_REACTION_KINDS } from '../protocol/limits.js';
import type { Sql } from './db.js';
import type { StoredMessage } from './message-store.js';
import { bounded, DEFAULT_STATEMENT_TIMEOUT_MS } from './pg-errors.js';

/** What the chatter needs to know before a reaction goes into the group commit. */
export interface ReactionBefore {
  /** The sender's reaction to the message now (committed), when they have one. */
  current?: string;
  /** Different reactions the message has now (n > 0). */
  kinds: number;
  /** Whether the new reaction is one of them. */
  has: boolean;
}

/**
 * Fills in the reactions of `msgs` (messages of one or more conversations) from the counts the group commit keeps
 * (migration 290), one statement per conversation: the counts, the last reaction they stand at and, with `reader`,
 * the reader's own reaction, all from one snapshot, so a client can apply later reactions on top. A recalled message
 * shows none, and recalls, edits and reactions cannot be reacted to.
 */
export async function attachReactions(sql: Sql, msgs: StoredMessage[], reader?: string, timeoutMs = DEFAULT_STATEMENT_TIMEOUT_MS): Promise<StoredMessage[]> {
  const byConv = new Map<string, Map<number, StoredMessage>>();
  for (const m of msgs) {
    if (m.hidden === true || m.recalledBy !== undefined || m.recalls !== undefined || m.edits !== undefined || m.reacts !== undefined) continue;
    let seqs = byConv.get(m.convId);
    if (seqs === undefined) byConv.set(m.convId, (seqs = new Map()));
    seqs.set(m.seq, m);
  }
  for (const [conv, targets] of byConv) {
    const seqs = [...targets.keys()];
    const mine = reader === undefined ? sql`` : sql`
      UNION ALL
      SELECT reacts, convert_from(body, 'UTF8'), -1, seq, 0 FROM (
        SELECT DISTINCT ON (reacts) reacts, body, seq FROM messages
        WHERE conv_id = ${conv} AND reacts = ANY(${seqs}::int8[]) AND sender_uid = ${reader} AND reacts IS NOT NULL
        ORDER BY reacts, seq DESC
      ) own`;
    // n = -1 marks the reader's own row; since orders the counts. Kinds taken back to 0 stay as rows (their `at`
    // says the reactions changed), and any string is a kind: of those, one row per message, with the latest `at`.
    const rows = await bounded('read reactions', sql<{ target: number; emoji: string; n: number; at: number; since: number }[]>`
      SELECT target, emoji, n, at, since FROM reaction_counts WHERE conv_id = ${conv} AND target = ANY(${seqs}::int8[]) AND n > 0
      UNION ALL
      SELECT target, '', 0, max(at), 0 FROM reaction_counts WHERE conv_id = ${conv} AND target = ANY(${seqs}::int8[]) AND n = 0 GROUP BY target
      ${mine}
      ORDER BY 1, 5`, timeoutMs);
    for (const r of rows) {
      const m = targets.get(r.target)!;
      const x = (m.reactions ??= { counts: [], at: 0 });
      if (r.n < 0) {
        if (r.emoji !== '') x.mine = r.emoji;
        continue;
      }
      x.at = Math.max(x.at, r.at);
      if (r.n > 0 && x.counts.length < MAX_REACTION_KINDS) x.counts.push({ emoji: r.emoji, n: r.n });
    }
    // The reader's taken-back reaction alone (no counts rows) says nothing.
    for (const m of targets.values()) if (m.reactions !== undefined && m.reactions.at === 0 && m.reactions.mine === undefined) delete m.reactions;
  }
  return msgs;
}

/** See ReactionBefore: one statement, by the reactions index and the counts' key. */
export async function reactionBefore(sql: Sql, conv: string, target: number, uid: string, emoji: string, timeoutMs = DEFAULT_STATEMENT_TIMEOUT_MS): Promise<ReactionBefore> {
  const [r] = await bounded('read a reaction', sql<{ current: Buffer | null; kinds: number; has: boolean }[]>`
    SELECT (SELECT body FROM messages WHERE conv_id = ${conv} AND reacts = ${target} AND sender_uid = ${uid} ORDER BY seq DESC LIMIT 1) AS current,
           count(*)::int AS kinds, coalesce(bool_or(emoji = ${emoji}), false) AS has
    FROM reaction_counts WHERE conv_id = ${conv} AND target = ${target} AND n > 0`, timeoutMs);
  const current = r!.current === null || r!.current.length === 0 ? undefined : r!.current.toString('utf8');
  return { ...(current !== undefined && { current }), kinds: r!.kinds, has: r!.has };
}

/**
 * Who reacted to message `target` (and how), a page at a time in user id order after `after`: each user's latest
 * reaction when it is not empty (and is `emoji`, if given); none for a recalled or expired message. In user id order so that a page reads only its own users'
 * rows from the reactions index, however many reacted.
 */
export async function reactorsPage(sql: Sql, conv: string, target: number, limit: number, after = '', emoji?: string, timeoutMs = DEFAULT_STATEMENT_TIMEOUT_MS): Promise<Reactor[]> {
  const rows = await bounded('read reactors', sql<{ uid: string; body: Buffer; seq: number }[]>`
    SELECT uid, body, seq FROM (
      SELECT DISTINCT ON (sender_uid) sender_uid AS uid, body, seq FROM messages
      WHERE conv_id = ${conv} AND reacts = ${target} AND sender_uid > ${after} AND reacts IS NOT NULL
      ORDER BY sender_uid, seq DESC
    ) latest
    WHERE length(body) > 0 ${emoji === undefined ? sql`` : sql`AND body = ${Buffer.from(emoji, 'utf8')}`}
      -- A recalled message, or one past the retention, has no reactions left to show (history gives it none).
      AND NOT EXISTS (SELECT 1 FROM messages t WHERE t.conv_id = ${conv} AND t.seq = ${target} AND t.recalled_by IS NOT NULL)
      AND ${target} > COALESCE((SELECT expired_seq FROM conversations WHERE conv_id = ${conv}), 0)
    ORDER BY uid LIMIT ${limit}`, timeoutMs);
  return rows.map((r) => ({ uid: r.uid, emoji: r.body.toString('utf8'), seq: r.seq }));
}
