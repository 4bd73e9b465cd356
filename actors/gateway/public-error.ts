import { ErrorCode, ImError } from '../../protocol/errors.js';

/*
 * A failure of ours (a bug, or a statement Postgres should have taken) is told to clients and business servers by its
 * code only: its message can carry Postgres' own words (table, constraint and column names, values) or a stack's.
 * The full message goes to the node's log, where an operator looks for it.
 */

const OUR_FAILURES: ReadonlySet<ErrorCode> = new Set([ErrorCode.INTERNAL, ErrorCode.STORAGE]);

/** True for codes that mean the server failed, not that it refused: these are logged as errors. */
export function isOurFailure(e: ImError): boolean {
  return OUR_FAILURES.has(e.code);
}

/** The error as it may leave the gateway: a failure of ours loses its message, anything else is unchanged. */
export function publicError(e: ImError): ImError {
  if (!isOurFailure(e)) return e;
  const what = e.code === ErrorCode.STORAGE ? 'the database failed the request' : 'the server failed the request';
  return new ImError(e.code, `${what}; its log has the details`);
}
