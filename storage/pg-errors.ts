import { ErrorCode, ImError } from '../protocol/errors.js';

/** SQLSTATE classes we treat specially. */
const UNIQUE_VIOLATION = '23505';
const SERIALIZATION_FAILURE = '40001';
const DEADLOCK = '40P01';
const QUERY_CANCELED = '57014';
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '08000',
  '08003',
  '08006',
  '08001',
  '08004',
]);

/** Maps anything thrown by postgres.js to an ImError; ImErrors pass through unchanged. */
export function toStorageError(err: unknown, what = 'database statement'): ImError {
  if (err instanceof ImError) return err;
  const code = String((err as { code?: unknown })?.code ?? '');
  const message = err instanceof Error ? err.message : String(err);
  if (code === UNIQUE_VIOLATION || code === SERIALIZATION_FAILURE || code === DEADLOCK) {
    return new ImError(ErrorCode.CONFLICT, `${what}: ${message}`, { cause: err });
  }
  if (CONNECTION_CODES.has(code)) return new ImError(ErrorCode.UNAVAILABLE, `${what}: database unreachable (${code})`, { cause: err });
  if (code === QUERY_CANCELED) return new ImError(ErrorCode.TIMEOUT, `${what}: statement timed out`, { cause: err });
  return new ImError(ErrorCode.STORAGE, `${what}: ${message}`, { cause: err });
}

/** Runs a storage call and rethrows its failure as an ImError. */
export async function guard<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toStorageError(err, what);
  }
}
