import type postgres from 'postgres';
import { DIRECT_CONV_PREFIX, isDirectConvId } from '../protocol/conv-id.js';
import { ErrorCode, ImError } from '../protocol/errors.js';
import { NewcomerHistory, Posting, type MemberRole } from '../protocol/frames.js';
import { DEFAULT_MAX_GROUP_MEMBERS, DEFAULT_MAX_USER_CONVERSATIONS } from '../protocol/limits.js';
import type { Sql } from './db.js';
import { checkFence, fencedError, fenceRow } from './fence.js';
import { checkMeta, checkTitle, ROLES } from './group-fields.js';
import { bounded, DEFAULT_STATEMENT_TIMEOUT_MS } from './pg-errors.js';
import { checkId, checkUids, directConversationId, newGroupConvId } from './ids.js';
import type { Fence } from './types.js';
import { joinedAt, MemberLimits, type GroupSize } from './member-limits.js';
import { DEFAULT_MEMBER_COUNT_CAP, mentionsAfter, readUserConversations, unreadAfter, type UserConversation } from './user-conversations.js';
import { lastMessage } from './message-ordinals.js';

export { checkId, directConversationId, newGroupConvId } from './ids.js';
export { DEFAULT_MEMBER_COUNT_CAP, type UserConversation } from './user-conversations.js';

export type ConversationKind = 'direct' | 'group';
export type { MemberRole };

export interface Conversation {
  convId: string;
  kind: ConversationKind;
  title: string | null;
  /** A group's app-defined data (avatar, description, …), passed on as it is; null: none. */
  meta: string | null;
  createdAt: number;
  /** Who may post (a group's rule; `all` for a direct conversation). */
  posting: Posting;
  /** How long its messages are kept, seconds (0: as long as the cluster keeps them). */
  retentionSec: number;
  /** What a group shows members added later (`all` for a direct conversation). */
  history: NewcomerHistory;
  /** A group's slow mode: a plain member posts once per this many seconds (0: off). */
  slowModeSec: number;
  /** When the business server dissolved the group (epoch ms); absent while it lives. */
  dissolvedAt?: number;
}

export interface Member {
  uid: string;
  role: MemberRole;
  readSeq: number;
  /** The highest seq one of the member's devices acknowledged holding. */
  deliveredSeq: number;
  joinedAt: number;
  /** Muted until then (epoch ms; 0: never muted, or unmuted). */
  mutedUntil: number;
  /** Silenced by the business server until then (epoch ms; 0: not): no posts of their own. */
  silencedUntil: number;
  /** Nothing up to it is served to them (their clear, or a `joined` group's history start); 0: none. */
  clearedSeq: number;
}

/** A member a statement added, and what their history is cleared up to (see joinedAt). */
export interface AddedMember {
  uid: string;
  clearedSeq: number;
}

/** The rows of `cte` (which returns `uid, cleared_seq`) as a JSON array of AddedMember, by uid. */
function addedOf(sql: Sql, cte: string): postgres.Fragment {
  return sql`COALESCE((SELECT json_agg(json_build_object('uid', x.uid, 'clearedSeq', x.cleared_seq) ORDER BY x.uid) FROM ${sql(cte)} x), '[]'::json)`;
}

/** A member as another member sees them: the read mark only where the privacy rules let it through, the delivery mark but across a block. */
export interface VisibleMember {
  uid: string;
  role: MemberRole;
  readSeq?: number;
  deliveredSeq?: number;
  /** Silenced until then (epoch ms), shown to the group's owners and admins and to the member themself. */
  silencedUntil?: number;
}

interface RawConversation {
  conv_id: string;
  kind: ConversationKind;
  title: string | null;
  meta: string | null;
  created_at: Date;
  posting: Posting;
  retention_sec: number;
  history: NewcomerHistory;
  slow_mode_sec: number;
  dissolved_at: Date | null;
}

/** A read mark as stored, with the unread count it leaves (exact as of `lastSeq`). */
export interface ReadMark {
  readSeq: number;
  unread: number;
  /** How many of the unread messages mention the user. */
  mentions: number;
  /** The conversation's last stored seq when the count was taken. */
  lastSeq: number;
}

