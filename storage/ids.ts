import { createHash, randomUUID } from 'node:crypto';
import { DIRECT_CONV_PREFIX } from '../protocol/conv-id.js';
import { ErrorCode, ImError } from '../protocol/errors.js';
import { DEFAULT_MAX_ID_LENGTH } from '../protocol/limits.js';
import { idProblem, utf8Length } from '../protocol/validate-fields.js';

const MAX_ID = DEFAULT_MAX_ID_LENGTH;

/**
 * Throws INVALID_FIELD unless `v` is an id as clients' frames and tokens must carry it (1–128 bytes of UTF-8, no
 * control characters): a longer one stored through the server API could never be named by a client, and a NUL
 * fails the statement (Postgres text holds none).
 */
export function checkId(v: unknown, field: string): asserts v is string {
  const problem = idProblem(v, MAX_ID);
  if (problem !== undefined) throw new ImError(ErrorCode.INVALID_FIELD, `${field} ${problem}`);
}

/** A fresh id for a group created without one of its caller's. */
export function newGroupConvId(): string {
  return `g:${randomUUID()}`;
}

/** The deterministic id of the direct conversation between two users (order of the two does not matter; format in protocol/conv-id.ts). */
export function directConversationId(a: string, b: string): string {
  checkId(a, 'uid');
  checkId(b, 'uid');
  if (a === b) throw new ImError(ErrorCode.INVALID_FIELD, 'a direct conversation needs two different users');
  const [x, y] = a < b ? [a, b] : [b, a];
  // The length prefix keeps the id unambiguous whatever characters the uids hold; long pairs are hashed so the
  // id stays within the limit every conv id has (frames, subjects), which counts UTF-8 bytes.
  const plain = `${DIRECT_CONV_PREFIX}${x.length}:${x}:${y}`;
  return utf8Length(plain) <= MAX_ID ? plain : `${DIRECT_CONV_PREFIX}#${createHash('sha256').update(`${x}\u0000${y}`).digest('hex')}`;
}

/** Throws INVALID_FIELD unless `uids` is an array of ids. */
export function checkUids(uids: unknown): asserts uids is string[] {
  if (!Array.isArray(uids)) throw new ImError(ErrorCode.INVALID_FIELD, 'uids must be an array');
  uids.forEach((u) => checkId(u, 'uid'));
}
