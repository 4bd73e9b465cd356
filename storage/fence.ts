import type postgres from 'postgres';
import { ErrorCode, ImError } from '../protocol/errors.js';
import type { Sql } from './db.js';
import { boundedTx, DEFAULT_STATEMENT_TIMEOUT_MS, toStorageError, txTimeouts } from './pg-errors.js';
import type { Fence } from './types.js';

/** A transaction handle as `sql.begin` passes it. */
export type Tx = postgres.TransactionSql<Record<string, never>>;

/** Anything that can build a query: the pool or a transaction. */
type SqlLike = Sql | Tx;

/** Refuses a malformed fence with INVALID_FIELD: a bad one would otherwise look like a stale epoch. */
export function checkFence(fence: Fence | undefined): void {
  if (fence === undefined) return;
  if (typeof fence.kind !== 'string' || fence.kind.length === 0) throw new ImError(ErrorCode.INVALID_FIELD, 'fence kind must be a non-empty string');
  if (!Number.isSafeInteger(fence.shard) || fence.shard < 0) throw new ImError(ErrorCode.INVALID_FIELD, 'fence shard must be a non-negative integer');
  if (!Number.isSafeInteger(fence.epoch) || fence.epoch < 0) throw new ImError(ErrorCode.INVALID_FIELD, 'fence epoch must be a non-negative integer');
}

/** The error of a write refused because the shard's epoch moved on. */
export function fencedError(fence: Fence, what: string): ImError {
  return new ImError(ErrorCode.FENCED, `${what}: shard ${fence.kind}/${fence.shard} is no longer at epoch ${fence.epoch}; nothing was written`);
}

/**
 * A CTE body for the fenced single-statement writes: `WITH f AS MATERIALIZED (${fenceRow(sql, fence)}) …`.
 * It yields one row while the shard is at the fence's epoch and locks that row FOR SHARE until the
 * statement's transaction ends, so a concurrent epoch bump (an UPDATE of the row) waits for the write;
 * a bump that committed first makes it yield nothing. Without a fence it always yields one row.
 * MATERIALIZED keeps the planner from inlining the locking read into a subquery it might skip.
 */
export function fenceRow(sql: SqlLike, fence: Fence | undefined): postgres.Fragment {
  return fence
    ? sql`SELECT 1 AS ok FROM shards WHERE kind = ${fence.kind} AND shard = ${fence.shard} AND epoch = ${fence.epoch} FOR SHARE`
    : sql`SELECT 1 AS ok`;
}

/**
 * Runs a multi-statement write in one transaction that first checks the fence (FOR SHARE, held to commit)
 * and throws FENCED before `fn` runs when the epoch is stale. The same first statement bounds every statement
 * of the transaction with `statement_timeout` (and its idle time), so no extra round trip is paid for either, and the
 * caller is answered within boundedTx's deadline. Failures come out as ImError; the transaction is rolled back on any
 * throw.
 */
export async function withFence<T>(
  sql: Sql,
  fence: Fence | undefined,
  what: string,
  fn: (tx: Tx) => Promise<T>,
  timeoutMs: number = DEFAULT_STATEMENT_TIMEOUT_MS,
): Promise<T> {
  checkFence(fence);
  try {
    const work = sql.begin(async (tx) => {
      // The shard row stays locked FOR SHARE to the end: a client gone silent mid-transaction must not hold an epoch
      // bump (a shard move) until TCP gives up, so Postgres ends the transaction once it idles a statement's deadline.
      const [row] = await tx<{ ok: boolean }[]>`
        WITH f AS MATERIALIZED (${fenceRow(tx, fence)})
        SELECT ${txTimeouts(tx, timeoutMs)}, EXISTS (SELECT 1 FROM f) AS ok`;
      if (!row?.ok) throw fencedError(fence!, what);
      return fn(tx);
    });
    return (await boundedTx(what, work, timeoutMs)) as T;
  } catch (err) {
    throw toStorageError(err, what);
  }
}