const toConversation = (c: RawConversation): Conversation => ({
  convId: c.conv_id,
  kind: c.kind,
  title: c.title,
  meta: c.meta,
  createdAt: c.created_at.getTime(),
  posting: c.posting,
  retentionSec: c.retention_sec,
  history: c.history,
  slowModeSec: c.slow_mode_sec,
  ...(c.dissolved_at ? { dissolvedAt: c.dissolved_at.getTime() } : {}),
});

export interface ConversationStoreOptions {
  /** Deadline of one statement. */
  timeoutMs?: number;
  /** Conversations one user may be in; adds past it are refused with LIMIT_REACHED. */
  maxUserConversations?: number;
  /** Members one group may have; creates and adds past it are refused with LIMIT_REACHED. */
  maxGroupMembers?: number;
}


/** Conversations, their members, and each member's read mark (the per-user conversation list). */
export class ConversationStore {
  private readonly timeoutMs: number;
  private readonly limits: MemberLimits;

  constructor(
    private readonly sql: Sql,
    opts: ConversationStoreOptions = {},
  ) {
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS;
    this.limits = new MemberLimits(sql, opts.maxUserConversations ?? DEFAULT_MAX_USER_CONVERSATIONS, opts.maxGroupMembers ?? DEFAULT_MAX_GROUP_MEMBERS);
  }

  /** Creates (or returns) the direct conversation of two users, with both as members, in one statement. Idempotent. */
  async createDirect(a: string, b: string): Promise<Conversation & { added: string[] }> {
    const convId = directConversationId(a, b);
    // The no-op DO UPDATE makes RETURNING give the existing row too; members go in only for a direct one.
    const rows = await bounded('create direct conversation', this.sql<(RawConversation & { at_limit: string[]; added: string[] })[]>`
      WITH at_limit AS (${this.limits.atLimit(convId, [a, b])}),
      c AS (
        INSERT INTO conversations (conv_id, kind) SELECT ${convId}, 'direct' WHERE NOT EXISTS (SELECT 1 FROM at_limit)
        ON CONFLICT (conv_id) DO UPDATE SET conv_id = EXCLUDED.conv_id RETURNING *
      ), m AS (
        INSERT INTO members (conv_id, uid) SELECT ${convId}, u FROM unnest(${[a, b]}::text[]) AS u
        WHERE (SELECT kind FROM c) = 'direct' ON CONFLICT DO NOTHING RETURNING uid
      )
      SELECT c.*, ARRAY(SELECT u FROM at_limit ORDER BY u) AS at_limit, ARRAY(SELECT uid FROM m ORDER BY uid) AS added
      FROM (SELECT 1) AS one LEFT JOIN c ON true`, this.timeoutMs);
    const c = rows[0]!;
    if (c.at_limit.length > 0) throw this.limits.limitReached(c.at_limit);
    if (c.kind !== 'direct') throw new ImError(ErrorCode.CONFLICT, `${convId} exists and is not a direct conversation`);
    return { ...toConversation(c), added: c.added };
  }

