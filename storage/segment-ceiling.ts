import type { Sql } from './db.js';
import { checkFence, fencedError, fenceRow } from './fence.js';
import { bounded, DEFAULT_STATEMENT_TIMEOUT_MS } from './pg-errors.js';
import type { Fence } from './types.js';

/**
 * Raises segment `name` to cover `id` with `step` ids to spare (its `max_id` never goes down), under the shard's
 * fence, and returns the new `max_id`: every id up to it is reserved, and a SegmentAllocator of that name hands out
 * only ids above it. A writer that numbers its ids itself (a chatter's consecutive seqs) reserves them this way, so an
 * allocator of the same name (a node of an older version taking the shard during an upgrade, or after a rollback)
 * can never hand out an id that writer used. FENCED when the shard's epoch moved on: nothing is reserved.
 */
export async function reserveThrough(sql: Sql, name: string, fence: Fence, id: number, step: number, timeoutMs = DEFAULT_STATEMENT_TIMEOUT_MS): Promise<number> {
  checkFence(fence);
  const rows = await bounded(
    `reserve segment ${name}`,
    sql<{ max_id: number }[]>`
      WITH f AS MATERIALIZED (${fenceRow(sql, fence)})
      INSERT INTO seq_segments (name, max_id, step)
      SELECT ${name}, ${id + step}, ${step} WHERE EXISTS (SELECT 1 FROM f)
      ON CONFLICT (name) DO UPDATE SET max_id = GREATEST(seq_segments.max_id, EXCLUDED.max_id), updated_at = now()
      RETURNING max_id`,
    timeoutMs,
  );
  if (rows.length === 0) throw fencedError(fence, `reserve segment ${name}`);
  return rows[0]!.max_id;
}
