import { ErrorCode, ImError } from '../protocol/errors.js';
import { MAX_META_BYTES, MAX_TITLE_LENGTH } from '../protocol/limits.js';
import { wellFormed } from '../protocol/validate-fields.js';

/** What a group member's role may be. */
export const ROLES: ReadonlySet<string> = new Set(['owner', 'admin', 'member']);

/** Throws INVALID_FIELD unless `meta` is a group's app-defined data (a string of 1–MAX_META_BYTES bytes of UTF-8). */
export function checkMeta(meta: unknown): void {
  if (typeof meta !== 'string' || meta.length === 0 || Buffer.byteLength(meta) > MAX_META_BYTES) throw new ImError(ErrorCode.INVALID_FIELD, `meta must be a string of 1–${MAX_META_BYTES} bytes`);
  // Postgres text holds no NUL: the statement would fail as a storage error (500) instead of a 400.
  if (meta.includes('\u0000')) throw new ImError(ErrorCode.INVALID_FIELD, 'meta must not contain NUL characters');
  if (!wellFormed(meta)) throw new ImError(ErrorCode.INVALID_FIELD, 'meta must be valid Unicode (no lone surrogates)');
}

/** Throws INVALID_FIELD unless `title` is a group title (a string of at most MAX_TITLE_LENGTH characters). */
export function checkTitle(title: unknown): void {
  if (typeof title !== 'string' || title.length > MAX_TITLE_LENGTH) throw new ImError(ErrorCode.INVALID_FIELD, `title must be a string of at most ${MAX_TITLE_LENGTH} characters`);
  if (title.includes('\u0000')) throw new ImError(ErrorCode.INVALID_FIELD, 'title must not contain NUL characters');
  if (!wellFormed(title)) throw new ImError(ErrorCode.INVALID_FIELD, 'title must be valid Unicode (no lone surrogates)');
}
