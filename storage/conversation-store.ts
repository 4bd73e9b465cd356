import { randomUUID } from 'node:crypto';
import { ErrorCode, ImError } from '../protocol/errors.js';
import type { Sql } from './db.js';
import { guard } from './pg-errors.js';
import type { Fence } from './types.js';

export type ConversationKind = 'direct' | 'group';
export type MemberRole = 'owner' | 'admin' | 'member';

export interface Conversation {
  convId: string;
  kind: ConversationKind;
  title: string | null;
  createdAt: number;
}

export interface Member {
  uid: string;
  role: MemberRole;
  readSeq: number;
  joinedAt: number;
}

/** One entry of a user's conversation list. */
export interface UserConversation {
  convId: string;
  kind: ConversationKind;
  lastSeq: number;
  readSeq: number;
  unread: number;
}

const MAX_ID = 128;

function checkId(v: unknown, field: string): asserts v is string {
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_ID) throw new ImError(ErrorCode.INVALID_FIELD, `${field} must be a non-empty string of at most ${MAX_ID} characters`);
}

/** The deterministic id of the direct conversation between two users (order of the two does not matter). */
export function directConversationId(a: string, b: string): string {
  checkId(a, 'uid');
  checkId(b, 'uid');
  if (a === b) throw new ImError(ErrorCode.INVALID_FIELD, 'a direct conversation needs two different users');
  const [x, y] = a < b ? [a, b] : [b, a];
  return `d:${x.length}:${x}:${y}`;
}

/** Conversations, their members, and each member's read mark (the per-user conversation list). */
export class ConversationStore {
  constructor(private readonly sql: Sql) {}

  /** Creates (or returns) the direct conversation of two users, with both as members. Idempotent. */
  async createDirect(a: string, b: string): Promise<Conversation> {
    const convId = directConversationId(a, b);
    return guard('create direct conversation', () =>
      this.sql.begin(async (tx) => {
        await tx`INSERT INTO conversations (conv_id, kind) VALUES (${convId}, 'direct') ON CONFLICT DO NOTHING`;
        await tx`INSERT INTO members (conv_id, uid, role) VALUES (${convId}, ${a}, 'member'), (${convId}, ${b}, 'member') ON CONFLICT DO NOTHING`;
        const [c] = await tx<{ conv_id: string; kind: ConversationKind; title: string | null; created_at: Date }[]>`SELECT * FROM conversations WHERE conv_id = ${convId}`;
        return { convId, kind: c!.kind, title: c!.title, createdAt: c!.created_at.getTime() };
      }),
    );
  }

  /** Creates a group (id generated when absent) with its owner and members. Idempotent for a given id. */
  async createGroup(opts: { convId?: string; title?: string; owner: string; members?: string[] }): Promise<Conversation> {
    const convId = opts.convId ?? `g:${randomUUID()}`;
    checkId(convId, 'convId');
    checkId(opts.owner, 'owner');
    const members = [...new Set((opts.members ?? []).filter((m) => m !== opts.owner))];
    members.forEach((m) => checkId(m, 'member'));
    return guard('create group', () =>
      this.sql.begin(async (tx) => {
        const [c] = await tx<{ kind: ConversationKind; title: string | null; created_at: Date }[]>`
          INSERT INTO conversations (conv_id, kind, title) VALUES (${convId}, 'group', ${opts.title ?? null})
          ON CONFLICT (conv_id) DO UPDATE SET conv_id = EXCLUDED.conv_id RETURNING kind, title, created_at`;
        if (c!.kind !== 'group') throw new ImError(ErrorCode.CONFLICT, `${convId} exists and is not a group`);
        await tx`INSERT INTO members (conv_id, uid, role) VALUES (${convId}, ${opts.owner}, 'owner') ON CONFLICT DO NOTHING`;
        if (members.length) await tx`INSERT INTO members (conv_id, uid) SELECT ${convId}, u FROM unnest(${members}::text[]) AS u ON CONFLICT DO NOTHING`;
        return { convId, kind: 'group' as const, title: c!.title, createdAt: c!.created_at.getTime() };
      }),
    );
  }

  /** The conversation, or undefined. */
  async get(convId: string): Promise<Conversation | undefined> {
    checkId(convId, 'convId');
    const rows = await guard('read conversation', () => this.sql<{ conv_id: string; kind: ConversationKind; title: string | null; created_at: Date }[]>`SELECT * FROM conversations WHERE conv_id = ${convId}`);
    const c = rows[0];
    return c && { convId: c.conv_id, kind: c.kind, title: c.title, createdAt: c.created_at.getTime() };
  }

