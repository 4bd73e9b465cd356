import { ErrorCode, ImError } from '../protocol/errors.js';
import { MUTED_FOREVER, NewcomerHistory, Posting, type MemberRole } from '../protocol/frames.js';
import { MAX_SILENCE_UIDS, MAX_SLOW_MODE_SEC } from '../protocol/limits.js';
import type { ConversationKind } from './conversation-store.js';
import { checkMeta, checkTitle, ROLES } from './group-fields.js';
import type { Sql } from './db.js';
import { checkFence, fencedError, fenceRow } from './fence.js';
import { checkId, checkUids } from './ids.js';
import { bounded, DEFAULT_STATEMENT_TIMEOUT_MS } from './pg-errors.js';
import type { Fence } from './types.js';

/**
 * What the business server changes about a group as a whole, each through the group's chatter (which tells the
 * members): its title and app-defined data, its rules (who may post, how long messages are kept, its slow mode), its
 * members' roles and silences, and its end.
 */
export class GroupAdminStore {
  constructor(
    private readonly sql: Sql,
    private readonly timeoutMs = DEFAULT_STATEMENT_TIMEOUT_MS,
  ) {}

  /**
   * Gives group `convId` the title and/or app-defined data named (null: none; absent: kept); NOT_FOUND unless it is a
   * group.
   */
  async setProfile(convId: string, p: { title?: string | null; meta?: string | null }, fence?: Fence): Promise<void> {
    checkId(convId, 'convId');
    if (p.title !== undefined && p.title !== null) checkTitle(p.title);
    if (p.meta !== undefined && p.meta !== null) checkMeta(p.meta);
    checkFence(fence);
    const sql = this.sql;
    const rows = await bounded('set group profile', sql<{ fence_ok: boolean; ok: boolean }[]>`
      WITH f AS MATERIALIZED (${fenceRow(sql, fence)}),
      upd AS (
        UPDATE conversations SET title = CASE WHEN ${p.title !== undefined} THEN ${p.title ?? null} ELSE title END,
          meta = CASE WHEN ${p.meta !== undefined} THEN ${p.meta ?? null} ELSE meta END
        WHERE conv_id = ${convId} AND kind = 'group' AND EXISTS (SELECT 1 FROM f) RETURNING 1
      )
      SELECT EXISTS (SELECT 1 FROM f) AS fence_ok, EXISTS (SELECT 1 FROM upd) AS ok`, this.timeoutMs);
    if (!rows[0]!.fence_ok) throw fencedError(fence!, 'set group profile');
    if (!rows[0]!.ok) throw new ImError(ErrorCode.NOT_FOUND, `no group ${convId}`);
  }

  /**
   * Sets who may post in group `convId`, what it shows members added later, its slow mode, and/or how long its
   * messages are kept (what is not named keeps its value); NOT_FOUND for none, or for a group's rule (all but
   * retention) of a direct conversation.
   */
  async setRules(convId: string, rules: { posting?: Posting; retention?: number; history?: NewcomerHistory; slowMode?: number }, fence?: Fence): Promise<void> {
    checkId(convId, 'convId');
    const { posting, retention: retentionSec, history, slowMode } = rules;
    if (history !== undefined && history !== NewcomerHistory.ALL && history !== NewcomerHistory.JOINED) throw new ImError(ErrorCode.INVALID_FIELD, `history must be "${NewcomerHistory.ALL}" or "${NewcomerHistory.JOINED}"`);
    // Posting, history and slow mode are a group's rules; retention any conversation's.
    const groupOnly = posting ?? history ?? (slowMode === undefined ? null : 'slow mode');
    if (slowMode !== undefined && (!Number.isSafeInteger(slowMode) || slowMode < 0 || slowMode > MAX_SLOW_MODE_SEC)) throw new ImError(ErrorCode.INVALID_FIELD, `slowMode must be whole seconds from 0 to ${MAX_SLOW_MODE_SEC}`);
    if (posting !== undefined && posting !== Posting.ALL && posting !== Posting.ADMINS) throw new ImError(ErrorCode.INVALID_FIELD, `posting must be "${Posting.ALL}" or "${Posting.ADMINS}"`);
    if (retentionSec !== undefined && (!Number.isSafeInteger(retentionSec) || retentionSec < 0 || retentionSec > 2 ** 31 - 1)) throw new ImError(ErrorCode.INVALID_FIELD, 'retention must be whole seconds ≥ 0');
    checkFence(fence);
    const sql = this.sql;
    const rows = await bounded('set conversation rules', sql<{ fence_ok: boolean; ok: boolean }[]>`
      WITH f AS MATERIALIZED (${fenceRow(sql, fence)}),
      upd AS (
        UPDATE conversations SET posting = COALESCE(${posting ?? null}, posting), retention_sec = COALESCE(${retentionSec ?? null}::int, retention_sec),
          history = COALESCE(${history ?? null}, history), slow_mode_sec = COALESCE(${slowMode ?? null}::int, slow_mode_sec)
        WHERE conv_id = ${convId} AND (kind = 'group' OR ${groupOnly}::text IS NULL) AND EXISTS (SELECT 1 FROM f) RETURNING 1
      )
      SELECT EXISTS (SELECT 1 FROM f) AS fence_ok, EXISTS (SELECT 1 FROM upd) AS ok`, this.timeoutMs);
    if (!rows[0]!.fence_ok) throw fencedError(fence!, 'set conversation rules');
    if (!rows[0]!.ok) throw new ImError(ErrorCode.NOT_FOUND, `no ${groupOnly === null ? 'conversation' : 'group'} ${convId}`);
  }