  /**
   * Creates a group (id generated when absent) with its owner and members, in one statement. Idempotent for a given
   * id: for a group that exists, it adds whom it names (the owner named too) as plain members, and changes nothing
   * else. `added`: those of them who were not members yet.
   */
  async createGroup(opts: { convId?: string; title?: string; meta?: string; owner: string; members?: string[]; posting?: Posting; retentionSec?: number; history?: NewcomerHistory; slowModeSec?: number }, fence?: Fence): Promise<Conversation & { added: AddedMember[] }> {
    const convId = opts.convId ?? newGroupConvId();
    checkId(convId, 'convId');
    if (isDirectConvId(convId)) throw new ImError(ErrorCode.INVALID_FIELD, `group ids must not start with '${DIRECT_CONV_PREFIX}'`);
    checkId(opts.owner, 'owner');
    if (opts.title !== undefined) checkTitle(opts.title);
    if (opts.meta !== undefined) checkMeta(opts.meta);
    const extra = opts.members ?? [];
    checkUids(extra);
    const members = [...new Set(extra.filter((m) => m !== opts.owner))];
    checkFence(fence);
    const rows = await bounded('create group', this.sql<(RawConversation & GroupSize & { at_limit: string[]; added: AddedMember[]; fence_ok: boolean })[]>`
      WITH f AS MATERIALIZED (${fenceRow(this.sql, fence)}),
      at_limit AS (${this.limits.atLimit(convId, [opts.owner, ...members])}),
      size AS (${this.limits.groupSize(convId, [opts.owner, ...members])}),
      c AS (
        INSERT INTO conversations (conv_id, kind, title, meta, posting, retention_sec, history, slow_mode_sec) SELECT ${convId}, 'group', ${opts.title ?? null}, ${opts.meta ?? null}, ${opts.posting ?? Posting.ALL}, ${opts.retentionSec ?? 0}, ${opts.history ?? NewcomerHistory.ALL}, ${opts.slowModeSec ?? 0}
        WHERE NOT EXISTS (SELECT 1 FROM at_limit) AND (SELECT fits FROM size) AND EXISTS (SELECT 1 FROM f)
        ON CONFLICT (conv_id) DO UPDATE SET conv_id = EXCLUDED.conv_id RETURNING *, (xmax = 0) AS created
      ), m AS (
        -- The owner named is made owner only by the creation: asked again, the group adds whom it names as members.
        INSERT INTO members (conv_id, uid, role, joined_seq, cleared_seq)
        SELECT ${convId}, u, CASE WHEN u = ${opts.owner} AND (SELECT created FROM c) THEN 'owner' ELSE 'member' END, ${joinedAt(this.sql, convId)}
        FROM unnest(${[opts.owner, ...members]}::text[]) AS u
        WHERE (SELECT kind FROM c) = 'group' AND (SELECT dissolved_at FROM c) IS NULL ON CONFLICT DO NOTHING
        RETURNING uid, cleared_seq
      )
      SELECT c.*, ARRAY(SELECT u FROM at_limit ORDER BY u) AS at_limit, ${addedOf(this.sql, 'm')} AS added, EXISTS (SELECT 1 FROM f) AS fence_ok, size.* FROM size LEFT JOIN c ON true`, this.timeoutMs);
    const c = rows[0]!;
    if (!c.fence_ok) throw fencedError(fence!, 'create group');
    if (c.at_limit.length > 0) throw this.limits.limitReached(c.at_limit);
    if (!c.fits) throw this.limits.groupTooBig(c);
    if (c.kind !== 'group') throw new ImError(ErrorCode.CONFLICT, `${convId} exists and is not a group`);
    if (c.dissolved_at !== null) throw new ImError(ErrorCode.CONFLICT, `${convId} was dissolved: its id is not given out again`);
    return { ...toConversation(c), added: c.added };
  }

  /** The conversation, or undefined. */
  async get(convId: string): Promise<Conversation | undefined> {
    checkId(convId, 'convId');
    const rows = await bounded('read conversation', this.sql<RawConversation[]>`SELECT * FROM conversations WHERE conv_id = ${convId}`, this.timeoutMs);
    return rows[0] && toConversation(rows[0]);
  }

