import { ErrorCode, ImError } from '../protocol/errors.js';
import { MUTED_FOREVER } from '../protocol/frames.js';
import { checkId } from './ids.js';
import type { Sql } from './db.js';
import { checkFence, fencedError, fenceRow } from './fence.js';
import { bounded, DEFAULT_STATEMENT_TIMEOUT_MS } from './pg-errors.js';
import type { Fence } from './types.js';

/**
 * Members' mutes of their conversations (`members.muted_until`, epoch ms, 0: not muted). Written by the
 * conversation's chatter, which marks its fan-out to muted members; read with the member lists and the user's
 * conversation list.
 */
export class MuteStore {
  constructor(
    private readonly sql: Sql,
    private readonly timeoutMs = DEFAULT_STATEMENT_TIMEOUT_MS,
  ) {}

  /** Mutes `convId` for `uid` until `until` (0 unmutes) and returns it; NOT_MEMBER when `uid` is not in it, FENCED past the fence. */
  async set(convId: string, uid: string, until: number, fence?: Fence): Promise<number> {
    checkId(convId, 'convId');
    checkId(uid, 'uid');
    if (!Number.isSafeInteger(until) || until < 0 || until > MUTED_FOREVER) throw new ImError(ErrorCode.INVALID_FIELD, `until must be an integer from 0 to ${MUTED_FOREVER}`);
    checkFence(fence);
    const sql = this.sql;
    const rows = await bounded('set mute', sql<{ until: number | null; fence_ok: boolean }[]>`
      WITH f AS MATERIALIZED (${fenceRow(sql, fence)}),
      u AS (
        UPDATE members SET muted_until = ${until} WHERE conv_id = ${convId} AND uid = ${uid} AND EXISTS (SELECT 1 FROM f)
        RETURNING muted_until
      )
      SELECT (SELECT muted_until FROM u) AS until, EXISTS (SELECT 1 FROM f) AS fence_ok`, this.timeoutMs);
    const r = rows[0]!;
    if (!r.fence_ok) throw fencedError(fence!, 'set mute');
    if (r.until === null) throw new ImError(ErrorCode.NOT_MEMBER, `${uid} is not a member of ${convId}`);
    return r.until;
  }
}
