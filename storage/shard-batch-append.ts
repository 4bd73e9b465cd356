import { ErrorCode, ImError, toImError } from '../protocol/errors.js';
import type { Sql } from './db.js';
import { checkFence, fencedError } from './fence.js';
import type { NewMessage } from './message-store.js';
import { bounded, DEFAULT_STATEMENT_TIMEOUT_MS } from './pg-errors.js';
import type { Fence } from './types.js';

/** The rows one shard owner appends under its fence. */
export interface ShardRows {
  fence: Fence;
  rows: NewMessage[];
}

/** What became of one group: stored (with the commit time) or refused as a whole. */
export type ShardAppendOutcome = { ok: true; createdAt: number } | { ok: false; error: ImError };

const UNIQUE_VIOLATION = '23505';
const utf8 = new TextDecoder();
const DEADLOCK = '40P01';
/** A row without an ordinal, in the statement's int8 array (ordinals start at 0, so -1 is never one): stored as NULL. */
const NO_ORDINAL = -1;

/**
 * Group commit across shards: the rows of many shards (all of one kind) in ONE statement and one commit, each
 * shard's rows stored only while its epoch still matches (the shard rows are read FOR SHARE, in shard order, so
 * an epoch bump waits for the statement). A node owns dozens of chatter shards; one statement per shard would
 * cost one commit (one WAL flush) per shard per turn, which is what keeps unbatched persistence near 2–5k/s.
 * The rows are expected to be new keys: chatters dedup against Postgres before they assign a seq.
 */