  /** Adds members to a group (a direct conversation keeps its two). Returns those who were not members yet, by uid. */
  async addMembers(convId: string, uids: string[], role: MemberRole = 'member', fence?: Fence): Promise<AddedMember[]> {
    checkId(convId, 'convId');
    checkUids(uids);
    if (!ROLES.has(role)) throw new ImError(ErrorCode.INVALID_FIELD, `role must be one of ${[...ROLES].join(', ')}`);
    const unique = [...new Set(uids)];
    checkFence(fence);
    const rows = await bounded('add members', this.sql<(GroupSize & { kind: ConversationKind | null; added: AddedMember[]; at_limit: string[]; fence_ok: boolean })[]>`
      WITH f AS MATERIALIZED (${fenceRow(this.sql, fence)}),
      c AS (SELECT kind FROM conversations WHERE conv_id = ${convId} AND dissolved_at IS NULL),
      at_limit AS (${this.limits.atLimit(convId, unique)}),
      size AS (${this.limits.groupSize(convId, unique)}),
      ins AS (
        INSERT INTO members (conv_id, uid, role, joined_seq, cleared_seq) SELECT ${convId}, u, ${role}, ${joinedAt(this.sql, convId)} FROM unnest(${unique}::text[]) AS u
        WHERE (SELECT kind FROM c) = 'group' AND NOT EXISTS (SELECT 1 FROM at_limit) AND (SELECT fits FROM size) AND EXISTS (SELECT 1 FROM f)
        ON CONFLICT DO NOTHING RETURNING uid, cleared_seq
      )
      SELECT (SELECT kind FROM c) AS kind, ${addedOf(this.sql, 'ins')} AS added, ARRAY(SELECT u FROM at_limit ORDER BY u) AS at_limit, EXISTS (SELECT 1 FROM f) AS fence_ok, size.* FROM size`, this.timeoutMs);
    const r = rows[0]!;
    if (!r.fence_ok) throw fencedError(fence!, 'add members');
    if (r.kind === null) throw new ImError(ErrorCode.NOT_FOUND, `no conversation ${convId}`);
    if (r.kind === 'direct') throw new ImError(ErrorCode.INVALID_FIELD, 'a direct conversation has exactly two members');
    if (r.at_limit.length > 0) throw this.limits.limitReached(r.at_limit);
    if (!r.fits) throw this.limits.groupTooBig(r);
    return r.added;
  }

  /** Of `uids`, the members of `convId` with where their history starts (as addMembers answers for newcomers), by uid. */
  async joinedRows(convId: string, uids: string[]): Promise<AddedMember[]> {
    checkId(convId, 'convId');
    checkUids(uids);
    const rows = await bounded('read joined members', this.sql<{ uid: string; cleared_seq: number }[]>`
      SELECT uid, cleared_seq FROM members WHERE conv_id = ${convId} AND uid = ANY(${uids}::text[]) ORDER BY uid`, this.timeoutMs);
    return rows.map((r) => ({ uid: r.uid, clearedSeq: r.cleared_seq }));
  }

  /** Removes members from a group (a direct conversation keeps its two). Returns the uids that were removed. */
  async removeMembers(convId: string, uids: string[], fence?: Fence): Promise<string[]> {
    checkId(convId, 'convId');
    checkUids(uids);
    checkFence(fence);
    const rows = await bounded('remove members', this.sql<{ kind: ConversationKind | null; removed: string[]; fence_ok: boolean }[]>`
      WITH f AS MATERIALIZED (${fenceRow(this.sql, fence)}),
      c AS (SELECT kind FROM conversations WHERE conv_id = ${convId}),
      del AS (
        DELETE FROM members WHERE conv_id = ${convId} AND uid = ANY(${uids}::text[]) AND (SELECT kind FROM c) = 'group' AND EXISTS (SELECT 1 FROM f) RETURNING uid, cleared_seq
      ),
      -- Their mentions go with them: added again later, they would count as unread once more.
      unmention AS (DELETE FROM mentions x USING del WHERE x.uid = del.uid AND x.conv_id = ${convId} RETURNING 1),
      -- What they wrote stays: an erasure of their account must still find this conversation.
      former AS (
        INSERT INTO former_members (uid, conv_id, cleared_seq) SELECT uid, ${convId}, cleared_seq FROM del
        ON CONFLICT (uid, conv_id) DO UPDATE SET left_at = now(), cleared_seq = EXCLUDED.cleared_seq RETURNING 1
      )
      SELECT (SELECT kind FROM c) AS kind, ARRAY(SELECT uid FROM del ORDER BY uid) AS removed, EXISTS (SELECT 1 FROM f) AS fence_ok`, this.timeoutMs);
    const r = rows[0]!;
    if (!r.fence_ok) throw fencedError(fence!, 'remove members');
    if (r.kind === null) throw new ImError(ErrorCode.NOT_FOUND, `no conversation ${convId}`);
    if (r.kind === 'direct') throw new ImError(ErrorCode.INVALID_FIELD, 'a direct conversation has exactly two members');
    return r.removed;
  }

