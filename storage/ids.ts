import { createHash, randomUUID } from 'node:crypto';
import { DIRECT_CONV_PREFIX } from '../protocol/conv-id.js';
import { ErrorCode, ImError } from '../protocol/errors.js';

const MAX_ID = 128;

/** Throws INVALID_FIELD unless `v` is an id (1–128 characters), as every id the stores take must be. */
export function checkId(v: unknown, field: string): asserts v is string {
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_ID) throw new ImError(ErrorCode.INVALID_FIELD, `${field} must be a non-empty string of at most ${MAX_ID} characters`);
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
  // id stays within the limit every conv id has (messages, subjects).
  const plain = `${DIRECT_CONV_PREFIX}${x.length}:${x}:${y}`;
  return plain.length <= MAX_ID ? plain : `${DIRECT_CONV_PREFIX}#${createHash('sha256').update(`${x}\u0000${y}`).digest('hex')}`;
}

/** Throws INVALID_FIELD unless `uids` is an array of ids. */
export function checkUids(uids: unknown): asserts uids is string[] {
  if (!Array.isArray(uids)) throw new ImError(ErrorCode.INVALID_FIELD, 'uids must be an array');
  uids.forEach((u) => checkId(u, 'uid'));
}