export async function appendAcrossShards(sql: Sql, groups: ShardRows[], timeoutMs = DEFAULT_STATEMENT_TIMEOUT_MS): Promise<ShardAppendOutcome[]> {
  if (groups.length === 0) return [];
  const kind = groups[0]!.fence.kind;
  for (const g of groups) {
    checkFence(g.fence);
    if (g.fence.kind !== kind) throw new ImError(ErrorCode.INVALID_FIELD, 'appendAcrossShards takes the shards of one kind');
  }
  const shards: number[] = [];
  const epochs: number[] = [];
  const rows: NewMessage[] = [];
  /** Whether any row amends (recall, edit, reaction) or names (mentions, reply, mention all): only then do those columns go. */
  let amends = false;
  let names = false;
  const c = { conv: [] as string[], seq: [] as number[], prev: [] as number[], uid: [] as string[], did: [] as string[], cid: [] as number[], body: [] as Buffer[], shard: [] as number[], ordinal: [] as number[] };
  /** The rows that recall or edit an earlier message, apart: only they go into the amending part of the statement. */
  const a = { conv: [] as string[], seq: [] as number[], shard: [] as number[], recalls: [] as number[], edits: [] as number[], body: [] as Buffer[] };
  /** What the batch's reactions do to the counts: +1 for each one's reaction, -1 for the one it replaced. */
  const rc: ReactionDeltas = { conv: [], target: [], emoji: [], d: [], seq: [], shard: [] };
  for (const g of groups) {
    shards.push(g.fence.shard);
    epochs.push(g.fence.epoch);
    for (const r of g.rows) {
      rows.push(r);
      c.conv.push(r.convId);
      c.seq.push(r.seq);
      c.prev.push(r.prevSeq);
      c.uid.push(r.senderUid);
      c.did.push(r.senderDid);
      c.cid.push(r.clientMsgId);
      c.body.push(Buffer.isBuffer(r.body) ? r.body : Buffer.from(r.body.buffer, r.body.byteOffset, r.body.byteLength));
      c.shard.push(g.fence.shard);
      c.ordinal.push(r.ordinal ?? NO_ORDINAL);
      if (r.reacts !== undefined) {
        amends = true;
        const emoji = utf8.decode(c.body[c.body.length - 1]!);
        if (emoji !== '') pushDelta(rc, r, g.fence.shard, emoji, 1);
        if (r.reactWas !== undefined) pushDelta(rc, r, g.fence.shard, r.reactWas, -1);
      }
      if (r.mentions !== undefined || r.replyTo !== undefined || r.mentionsAll === true) names = true;
      if (r.recalls !== undefined || r.edits !== undefined) {
        amends = true;
        a.conv.push(r.convId);
        a.seq.push(r.seq);
        a.shard.push(g.fence.shard);
        a.recalls.push(r.recalls ?? 0);
        a.edits.push(r.edits ?? 0);
        a.body.push(c.body[c.body.length - 1]!);
      }
    }
  }
  // Most batches neither amend nor name anyone: those columns (and their arrays) go only when a row has them.
  const x = amends ? amendColumns(rows) : undefined;
  const n = names ? namingColumns(rows) : undefined;
  let out: { ok_shards: number[] | null; created_at: number }[];
  try {
    out = await bounded(
      'append messages across shards',
      sql<{ ok_shards: number[] | null; created_at: number }[]>`
        WITH f AS MATERIALIZED (
          SELECT s.shard FROM shards s
          JOIN unnest(${shards}::int4[], ${epochs}::int8[]) AS w(shard, epoch) ON s.shard = w.shard AND s.epoch = w.epoch
          -- Named again here so the shard rows are found by key: the join alone read every shard of the kind.
          WHERE s.kind = ${kind} AND s.shard = ANY(${shards}::int4[])
          ORDER BY s.shard
          FOR SHARE OF s
        ),
        ins AS (
          INSERT INTO messages (conv_id, seq, prev_seq, sender_uid, sender_did, client_msg_id, body, ordinal${x ? sql`, recalls, edits, reacts, react_was` : sql``}${n ? sql`, mentions, reply_to, reply_uid, mentions_all` : sql``})
          SELECT conv_id, seq, prev_seq, sender_uid, sender_did, client_msg_id, body, NULLIF(ordinal, ${NO_ORDINAL})${x ? sql`, NULLIF(recalls, 0), NULLIF(edits, 0), NULLIF(reacts, 0), NULLIF(react_was, '')` : sql``}${
            n ? sql`, string_to_array(NULLIF(mentions, ''), chr(10)), NULLIF(replies, 0), NULLIF(reply_uid, ''), CASE WHEN mentions_all = 1 THEN true END` : sql``
          }
          FROM unnest(${c.conv}::text[], ${c.seq}::int8[], ${c.prev}::int8[], ${c.uid}::text[], ${c.did}::text[],
                      ${c.cid}::int8[], ${sql.array(c.body as never, 17)}::bytea[], ${c.shard}::int4[], ${c.ordinal}::int8[]${x ? sql`, ${x.recalls}::int8[], ${x.edits}::int8[], ${x.reacts}::int8[], ${x.was}::text[]` : sql``}${
                        n ? sql`, ${n.mentions}::text[], ${n.replies}::int8[], ${n.replyUids}::text[], ${n.all}::int2[]` : sql``
                      })
            AS t(conv_id, seq, prev_seq, sender_uid, sender_did, client_msg_id, body, shard, ordinal${x ? sql`, recalls, edits, reacts, react_was` : sql``}${n ? sql`, mentions, replies, reply_uid, mentions_all` : sql``})
          WHERE t.shard IN (SELECT shard FROM f)
          -- Key order = lock order: overlapping batches wait on each other instead of deadlocking.
          ORDER BY conv_id, sender_uid, sender_did, client_msg_id
          RETURNING 1
        )${a.conv.length > 0 ? amendUpdate(sql, a) : sql``}${rc.conv.length > 0 ? countReactions(sql, rc) : sql``}${n ? mentionRows(sql, c, n) : sql``}
        -- Cut to the millisecond, as a Date read back from the column is: the sender's ts and history's agree.
        SELECT (SELECT array_agg(shard) FROM f) AS ok_shards, (SELECT count(*) FROM ins)::int AS n,
               floor(extract(epoch FROM now()) * 1000)::int8 AS created_at`,
      timeoutMs,
    );
  } catch (err) {
    const cause = (toImError(err).cause ?? {}) as { code?: string };
    if (cause.code !== UNIQUE_VIOLATION && cause.code !== DEADLOCK) throw err;
    // Nothing was stored. A repeated key means a writer's view of the conversation is stale: storing the rest
    // around it would leave a `prev` pointing at a seq that never got stored, so every group is refused and
    // its writers reload from Postgres before their clients re-send (the repeat then dedups).
    const error = new ImError(ErrorCode.UNAVAILABLE, 'append messages: a key was already stored; the conversation reloads, re-send', { cause: err });
    return groups.map(() => ({ ok: false, error }));
  }
  const ok = new Set(out[0]!.ok_shards ?? []);
  const createdAt = out[0]!.created_at;
  return groups.map((g) => (ok.has(g.fence.shard) ? { ok: true, createdAt } : { ok: false, error: fencedError(g.fence, 'append messages') }));
}