  /** The members of a conversation by uid: all of them, or with `page` those above `after`, at most `limit`. */
  async members(convId: string, page?: { after: string; limit: number }): Promise<Member[]> {
    checkId(convId, 'convId');
    const rows = await bounded('list members', this.sql<{ uid: string; role: MemberRole; read_seq: number; delivered_seq: number; joined_at: Date; muted_until: number; silenced_until: number; cleared_seq: number }[]>`
      SELECT uid, role, read_seq, delivered_seq, joined_at, muted_until, silenced_until, cleared_seq FROM members WHERE conv_id = ${convId} ${page ? this.sql`AND uid > ${page.after}` : this.sql``}
      ORDER BY uid ${page ? this.sql`LIMIT ${page.limit}` : this.sql``}`, this.timeoutMs);
    return rows.map((r) => ({ uid: r.uid, role: r.role, readSeq: r.read_seq, deliveredSeq: r.delivered_seq, joinedAt: r.joined_at.getTime(), mutedUntil: r.muted_until, silencedUntil: r.silenced_until, clearedSeq: r.cleared_seq }));
  }

  /**
   * A page of `convId`'s members (uid above `after`, at most `limit`, by uid) as `asker` may see them: another
   * member's read mark only when neither of the two has read receipts off and neither blocks the other (the rules
   * of direct conversations' `peerRead`), and their delivery mark unless one of the two blocks the other. NOT_MEMBER
   * when `asker` is not in the conversation.
   */
  async membersAs(asker: string, convId: string, after: string, limit: number): Promise<{ members: VisibleMember[]; more: boolean }> {
    checkId(asker, 'asker');
    checkId(convId, 'convId');
    const sql = this.sql;
    const [member, rows] = await Promise.all([
      this.isMember(convId, asker),
      bounded('list members as a member', sql<{ uid: string; role: MemberRole; read_seq: number | null; delivered_seq: number; blocked: boolean; silenced_until: number }[]>`
        SELECT m.uid, m.role, m.delivered_seq, b.blocked,
               -- Who is silenced is for those who moderate (and the member themself) to see.
               CASE WHEN m.uid = ${asker} OR EXISTS (SELECT 1 FROM members a WHERE a.conv_id = m.conv_id AND a.uid = ${asker} AND a.role IN ('owner', 'admin')) THEN m.silenced_until ELSE 0 END AS silenced_until,
               CASE WHEN m.uid = ${asker} THEN m.read_seq
                    WHEN b.blocked OR EXISTS (SELECT 1 FROM user_settings s WHERE s.uid IN (m.uid, ${asker}) AND NOT s.read_receipts)
                    THEN NULL ELSE m.read_seq END AS read_seq
        FROM members m
        CROSS JOIN LATERAL (SELECT EXISTS (SELECT 1 FROM user_blocks b WHERE (b.uid = m.uid AND b.blocked_uid = ${asker}) OR (b.uid = ${asker} AND b.blocked_uid = m.uid)) AS blocked) b
        WHERE m.conv_id = ${convId} AND m.uid > ${after} ORDER BY m.uid LIMIT ${limit + 1}`, this.timeoutMs),
    ]);
    if (!member) throw new ImError(ErrorCode.NOT_MEMBER, `${asker} is not a member of ${convId}`);
    const now = Date.now();
    const members = rows.slice(0, limit).map((r) => {
      const m: VisibleMember = { uid: r.uid, role: r.role };
      if (r.read_seq !== null) m.readSeq = r.read_seq;
      if (!r.blocked) m.deliveredSeq = r.delivered_seq;
      if (r.silenced_until > now) m.silencedUntil = r.silenced_until;
      return m;
    });
    return { members, more: rows.length > limit };
  }

  /** Every conversation `uid` is in, by id (no counts: for walking them, as an account's erasure does). */
  async conversationIdsOf(uid: string): Promise<string[]> {
    checkId(uid, 'uid');
    const rows = await bounded('list conversation ids', this.sql<{ conv_id: string }[]>`SELECT conv_id FROM members WHERE uid = ${uid} ORDER BY conv_id`, this.timeoutMs);
    return rows.map((r) => r.conv_id);
  }