  /** Adds members to a group (direct conversations keep their two). Returns the uids that were added. */
  async addMembers(convId: string, uids: string[], role: MemberRole = 'member'): Promise<string[]> {
    checkId(convId, 'convId');
    uids.forEach((u) => checkId(u, 'uid'));
    const conv = await this.get(convId);
    if (!conv) throw new ImError(ErrorCode.NOT_FOUND, `no conversation ${convId}`);
    if (conv.kind === 'direct') throw new ImError(ErrorCode.INVALID_FIELD, 'a direct conversation has exactly two members');
    const rows = await guard('add members', () => this.sql<{ uid: string }[]>`
      INSERT INTO members (conv_id, uid, role) SELECT ${convId}, u, ${role} FROM unnest(${uids}::text[]) AS u ON CONFLICT DO NOTHING RETURNING uid`);
    return rows.map((r) => r.uid);
  }

  /** Removes members. Returns the uids that were removed. */
  async removeMembers(convId: string, uids: string[]): Promise<string[]> {
    checkId(convId, 'convId');
    uids.forEach((u) => checkId(u, 'uid'));
    const rows = await guard('remove members', () => this.sql<{ uid: string }[]>`DELETE FROM members WHERE conv_id = ${convId} AND uid = ANY(${uids}::text[]) RETURNING uid`);
    return rows.map((r) => r.uid);
  }

  /** Every member of a conversation. */
  async members(convId: string): Promise<Member[]> {
    checkId(convId, 'convId');
    const rows = await guard('list members', () => this.sql<{ uid: string; role: MemberRole; read_seq: number; joined_at: Date }[]>`SELECT uid, role, read_seq, joined_at FROM members WHERE conv_id = ${convId} ORDER BY uid`);
    return rows.map((r) => ({ uid: r.uid, role: r.role, readSeq: r.read_seq, joinedAt: r.joined_at.getTime() }));
  }

  /** True when `uid` is a member of `convId`. */
  async isMember(convId: string, uid: string): Promise<boolean> {
    checkId(convId, 'convId');
    checkId(uid, 'uid');
    const rows = await guard('check membership', () => this.sql`SELECT 1 FROM members WHERE conv_id = ${convId} AND uid = ${uid}`);
    return rows.length > 0;
  }

  /** A user's conversation list with last seq, read mark and exact unread count, in one statement. */
  async userConversations(uid: string): Promise<UserConversation[]> {
    checkId(uid, 'uid');
    const rows = await guard('list user conversations', () => this.sql<{ conv_id: string; kind: ConversationKind; read_seq: number; last_seq: number; unread: number }[]>`
      SELECT mb.conv_id, c.kind, mb.read_seq,
             COALESCE(l.last_seq, 0) AS last_seq,
             (SELECT count(*)::int FROM messages m WHERE m.conv_id = mb.conv_id AND m.seq > mb.read_seq) AS unread
      FROM members mb
      JOIN conversations c ON c.conv_id = mb.conv_id
      LEFT JOIN LATERAL (SELECT max(seq) AS last_seq FROM messages m WHERE m.conv_id = mb.conv_id) l ON true
      WHERE mb.uid = ${uid}
      ORDER BY last_seq DESC, mb.conv_id`);
    return rows.map((r) => ({ convId: r.conv_id, kind: r.kind, lastSeq: r.last_seq, readSeq: r.read_seq, unread: r.unread }));
  }

  /**
   * Moves a read mark forward (never back) and returns the stored mark; NOT_MEMBER when `uid` is not in
   * the conversation. With a fence (the user's connector shard), a stale epoch stores nothing.
   */
  async setReadMark(uid: string, convId: string, seq: number, fence?: Fence): Promise<number> {
    checkId(uid, 'uid');
    checkId(convId, 'convId');
    if (!Number.isSafeInteger(seq) || seq < 0) throw new ImError(ErrorCode.INVALID_FIELD, 'seq must be a non-negative safe integer');
    const f = fence;
    const rows = await guard('set read mark', () =>
      f
        ? this.sql<{ read_seq: number | null; fence_ok: boolean }[]>`
            WITH f AS (SELECT 1 FROM shards WHERE kind = ${f.kind} AND shard = ${f.shard} AND epoch = ${f.epoch} FOR SHARE),
            u AS (UPDATE members SET read_seq = GREATEST(read_seq, ${seq}) WHERE conv_id = ${convId} AND uid = ${uid} AND EXISTS (SELECT 1 FROM f) RETURNING read_seq)
            SELECT (SELECT read_seq FROM u) AS read_seq, EXISTS (SELECT 1 FROM f) AS fence_ok`
        : this.sql<{ read_seq: number | null; fence_ok: boolean }[]>`
            WITH u AS (UPDATE members SET read_seq = GREATEST(read_seq, ${seq}) WHERE conv_id = ${convId} AND uid = ${uid} RETURNING read_seq)
            SELECT (SELECT read_seq FROM u) AS read_seq, true AS fence_ok`,
    );
    const r = rows[0]!;
    if (!r.fence_ok) throw new ImError(ErrorCode.FENCED, `shard ${f!.kind}/${f!.shard} is no longer at epoch ${f!.epoch}`);
    if (r.read_seq === null) throw new ImError(ErrorCode.NOT_MEMBER, `${uid} is not a member of ${convId}`);
    return r.read_seq;
  }
}
