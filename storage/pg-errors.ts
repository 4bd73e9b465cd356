import type postgres from 'postgres';
import { ErrorCode, ImError } from '../protocol/errors.js';

/** SQLSTATEs and client codes we map specially. */
const UNIQUE_VIOLATION = '23505';
const SERIALIZATION_FAILURE = '40001';
const DEADLOCK = '40P01';
const QUERY_CANCELED = '57014';
const LOCK_NOT_AVAILABLE = '55P03';
const RETRYABLE_SQLSTATES: ReadonlySet<string> = new Set([SERIALIZATION_FAILURE, DEADLOCK]);
/** Socket errors, postgres.js' own connection codes, and server states that say "not now" rather than "no". */
const CONNECTION_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '53300', // too_many_connections
]);

export const DEFAULT_STATEMENT_TIMEOUT_MS = 10_000;

function codeOf(err: unknown): string {
  const e = err as { code?: unknown; errors?: unknown } | null | undefined;
  const code = e?.code;
  if (typeof code === 'string' && code.length > 0) return code;
  // Node reports a refused dual-stack connect as an AggregateError whose members carry the code.
  if (Array.isArray(e?.errors) && e.errors.length > 0) return codeOf(e.errors[0]);
  return '';
}

/** Maps anything thrown by postgres.js to an ImError (keeping it as `cause`); ImErrors pass through unchanged. */
export function toStorageError(err: unknown, what = 'database statement'): ImError {
  if (err instanceof ImError) return err;
  const code = codeOf(err);
  const message = err instanceof Error ? err.message : String(err);
  // Postgres' own words stay in `cause` (for the logs): a conflict reaches clients, and its text would name tables,
  // constraints and values.
  if (code === UNIQUE_VIOLATION) return new ImError(ErrorCode.CONFLICT, `${what}: it exists already`, { cause: err });
  // Postgres' "not now": retryable (`unavailable`) wherever it lands, also past an actor call, where the cause is gone.
  if (RETRYABLE_SQLSTATES.has(code)) return new ImError(ErrorCode.UNAVAILABLE, `${what}: lost a race with another change (a deadlock or a concurrent change); try again`, { cause: err });
  // Class 08 is "connection exception" as a whole.
  if (CONNECTION_CODES.has(code) || code.startsWith('08')) {
    return new ImError(ErrorCode.UNAVAILABLE, `${what}: database unreachable (${code})`, { cause: err });
  }
  if (code === QUERY_CANCELED || code === LOCK_NOT_AVAILABLE) return new ImError(ErrorCode.TIMEOUT, `${what}: statement timed out`, { cause: err });
  return new ImError(ErrorCode.STORAGE, `${what}: ${message}`, { cause: err });
}

/**
 * True when Postgres itself answered the statement with an ERROR (postgres.js hands one over only after the server's
 * ReadyForQuery): its transaction was rolled back. Anything else (a deadline, a dropped or broken link, a FATAL) leaves
 * the outcome unknown: a write may yet commit.
 */
export function rolledBack(err: ImError): boolean {
  const cause = err.cause as { name?: unknown; severity?: unknown } | undefined;
  return cause?.name === 'PostgresError' && cause.severity === 'ERROR';
}

/**
 * True when the same statement may succeed if simply run again: the database away, a deadline, a lost serialization
 * race or a deadlock victim (UNAVAILABLE, TIMEOUT). A unique violation (CONFLICT) fails the same way again.
 */
export function isRetryableStorageError(err: unknown): boolean {
  if (!(err instanceof ImError)) return false;
  return err.code === ErrorCode.UNAVAILABLE || err.code === ErrorCode.TIMEOUT;
}

/**
 * Drops holes from a result. postgres.js (before our patch, scripts/patch-deps.mjs) resolved the query after a
 * failed or cancelled one on the same connection with leading holes: `rows[0]` undefined read as "not found".
 * The patch fixes the cause; this keeps a missed patch (a new postgres.js version) from turning into wrong
 * answers. Costs one comparison when the result is whole.
 */
export function dense<T>(result: T): T {
  if (!Array.isArray(result)) return result;
  const count = (result as { count?: unknown }).count;
  if (typeof count !== 'number' || result.length <= count) return result;
  let w = 0;
  for (let i = 0; i < result.length; i++) if (i in result) result[w++] = result[i];
  result.length = w;
  return result;
}

/** Runs a storage call and rethrows its failure as an ImError. */
export async function guard<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return dense(await fn());
  } catch (err) {
    throw toStorageError(err, what);
  }
}

/**
 * Runs one statement with a client-side deadline: past `timeoutMs` the statement is cancelled on the server
 * and the caller gets ImError(TIMEOUT) at once, even when the server does not answer the cancel (a dead link).
 * A write that timed out has an unknown outcome; our writes are idempotent, so the caller may retry.
 */
export async function bounded<T extends readonly object[]>(
  what: string,
  query: postgres.PendingQuery<T>,
  timeoutMs: number = DEFAULT_STATEMENT_TIMEOUT_MS,
): Promise<postgres.RowList<T>> {
  try {
    return dense(
      await withDeadline(what, query, timeoutMs, () => {
        // cancel() answers with a promise that fails when the server is unreachable; the deadline already says so.
        const cancelled = query.cancel() as unknown;
        if (cancelled instanceof Promise) cancelled.catch(() => {});
      }),
    );
  } catch (err) {
    throw toStorageError(err, what);
  }
}

/** How many statement deadlines a whole transaction may take on the client's clock before its caller is answered. */
export const TX_DEADLINE_FACTOR = 2;

/**
 * A transaction (`sql.begin(...)`) with a client-side deadline of TX_DEADLINE_FACTOR × `timeoutMs`. Postgres bounds
 * each statement and the idle time between them (the transaction sets both to `timeoutMs`: txTimeouts), but on a
 * link gone silent it answers nothing, and the caller would wait until TCP gave up, minutes later. Past the deadline
 * the outcome is unknown: the transaction may still commit.
 */
export function boundedTx<T>(what: string, work: PromiseLike<T>, timeoutMs: number = DEFAULT_STATEMENT_TIMEOUT_MS): Promise<T> {
  return withDeadline(what, work, timeoutMs * TX_DEADLINE_FACTOR);
}

/**
 * Columns of a transaction's first SELECT that bound each of its statements, and the idle time between them, to
 * `timeoutMs` (a client gone silent must not hold what the transaction locked until TCP gives up): part of a
 * statement the transaction runs anyway, so they cost no round trip.
 */
export function txTimeouts(tx: postgres.TransactionSql<Record<string, never>>, timeoutMs: number): postgres.Fragment {
  const ms = String(Math.max(1, Math.floor(timeoutMs)));
  return tx`set_config('statement_timeout', ${ms}, true) AS statement_timeout, set_config('idle_in_transaction_session_timeout', ${ms}, true) AS idle_timeout`;
}

/**
 * `work` with a client-side deadline: past `ms` the caller gets ImError(TIMEOUT) even when the link went silent,
 * where Postgres' own statement_timeout never answers; `onTimeout` may cancel the work (else a transaction is left
 * to end with its socket).
 */
export function withDeadline<T>(what: string, work: PromiseLike<T>, ms: number, onTimeout?: () => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout?.();
      reject(new ImError(ErrorCode.TIMEOUT, `${what}: no answer within ${ms} ms`));
    }, ms);
    timer.unref();
  });
  // A failure after the deadline has nobody left to hear it.
  Promise.resolve(work).catch(() => undefined);
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}