/**
 * Applies the batch's recalls and edits to the messages they name, in the statement that stores them: neither is
 * ever durable without its effect. A recall empties its target's body and its edits' bodies; an edit gives its
 * target the edit's body. Only batches holding one carry this part, with those rows alone. The chatter lets one
 * amendment of a message into the group commit at a time, so no row is named twice here (Postgres would apply one
 * of the two).
 * A data-modifying WITH runs to completion whether or not the main query reads it.
 */
function amendUpdate(sql: Sql, c: { conv: string[]; seq: number[]; shard: number[]; recalls: number[]; edits: number[]; body: Buffer[] }) {
  return sql`,
        amended AS (
          UPDATE messages m
          SET body = CASE WHEN t.recalls > 0 THEN ''::bytea ELSE t.body END,
              recalled_by = CASE WHEN t.recalls > 0 THEN t.seq ELSE m.recalled_by END,
              edited_by = CASE WHEN t.edits > 0 THEN t.seq ELSE m.edited_by END
          FROM unnest(${c.conv}::text[], ${c.seq}::int8[], ${c.shard}::int4[], ${c.recalls}::int8[], ${c.edits}::int8[], ${sql.array(c.body as never, 17)}::bytea[])
            AS t(conv_id, seq, shard, recalls, edits, body)
          WHERE t.shard IN (SELECT shard FROM f)
            AND m.conv_id = t.conv_id AND m.seq = GREATEST(t.recalls, t.edits) AND m.recalled_by IS NULL
          RETURNING 1
        ),
        -- A recalled message's earlier texts live on in its edits: they go with it.
        unsaid AS (
          UPDATE messages m SET body = ''::bytea
          FROM unnest(${c.conv}::text[], ${c.shard}::int4[], ${c.recalls}::int8[]) AS t(conv_id, shard, recalls)
          WHERE t.recalls > 0 AND t.shard IN (SELECT shard FROM f) AND m.conv_id = t.conv_id AND m.edits = t.recalls
          RETURNING 1
        )`;
}

/** The amendment columns of a batch: 0 (or '') for "changes nothing", an array of plain values, where nulls would need an array of their own type. */
function amendColumns(rows: NewMessage[]): { recalls: number[]; edits: number[]; reacts: number[]; was: string[] } {
  return { recalls: rows.map((r) => r.recalls ?? 0), edits: rows.map((r) => r.edits ?? 0), reacts: rows.map((r) => r.reacts ?? 0), was: rows.map((r) => r.reactWas ?? '') };
}

/** Changes to the reaction counts, one per reaction given or replaced. */
interface ReactionDeltas {
  conv: string[];
  target: number[];
  emoji: string[];
  d: number[];
  seq: number[];
  shard: number[];
}

function pushDelta(rc: ReactionDeltas, r: NewMessage, shard: number, emoji: string, d: number): void {
  rc.conv.push(r.convId);
  rc.target.push(r.reacts!);
  rc.emoji.push(emoji);
  rc.d.push(d);
  rc.seq.push(r.seq);
  rc.shard.push(shard);
}