  /** Every conversation `uid` is in or was ever removed from (or left), by id: where they may have written. */
  async everInIdsOf(uid: string): Promise<string[]> {
    checkId(uid, 'uid');
    const rows = await bounded('list conversation ids ever in', this.sql<{ conv_id: string }[]>`
      SELECT conv_id FROM members WHERE uid = ${uid} UNION SELECT conv_id FROM former_members WHERE uid = ${uid} ORDER BY conv_id`, this.timeoutMs);
    return rows.map((r) => r.conv_id);
  }

  /** True when `uid` is a member of `convId`. */
  async isMember(convId: string, uid: string): Promise<boolean> {
    checkId(convId, 'convId');
    checkId(uid, 'uid');
    const rows = await bounded('check membership', this.sql`SELECT 1 FROM members WHERE conv_id = ${convId} AND uid = ${uid}`, this.timeoutMs);
    return rows.length > 0;
  }

  /** A user's conversation list (see `readUserConversations`). */
  userConversations(uid: string, memberCap = DEFAULT_MEMBER_COUNT_CAP): Promise<UserConversation[]> {
    return readUserConversations(this.sql, uid, memberCap, this.timeoutMs);
  }

  /**
   * Moves a read mark forward (never back) and returns the stored mark with the user's unread count after it and
   * the last seq that count runs to; NOT_MEMBER when `uid` is not in the conversation. The mark is capped at the
   * conversation's last stored seq: a mark past it would hide the next messages from the unread count. With a
   * fence (the user's connector shard), a stale epoch stores nothing.
   */
  async setReadMark(uid: string, convId: string, seq: number, fence?: Fence): Promise<ReadMark> {
    checkId(uid, 'uid');
    checkId(convId, 'convId');
    if (!Number.isSafeInteger(seq) || seq < 0) throw new ImError(ErrorCode.INVALID_FIELD, 'seq must be a non-negative safe integer');
    checkFence(fence);
    const sql = this.sql;
    const rows = await bounded('set read mark', sql<{ read_seq: number | null; fence_ok: boolean; last_seq: number; unread: number | null; mentions: number | null }[]>`
      WITH f AS MATERIALIZED (${fenceRow(sql, fence)}),
      l AS (${lastMessage(sql, sql`${convId}::text`)}),
      u AS (
        UPDATE members
        -- Any read of the conversation takes a "mark as unread" off (migration 340): the user looked at it.
        SET read_seq = GREATEST(read_seq, LEAST(${seq}::int8, (SELECT last_seq FROM l))), marked_unread_at = 0
        WHERE conv_id = ${convId} AND uid = ${uid} AND EXISTS (SELECT 1 FROM f)
        RETURNING read_seq
      ),
      r AS (SELECT GREATEST((SELECT read_seq FROM u), (SELECT joined_seq FROM members WHERE conv_id = ${convId} AND uid = ${uid}), (SELECT cleared_seq FROM members WHERE conv_id = ${convId} AND uid = ${uid}), (SELECT expired_seq FROM conversations WHERE conv_id = ${convId}), COALESCE((SELECT max(seq) FROM messages m WHERE m.conv_id = ${convId} AND m.sender_uid = ${uid}), 0)) AS seen,
                   (SELECT ordinals_from FROM conversations WHERE conv_id = ${convId}) AS ordinals_from)
      -- The count of userConversations, for this one conversation.
      SELECT (SELECT read_seq FROM u) AS read_seq, EXISTS (SELECT 1 FROM f) AS fence_ok, (SELECT last_seq FROM l) AS last_seq,
             ${unreadAfter(sql, sql`${convId}::text`, sql`(SELECT last_seq FROM l)`, sql`(SELECT last_ordinal FROM l)`, sql`r.ordinals_from`, sql`${uid}::text`)} AS unread,
             ${mentionsAfter(sql, sql`${convId}::text`, sql`${uid}::text`)} AS mentions
      FROM r`, this.timeoutMs);
    const r = rows[0]!;
    if (!r.fence_ok) throw fencedError(fence!, 'set read mark');
    if (r.read_seq === null) throw new ImError(ErrorCode.NOT_MEMBER, `${uid} is not a member of ${convId}`);
    return { readSeq: r.read_seq, unread: r.unread ?? 0, mentions: r.mentions ?? 0, lastSeq: r.last_seq };
  }
}
