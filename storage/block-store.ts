import { ErrorCode, ImError } from '../protocol/errors.js';
import { checkId } from './ids.js';
import type { Sql } from './db.js';
import { bounded, DEFAULT_STATEMENT_TIMEOUT_MS } from './pg-errors.js';

/** Users one user may block; a change past it is refused whole with LIMIT_REACHED. */
export const DEFAULT_MAX_BLOCKS = 10_000;
/** Users one change may name (adds and removes together). */
const MAX_BLOCKS_PER_CHANGE = 1_000;

/**
 * Who blocks whom. A block is one-way in the table and two-way in effect: between two users either of whom
 * blocks the other, their direct conversation takes no sends and passes on no typing, presence or receipts.
 */
export class BlockStore {
  constructor(
    private readonly sql: Sql,
    private readonly timeoutMs = DEFAULT_STATEMENT_TIMEOUT_MS,
    private readonly maxBlocks = DEFAULT_MAX_BLOCKS,
  ) {}

  /** Blocks `add` and unblocks `remove` for `uid` in one statement; returns whom `uid` blocks after it. */
  async change(uid: string, add: string[], remove: string[]): Promise<string[]> {
    checkId(uid, 'uid');
    if (add.length + remove.length > MAX_BLOCKS_PER_CHANGE) throw new ImError(ErrorCode.INVALID_FIELD, `one change may name at most ${MAX_BLOCKS_PER_CHANGE} users`);
    for (const u of [...add, ...remove]) checkId(u, 'blocked uid');
    if (add.includes(uid) || remove.includes(uid)) throw new ImError(ErrorCode.INVALID_FIELD, 'a user cannot block or unblock themselves');
    add = [...new Set(add)];
    if (add.some((u) => remove.includes(u))) throw new ImError(ErrorCode.INVALID_FIELD, 'a user is both added to and removed from the blocks');
    const rows = await bounded('change blocks', this.sql<{ fits: boolean; blocked: string[] }[]>`
      WITH kept AS (SELECT blocked_uid FROM user_blocks WHERE uid = ${uid} AND blocked_uid <> ALL(${remove}::text[])),
      fits AS (
        SELECT (SELECT count(*) FROM kept) + (SELECT count(*) FROM unnest(${add}::text[]) AS a(u) WHERE u NOT IN (SELECT blocked_uid FROM kept)) <= ${this.maxBlocks} AS ok
      ),
      -- Postgres runs a data-modifying WITH whether or not the query reads it: without the guard, a change refused
      -- as a whole would still have unblocked the users it names.
      del AS (
        DELETE FROM user_blocks WHERE uid = ${uid} AND blocked_uid = ANY(${remove}::text[]) AND (SELECT ok FROM fits) RETURNING blocked_uid
      ),
      ins AS (
        INSERT INTO user_blocks (uid, blocked_uid) SELECT ${uid}, u FROM unnest(${add}::text[]) AS a(u)
        WHERE (SELECT ok FROM fits) ON CONFLICT DO NOTHING RETURNING blocked_uid
      )
      SELECT (SELECT ok FROM fits) AS fits,
             ARRAY(SELECT blocked_uid FROM kept UNION SELECT blocked_uid FROM ins ORDER BY 1) AS blocked`, this.timeoutMs);
    const r = rows[0]!;
    if (!r.fits) throw new ImError(ErrorCode.LIMIT_REACHED, `a user may block at most ${this.maxBlocks} users: nothing was changed`);
    return r.blocked;
  }

  /** Whom `uid` blocks. */
  async blockedBy(uid: string): Promise<string[]> {
    checkId(uid, 'uid');
    const rows = await bounded('read blocks', this.sql<{ blocked_uid: string }[]>`
      SELECT blocked_uid FROM user_blocks WHERE uid = ${uid} ORDER BY blocked_uid`, this.timeoutMs);
    return rows.map((r) => r.blocked_uid);
  }

  /** True when one member of conversation `convId` blocks another (only direct conversations are asked). */
  async blockedIn(convId: string): Promise<boolean> {
    checkId(convId, 'convId');
    const rows = await bounded('read blocks', this.sql<{ blocked: boolean }[]>`
      SELECT EXISTS (
        SELECT 1 FROM members m JOIN user_blocks b ON b.uid = m.uid
        JOIN members o ON o.conv_id = m.conv_id AND o.uid = b.blocked_uid
        WHERE m.conv_id = ${convId}
      ) AS blocked`, this.timeoutMs);
    return rows[0]!.blocked;
  }

  /** True when `a` blocks `b` or `b` blocks `a`. */
  async between(a: string, b: string): Promise<boolean> {
    checkId(a, 'uid');
    checkId(b, 'uid');
    const rows = await bounded('read blocks', this.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM user_blocks WHERE (uid = ${a} AND blocked_uid = ${b}) OR (uid = ${b} AND blocked_uid = ${a})`, this.timeoutMs);
    return rows[0]!.n > 0;
  }
}