  /**
   * Gives members of a group new roles (`owner`, `admin`, `member`): all of them or, when one named is not a member,
   * none (NOT_MEMBER naming them). The cluster stores and shows roles; what each may do is the business server's rule (but mentioning all, see the chatter).
   * A member made an owner or admin is silenced no more.
   */
  async setRoles(convId: string, roles: Record<string, MemberRole>, fence?: Fence): Promise<Record<string, MemberRole>> {
    checkId(convId, 'convId');
    const uids = Object.keys(roles).sort();
    if (uids.length === 0) throw new ImError(ErrorCode.INVALID_FIELD, 'roles must name at least one member');
    checkUids(uids);
    for (const uid of uids) if (!ROLES.has(roles[uid]!)) throw new ImError(ErrorCode.INVALID_FIELD, `role must be one of ${[...ROLES].join(', ')}`);
    checkFence(fence);
    const sql = this.sql;
    const rows = await bounded('set roles', sql<{ kind: ConversationKind | null; missing: string[]; fence_ok: boolean }[]>`
      WITH f AS MATERIALIZED (${fenceRow(sql, fence)}),
      c AS (SELECT kind FROM conversations WHERE conv_id = ${convId}),
      want AS (SELECT * FROM unnest(${uids}::text[], ${uids.map((u) => roles[u]!)}::text[]) AS t(uid, role)),
      missing AS (SELECT w.uid FROM want w WHERE NOT EXISTS (SELECT 1 FROM members x WHERE x.conv_id = ${convId} AND x.uid = w.uid)),
      upd AS (
        UPDATE members m SET role = want.role, silenced_until = CASE WHEN want.role = 'member' THEN m.silenced_until ELSE 0 END FROM want
        WHERE m.conv_id = ${convId} AND m.uid = want.uid AND (SELECT kind FROM c) = 'group' AND NOT EXISTS (SELECT 1 FROM missing) AND EXISTS (SELECT 1 FROM f)
        RETURNING m.uid
      )
      SELECT (SELECT kind FROM c) AS kind, ARRAY(SELECT uid FROM missing ORDER BY uid) AS missing, EXISTS (SELECT 1 FROM f) AS fence_ok, (SELECT count(*) FROM upd) AS updated`, this.timeoutMs);
    const r = rows[0]!;
    if (!r.fence_ok) throw fencedError(fence!, 'set roles');
    if (r.kind === null) throw new ImError(ErrorCode.NOT_FOUND, `no conversation ${convId}`);
    if (r.kind === 'direct') throw new ImError(ErrorCode.INVALID_FIELD, 'a direct conversation has no roles');
    if (r.missing.length > 0) throw new ImError(ErrorCode.NOT_MEMBER, `not members of ${convId}: ${r.missing.join(', ')}`);
    return Object.fromEntries(uids.map((u) => [u, roles[u]!]));
  }

