import type postgres from 'postgres';
import type { Sql } from './db.js';
import { checkFence, fencedError, fenceRow } from './fence.js';
import { checkId } from './ids.js';
import { bounded, DEFAULT_STATEMENT_TIMEOUT_MS } from './pg-errors.js';
import type { Fence } from './types.js';

/** Where a conversation's chain stands in Postgres: what a chatter resumes from (migration 450). */
export interface ChainHead {
  /** The last stored seq (0: none). */
  lastSeq: number;
  /** That message's ordinal; null when it has none (written before migration 450, or by an older node) or there is no message. */
  ordinal: number | null;
  /** The seq the ordinals in force were started from; null when the conversation does not exist. */
  ordinalsFrom: number | null;
}

/** Reads a conversation's chain head: its last message by the primary key, and where its ordinals start. */
export async function readChainHead(sql: Sql, convId: string, timeoutMs = DEFAULT_STATEMENT_TIMEOUT_MS): Promise<ChainHead> {
  checkId(convId, 'convId');
  const rows = await bounded('read chain head', sql<{ last_seq: number; last_ordinal: number | null; ordinals_from: number | null }[]>`
    SELECT l.last_seq, l.last_ordinal, (SELECT ordinals_from FROM conversations WHERE conv_id = ${convId}) AS ordinals_from
    FROM (${lastMessage(sql, sql`${convId}::text`)}) l`, timeoutMs);
  const r = rows[0]!;
  return { lastSeq: r.last_seq, ordinal: r.last_ordinal, ordinalsFrom: r.ordinals_from };
}

/** A one-row statement body: conversation `conv`'s last seq (0: none) and that message's ordinal (`last_ordinal`), by the primary key. */
export function lastMessage(sql: Sql, conv: postgres.Fragment): postgres.Fragment {
  return sql`SELECT COALESCE(max(m.seq), 0)::int8 AS last_seq, (array_agg(m.ordinal))[1] AS last_ordinal
    FROM (SELECT m.seq, m.ordinal FROM messages m WHERE m.conv_id = ${conv} ORDER BY m.seq DESC LIMIT 1) m`;
}

/**
 * The ordinal a chatter resumes from after reading `head`, and the seq to start the ordinals again from when they
 * cannot go on (see `restartOrdinals`): the last message has none, or it is older than where they start.
 */
export function resumeOrdinals(head: ChainHead): { ordinal: number; restartFrom?: number } {
  if (head.ordinalsFrom === null || head.ordinalsFrom === head.lastSeq + 1) return { ordinal: 0 };
  if (head.ordinal !== null && head.ordinalsFrom <= head.lastSeq) return { ordinal: head.ordinal };
  return { ordinal: 0, restartFrom: head.lastSeq + 1 };
}

/**
 * Starts a conversation's ordinals again from seq `from` (the next one its chatter gives), under the chatter shard's
 * fence: FENCED when the epoch moved on. Must commit before any row numbered from it does, so that a reader who sees
 * those rows sees where their numbering starts.
 */
export async function restartOrdinals(sql: Sql, fence: Fence, convId: string, from: number, timeoutMs = DEFAULT_STATEMENT_TIMEOUT_MS): Promise<void> {
  checkFence(fence);
  checkId(convId, 'convId');
  const rows = await bounded('restart ordinals', sql<{ fence_ok: boolean }[]>`
    WITH f AS MATERIALIZED (${fenceRow(sql, fence)}),
    u AS (UPDATE conversations SET ordinals_from = ${from} WHERE conv_id = ${convId} AND EXISTS (SELECT 1 FROM f) RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM f) AS fence_ok`, timeoutMs);
  if (!rows[0]!.fence_ok) throw fencedError(fence, 'restart ordinals');
}
