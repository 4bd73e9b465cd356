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
  const rows = await bounded('read chain head', sql<{ last_seq: number | null; ordinal: number | null; ordinals_from: number | null }[]>`
    SELECT l.seq AS last_seq, l.ordinal, c.ordinals_from
    FROM (SELECT 1) one
    LEFT JOIN conversations c ON c.conv_id = ${convId}
    LEFT JOIN LATERAL (SELECT m.seq, m.ordinal FROM messages m WHERE m.conv_id = ${convId} ORDER BY m.seq DESC LIMIT 1) l ON true`, timeoutMs);
  const r = rows[0]!;
  return { lastSeq: r.last_seq ?? 0, ordinal: r.ordinal, ordinalsFrom: r.ordinals_from };
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