  /**
   * Silences members of group `convId` until `until` (epoch ms; 0 lifts it): all of them or none. NOT_FOUND unless it
   * is a live group, NOT_MEMBER naming those who are not members, FORBIDDEN naming owners and admins (a silence is
   * for plain members; lifting one is not refused), FENCED past the fence. Returns the uids, sorted.
   */
  async silence(convId: string, uids: string[], until: number, fence?: Fence): Promise<string[]> {
    checkId(convId, 'convId');
    checkUids(uids);
    const want = [...new Set(uids)].sort();
    if (want.length === 0 || want.length > MAX_SILENCE_UIDS) throw new ImError(ErrorCode.INVALID_FIELD, `uids must name 1–${MAX_SILENCE_UIDS} members`);
    if (!Number.isSafeInteger(until) || until < 0 || until > MUTED_FOREVER) throw new ImError(ErrorCode.INVALID_FIELD, `until must be an integer from 0 to ${MUTED_FOREVER}`);
    checkFence(fence);
    const sql = this.sql;
    const rows = await bounded('silence members', sql<{ group: boolean; missing: string[]; moderators: string[]; fence_ok: boolean }[]>`
      WITH f AS MATERIALIZED (${fenceRow(sql, fence)}),
      c AS (SELECT 1 FROM conversations WHERE conv_id = ${convId} AND kind = 'group' AND dissolved_at IS NULL),
      found AS (SELECT uid, role FROM members WHERE conv_id = ${convId} AND uid = ANY(${want}::text[])),
      missing AS (SELECT w.uid FROM unnest(${want}::text[]) AS w(uid) WHERE NOT EXISTS (SELECT 1 FROM found x WHERE x.uid = w.uid)),
      moderators AS (SELECT uid FROM found WHERE role <> 'member' AND ${until}::bigint > 0),
      upd AS (
        UPDATE members m SET silenced_until = ${until} FROM found
        WHERE m.conv_id = ${convId} AND m.uid = found.uid AND EXISTS (SELECT 1 FROM f) AND EXISTS (SELECT 1 FROM c)
          AND NOT EXISTS (SELECT 1 FROM missing) AND NOT EXISTS (SELECT 1 FROM moderators)
        RETURNING 1
      )
      SELECT EXISTS (SELECT 1 FROM c) AS group, ARRAY(SELECT uid FROM missing ORDER BY uid) AS missing,
        ARRAY(SELECT uid FROM moderators ORDER BY uid) AS moderators, EXISTS (SELECT 1 FROM f) AS fence_ok, (SELECT count(*) FROM upd) AS updated`, this.timeoutMs);
    const r = rows[0]!;
    if (!r.fence_ok) throw fencedError(fence!, 'silence members');
    if (!r.group) throw new ImError(ErrorCode.NOT_FOUND, `no group ${convId}`);
    if (r.missing.length > 0) throw new ImError(ErrorCode.NOT_MEMBER, `not members of ${convId}: ${r.missing.join(', ')}`);
    if (r.moderators.length > 0) throw new ImError(ErrorCode.FORBIDDEN, `owners and admins of ${convId} are not silenced: ${r.moderators.join(', ')}`);
    return want;
  }

  /**
   * Dissolves group `convId`: marks it and removes every member (recorded as former members, their mentions gone),
   * in one statement; returns them. NOT_FOUND for none, a direct conversation, or one dissolved already.
   */
  async dissolve(convId: string, fence?: Fence): Promise<string[]> {
    checkId(convId, 'convId');
    checkFence(fence);
    const sql = this.sql;
    const rows = await bounded('dissolve group', sql<{ ok: boolean; removed: string[]; fence_ok: boolean }[]>`
      WITH f AS MATERIALIZED (${fenceRow(sql, fence)}),
      c AS (UPDATE conversations SET dissolved_at = now() WHERE conv_id = ${convId} AND kind = 'group' AND dissolved_at IS NULL AND EXISTS (SELECT 1 FROM f) RETURNING 1),
      del AS (DELETE FROM members WHERE conv_id = ${convId} AND EXISTS (SELECT 1 FROM c) RETURNING uid, cleared_seq),
      -- Every member leaves: the conversation's mentions go in one range of mentions_by_conv, not a lookup per member.
      unmention AS (DELETE FROM mentions WHERE conv_id = ${convId} AND EXISTS (SELECT 1 FROM c) RETURNING 1),
      former AS (
        INSERT INTO former_members (uid, conv_id, cleared_seq) SELECT uid, ${convId}, cleared_seq FROM del
        ON CONFLICT (uid, conv_id) DO UPDATE SET left_at = now(), cleared_seq = EXCLUDED.cleared_seq RETURNING 1
      )
      SELECT EXISTS (SELECT 1 FROM c) AS ok, ARRAY(SELECT uid FROM del ORDER BY uid) AS removed, EXISTS (SELECT 1 FROM f) AS fence_ok`, this.timeoutMs);
    if (!rows[0]!.fence_ok) throw fencedError(fence!, 'dissolve group');
    if (!rows[0]!.ok) throw new ImError(ErrorCode.NOT_FOUND, `no group ${convId} to dissolve`);
    return rows[0]!.removed;
  }
}