/**
 * Counts the batch's reactions (migration 290) in the statement that stores them, so counts and reactions are
 * never apart: per message and reaction, the users gained less those lost, and the last reaction that changed it.
 * The chatter gives each reaction the one it replaced (`reactWas`), in-flight ones included, so a user's
 * reactions to one message in one batch add up right. Only batches holding a reaction carry this part.
 */
function countReactions(sql: Sql, rc: ReactionDeltas) {
  return sql`,
        reacted AS (
          INSERT INTO reaction_counts AS rc (conv_id, target, emoji, n, since, at)
          SELECT t.conv_id, t.target, t.emoji, sum(t.d)::int, min(t.seq), max(t.seq)
          FROM unnest(${rc.conv}::text[], ${rc.target}::int8[], ${rc.emoji}::text[], ${rc.d}::int4[], ${rc.seq}::int8[], ${rc.shard}::int4[])
            AS t(conv_id, target, emoji, d, seq, shard)
          WHERE t.shard IN (SELECT shard FROM f)
          GROUP BY t.conv_id, t.target, t.emoji
          -- Key order = lock order, as for the messages.
          ORDER BY t.conv_id, t.target, t.emoji
          ON CONFLICT (conv_id, target, emoji) DO UPDATE SET n = rc.n + EXCLUDED.n, at = GREATEST(rc.at, EXCLUDED.at)
          RETURNING 1
        )`;
}

/** The naming columns of a batch, and (`named`) whom each row names for the unread-mention rows. */
interface NamingColumns {
  /** One text per row, ids a line each (ids hold no control characters): unnest() flattens an array of arrays. */
  mentions: string[];
  replies: number[];
  replyUids: string[];
  /** The mentions and the sender of the message replied to, one id per line. */
  named: string[];
  /** 1 or 0: postgres.js sends a boolean[] parameter as a plain boolean. */
  all: number[];
}

/** Who a row names, one id per line: its mentions, and the sender of the message it replies to. */
function namedBy(r: NewMessage, mentions: string): string {
  if (r.replyUid === undefined || r.mentions?.includes(r.replyUid) === true) return mentions;
  return mentions === '' ? r.replyUid : `${mentions}\n${r.replyUid}`;
}

function namingColumns(rows: NewMessage[]): NamingColumns {
  const mentions = rows.map((r) => r.mentions?.join('\n') ?? '');
  const named = rows.map((r, i) => namedBy(r, mentions[i]!));
  return { mentions, replies: rows.map((r) => r.replyTo ?? 0), replyUids: rows.map((r) => r.replyUid ?? ''), named, all: rows.map((r) => (r.mentionsAll === true ? 1 : 0)) };
}

/**
 * Records who the batch's messages name, in the statement that stores them: one row per member mentioned or
 * replied to, or every member for a message that mentions all (never the sender; non-members get none), for the
 * unread-mentions count. Only batches holding such a message carry this part.
 */
function mentionRows(sql: Sql, c: { conv: string[]; seq: number[]; shard: number[]; uid: string[] }, n: NamingColumns) {
  return sql`,
        mentioned AS (
          INSERT INTO mentions (uid, conv_id, seq)
          SELECT u.uid, t.conv_id, t.seq
          FROM unnest(${c.conv}::text[], ${c.seq}::int8[], ${c.shard}::int4[], ${c.uid}::text[], ${n.named}::text[], ${n.all}::int2[]) AS t(conv_id, seq, shard, sender, named, all_)
          CROSS JOIN LATERAL (
            SELECT x AS uid FROM unnest(string_to_array(NULLIF(t.named, ''), chr(10))) AS x WHERE t.all_ = 0
            UNION ALL SELECT mb.uid FROM members mb WHERE t.all_ = 1 AND mb.conv_id = t.conv_id
          ) AS u
          WHERE t.shard IN (SELECT shard FROM f) AND u.uid <> t.sender
            AND EXISTS (SELECT 1 FROM members mb WHERE mb.conv_id = t.conv_id AND mb.uid = u.uid)
          ON CONFLICT DO NOTHING
          RETURNING 1
        )`;
}
