import { ErrorCode, ImError } from '../protocol/errors.js';
import type postgres from 'postgres';
import type { Sql } from './db.js';
import { checkFence } from './fence.js';
import { bounded, DEFAULT_STATEMENT_TIMEOUT_MS } from './pg-errors.js';
import { UniqueInserter } from './message-insert.js';
import type { Reactions, Reactor } from '../protocol/frames.js';
import { attachReactions, reactionBefore, reactorsPage, type ReactionBefore } from './message-reactions.js';
import type { Fence } from './types.js';
import { readChainHead, restartOrdinals, type ChainHead } from './message-ordinals.js';

/** Messages a chatter taking over a group in slow mode reads back for its members' last posts (a bound, not a window). */
export const LAST_POSTS_LOOKBACK = 1000;

export interface NewMessage {
  convId: string;
  seq: number;
  prevSeq: number;
  senderUid: string;
  senderDid: string;
  clientMsgId: number;
  body: Uint8Array;
  /** The seq this message recalls (appendAcrossShards only: it empties that message in the same statement). */
  recalls?: number;
  /** The seq this message edits (appendAcrossShards only: it gives that message this body in the same statement). */
  edits?: number;
  /** The seq this message reacts to (appendAcrossShards only, with the other amendments: it counts it). */
  reacts?: number;
  /** A reaction's: its sender's reaction to that message before it (none: they had none), taken off the counts. */
  reactWas?: string;
  /** The users it mentions (appendAcrossShards only: it records the mentions of members in the same statement). */
  mentions?: string[];
  /** The seq it replies to, and that message's sender (appendAcrossShards only: the sender counts as mentioned). */
  replyTo?: number;
  replyUid?: string;
  /** It mentions every member (appendAcrossShards only: each member but the sender gets a mention row). */
  mentionsAll?: boolean;
  /** Its ordinal among the messages counted as unread (appendAcrossShards only; migration 450); absent: none. */
  ordinal?: number;
}

export interface AppendResult {
  convId: string;
  senderDid: string;
  clientMsgId: number;
  /** The seq the message has in Postgres: for a duplicate, the one it first got. */
  seq: number;
  prevSeq: number;
  /** Commit-side creation time, ms since the epoch. */
  createdAt: number;
  duplicate: boolean;
}

export interface StoredMessage {
  convId: string;
  seq: number;
  prevSeq: number;
  senderUid: string;
  senderDid: string;
  clientMsgId: number;
  body: Uint8Array;
  createdAt: number;
  /** This message recalls that seq. */
  recalls?: number;
  /** The recall that took this message back (its body is empty now). */
  recalledBy?: number;
  /** This message edits that seq. */
  edits?: number;
  /** The latest edit of this message (its body is that edit's now). */
  editedBy?: number;
  /** This message is its sender's reaction to that seq (its body is the reaction; empty: taken back). */
  reacts?: number;
  /** A reaction's: the one of its sender's it replaced. */
  reactWas?: string;
  /** The reactions to this message, when read with them (`withReactions`). */
  reactions?: Reactions;
  /** The users it mentions. */
  mentions?: string[];
  /** The seq this message replies to, and who sent that one. */
  replyTo?: number;
  replyUid?: string;
  /** It mentions every member. */
  mentionsAll?: boolean;
  /** The reader hid it ("delete for me"): a stub, with its place in the chain and nothing of what it said. */
  hidden?: boolean;
}

export interface MessageStoreOptions {
  /** Largest body accepted; bigger ones are refused with FRAME_TOO_LARGE. */
  maxBodyBytes?: number;
  /** Longest conv / user / device id. */
  maxIdLength?: number;
  /** Largest `limit` of one range read. */
  maxReadLimit?: number;
  /** Most messages in one appendBatch. */
  maxBatchRows?: number;
  /** Deadline of one statement. */
  timeoutMs?: number;
}

export const DEFAULT_MAX_BODY_BYTES = 64 * 1024;
export const DEFAULT_MAX_ID_LENGTH = 128;
export const DEFAULT_MAX_READ_LIMIT = 1000;
export const DEFAULT_MAX_BATCH_ROWS = 10_000;

interface RawMessage {
  conv_id: string;
  seq: number;
  prev_seq: number;
  sender_uid: string;
  sender_did: string;
  client_msg_id: number;
  body: Buffer;
  created_at: Date;
  recalls: number | null;
  recalled_by: number | null;
  edits: number | null;
  edited_by: number | null;
  reacts: number | null;
  react_was: string | null;
  mentions: string[] | null;
  reply_to: number | null;
  reply_uid: string | null;
  mentions_all: boolean | null;
  /** Read for a reader only. */
  hidden?: boolean;
  /** Read for a reader only: an edit of a message not served to them (cleared, or before they joined). */
  edits_unserved?: boolean;
}

const NO_BODY = new Uint8Array(0);

function toStored(r: RawMessage): StoredMessage {
  if (r.hidden === true) return { convId: r.conv_id, seq: r.seq, prevSeq: r.prev_seq, senderUid: r.sender_uid, senderDid: r.sender_did, clientMsgId: r.client_msg_id, body: NO_BODY, createdAt: r.created_at.getTime(), hidden: true };
  // The text of a message the reader may not see must not reach them through its edits.
  const body = r.edits_unserved === true ? NO_BODY : r.body;
  const m: StoredMessage = { convId: r.conv_id, seq: r.seq, prevSeq: r.prev_seq, senderUid: r.sender_uid, senderDid: r.sender_did, clientMsgId: r.client_msg_id, body, createdAt: r.created_at.getTime() };
  if (r.recalls !== null) m.recalls = r.recalls;
  if (r.recalled_by !== null) m.recalledBy = r.recalled_by;
  if (r.edits !== null) m.edits = r.edits;
  if (r.edited_by !== null) m.editedBy = r.edited_by;
  if (r.reacts !== null) m.reacts = r.reacts;
  if (r.react_was !== null) m.reactWas = r.react_was;
  if (r.mentions !== null) m.mentions = r.mentions;
  if (r.reply_to !== null) m.replyTo = r.reply_to;
  if (r.reply_uid !== null) m.replyUid = r.reply_uid;
  if (r.mentions_all === true) m.mentionsAll = true;
  return m;
}

const invalid = (msg: string): ImError => new ImError(ErrorCode.INVALID_FIELD, msg);


/**
 * Messages in Postgres. A batch is appended with one statement (unnest arrays, group commit) and is idempotent
 * on (conv_id, sender_uid, sender_did, client_msg_id): a re-sent message is not stored twice and gets back the seq it first
 * got, whether the first copy is already stored or earlier in the same batch. A batch that repeats a stored key
 * costs a second statement (see UniqueInserter, message-insert.ts). With a fence, each statement checks the shard's epoch
 * (FOR SHARE, so a bump waits for it) and stores nothing when it is stale.
 */
export class MessageStore {
  private readonly maxBody: number;
  private readonly maxId: number;
  private readonly maxRead: number;
  private readonly maxBatch: number;
  private readonly timeoutMs: number;
  private readonly inserter: UniqueInserter;

  constructor(
    private readonly sql: Sql,
    opts: MessageStoreOptions = {},
  ) {
    this.maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    this.maxId = opts.maxIdLength ?? DEFAULT_MAX_ID_LENGTH;
    this.maxRead = opts.maxReadLimit ?? DEFAULT_MAX_READ_LIMIT;
    this.maxBatch = opts.maxBatchRows ?? DEFAULT_MAX_BATCH_ROWS;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS;
    this.inserter = new UniqueInserter(sql, this.timeoutMs);
  }

  /**
   * Appends a batch in one statement; results are in input order. Idempotent: a (conv, device, client msg id)
   * already stored, or earlier in the batch, is not stored again and its result carries the seq, prev and time
   * it first got, with `duplicate: true`. With a fence, a stale epoch stores nothing and throws FENCED.
   */
  async appendBatch(rows: NewMessage[], fence?: Fence): Promise<AppendResult[]> {
    if (!Array.isArray(rows)) throw invalid('rows must be an array');
    if (rows.length === 0) return [];
    if (rows.length > this.maxBatch) throw invalid(`a batch holds at most ${this.maxBatch} messages, got ${rows.length}`);
    rows.forEach((r, i) => this.check(r, i));
    checkFence(fence);
    // Repeats inside the batch are resolved here, so the statement only sees distinct keys.
    const firstOf = new Map<string, number>();
    const seqs = new Set<string>();
    const unique: NewMessage[] = [];
    const slot: number[] = rows.map((r, i) => {
      const k = `${r.convId}\u0000${r.senderUid}\u0000${r.senderDid}\u0000${r.clientMsgId}`;
      const at = firstOf.get(k);
      if (at !== undefined) return -1 - at;
      const s = `${r.convId}\u0000${r.seq}`;
      if (seqs.has(s)) throw invalid(`message ${i}: seq ${r.seq} is used twice in ${r.convId}`);
      seqs.add(s);
      firstOf.set(k, unique.length);
      return unique.push(r) - 1;
    });
    const firsts = await this.inserter.insert(unique, fence);
    return rows.map((r, i) => {
      const at = slot[i]!;
      const o = firsts[at < 0 ? -1 - at : at]!;
      return { convId: r.convId, senderDid: r.senderDid, clientMsgId: r.clientMsgId, seq: o.seq, prevSeq: o.prevSeq, createdAt: o.createdAt, duplicate: at < 0 || o.duplicate };
    });
  }

  /**
   * Messages with seq > afterSeq, ascending, at most `limit`; none expired, and with `reader`, none that user cleared,
   * and those they hid as stubs.
   */
  async readAfter(convId: string, afterSeq: number, limit: number, reader?: string): Promise<StoredMessage[]> {
    this.checkRead(convId, afterSeq, limit);
    const rows = await bounded('read messages', this.sql<RawMessage[]>`
      SELECT *${this.readerColumns(convId, reader)} FROM messages m WHERE conv_id = ${convId} AND seq > ${afterSeq} ${this.served(convId, reader)} ORDER BY seq LIMIT ${limit}`, this.timeoutMs);
    return rows.map(toStored);
  }

  /** The `limit` messages just before `beforeSeq`, ascending (scrolling back); what is served as by readAfter. */
  async readBefore(convId: string, beforeSeq: number, limit: number, reader?: string): Promise<StoredMessage[]> {
    this.checkRead(convId, beforeSeq, limit);
    const rows = await bounded('read messages', this.sql<RawMessage[]>`
      SELECT * FROM (SELECT *${this.readerColumns(convId, reader)} FROM messages m WHERE conv_id = ${convId} AND seq < ${beforeSeq} ${this.served(convId, reader)} ORDER BY seq DESC LIMIT ${limit}) x ORDER BY seq`, this.timeoutMs);
    return rows.map(toStored);
  }

  /**
   * With a reader, the `hidden` column: whether they hid the message (hidden_messages, migration 330); and
   * `edits_unserved`: whether it edits a message at or below their clear (members.cleared_seq, which a group showing
   * newcomers only what follows sets at their join), whose new text is no more theirs to read than the old.
   */
  private readerColumns(convId: string, reader: string | undefined): postgres.Fragment {
    if (reader === undefined) return this.sql``;
    return this.sql`, EXISTS (SELECT 1 FROM hidden_messages h WHERE h.uid = ${reader} AND h.conv_id = m.conv_id AND h.seq = m.seq) AS hidden,
      m.edits <= COALESCE((SELECT cleared_seq FROM members WHERE conv_id = ${convId} AND uid = ${reader}), 0) AS edits_unserved`;
  }

  /**
   * The condition that leaves out the messages of `convId` past the retention (conversations.expired_seq, migration
   * 250: the sweep deletes them but the anchor) and those `reader` cleared (members.cleared_seq, migration 240).
   */
  private served(convId: string, reader: string | undefined): postgres.Fragment {
    const expired = this.sql`AND seq > COALESCE((SELECT expired_seq FROM conversations WHERE conv_id = ${convId}), 0)`;
    if (reader === undefined) return expired;
    this.checkId(reader, 'reader');
    return this.sql`${expired} AND seq > COALESCE((SELECT cleared_seq FROM members WHERE conv_id = ${convId} AND uid = ${reader}), 0)`;
  }

  /** The messages with their reactions (a recalled one has none; `reader`'s own among them), in one more statement. */
  async withReactions(msgs: StoredMessage[], reader?: string): Promise<StoredMessage[]> {
    if (reader !== undefined) this.checkId(reader, 'reader');
    return attachReactions(this.sql, msgs, reader, this.timeoutMs);
  }

  /** What a new reaction of `uid`'s to message `target` finds: their reaction now, and the message's kinds. */
  async reactionBefore(convId: string, target: number, uid: string, emoji: string): Promise<ReactionBefore> {
    this.checkId(convId, 'convId');
    return reactionBefore(this.sql, convId, target, uid, emoji, this.timeoutMs);
  }

  /** A page of who reacted to message `target` (see reactorsPage). */
  async reactors(convId: string, target: number, limit: number, after?: string, emoji?: string): Promise<Reactor[]> {
    this.checkId(convId, 'convId');
    return reactorsPage(this.sql, convId, target, Math.min(limit, this.maxRead), after, emoji, this.timeoutMs);
  }

  /** Where a conversation's chain stands: its last seq and ordinal, and where its ordinals start (see readChainHead). */
  async chainHead(convId: string): Promise<ChainHead> {
    return readChainHead(this.sql, convId, this.timeoutMs);
  }

  /** See restartOrdinals: under the chatter shard's fence. */
  async restartOrdinals(fence: Fence, convId: string, from: number): Promise<void> {
    this.checkSeq(from);
    return restartOrdinals(this.sql, fence, convId, from, this.timeoutMs);
  }

  /** The highest seq of a conversation, 0 when it has none. */
  async lastSeq(convId: string): Promise<number> {
    return (await this.lastSeqs([convId])).get(convId) ?? 0;
  }

  /**
   * When each user last posted a message of their own in `convId` at or after `sinceMs` (epoch ms; no system
   * message, recall, edit or reaction), among its last `lookback` messages: where a chatter taking over a group in
   * slow mode starts counting.
   */
  async lastPostsSince(convId: string, sinceMs: number, systemDevice: string, lookback = LAST_POSTS_LOOKBACK): Promise<Map<string, number>> {
    this.checkId(convId, 'convId');
    const rows = await bounded('read last posts', this.sql<{ uid: string; at: Date }[]>`
      SELECT t.sender_uid AS uid, max(t.created_at) AS at FROM (
        SELECT sender_uid, sender_did, created_at, recalls, edits, reacts FROM messages WHERE conv_id = ${convId} ORDER BY seq DESC LIMIT ${lookback}
      ) t
      WHERE t.created_at >= ${new Date(sinceMs)} AND t.recalls IS NULL AND t.edits IS NULL AND t.reacts IS NULL AND t.sender_did <> ${systemDevice}
      GROUP BY t.sender_uid`, this.timeoutMs);
    return new Map(rows.map((r) => [r.uid, r.at.getTime()]));
  }

  /** The highest seq of several conversations (0 for none) in one statement. */
  async lastSeqs(convIds: string[]): Promise<Map<string, number>> {
    if (!Array.isArray(convIds)) throw invalid('convIds must be an array');
    convIds.forEach((c) => this.checkId(c, 'convId'));
    if (convIds.length === 0) return new Map();
    const rows = await bounded('read last seqs', this.sql<{ conv_id: string; last: number }[]>`
      SELECT c.conv_id, COALESCE((SELECT max(seq) FROM messages m WHERE m.conv_id = c.conv_id), 0) AS last
      FROM unnest(${[...new Set(convIds)]}::text[]) AS c(conv_id)`, this.timeoutMs);
    return new Map(rows.map((r) => [r.conv_id, r.last]));
  }

  /** How many messages have seq > `seq` (seqs are not contiguous, so rows are counted). */
  async countAfter(convId: string, seq: number): Promise<number> {
    this.checkId(convId, 'convId');
    this.checkSeq(seq);
    const rows = await bounded('count messages', this.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM messages WHERE conv_id = ${convId} AND seq > ${seq}`, this.timeoutMs);
    return rows[0]!.n;
  }

  /**
   * The highest client msg id a device (of user `senderUid`) stored in a conversation (0 for none): where its sender
   * order resumes. Messages the retention sweep deleted count too: it never goes back.
   */
  async lastClientMsgId(convId: string, senderUid: string, senderDid: string): Promise<number> {
    this.checkId(convId, 'convId');
    this.checkId(senderUid, 'senderUid');
    this.checkId(senderDid, 'senderDid');
    const rows = await bounded('read last client msg id', this.sql<{ cid: number | null }[]>`
      SELECT GREATEST(
               (SELECT max(client_msg_id) FROM messages WHERE conv_id = ${convId} AND sender_uid = ${senderUid} AND sender_did = ${senderDid}),
               (SELECT client_msg_id FROM expired_client_ids WHERE conv_id = ${convId} AND sender_uid = ${senderUid} AND sender_did = ${senderDid})
             ) AS cid`, this.timeoutMs);
    return rows[0]?.cid ?? 0;
  }

  /** The highest client msg id of a device (of user `senderUid`) whose message the retention sweep deleted (0: none). */
  async expiredClientMsgId(convId: string, senderUid: string, senderDid: string): Promise<number> {
    this.checkId(convId, 'convId');
    this.checkId(senderUid, 'senderUid');
    this.checkId(senderDid, 'senderDid');
    const rows = await bounded('read expired client msg id', this.sql<{ cid: number }[]>`
      SELECT client_msg_id AS cid FROM expired_client_ids WHERE conv_id = ${convId} AND sender_uid = ${senderUid} AND sender_did = ${senderDid}`, this.timeoutMs);
    return rows[0]?.cid ?? 0;
  }

  /** The message a device (of user `senderUid`) sent with a client msg id, if stored. */
  async findByClientId(convId: string, senderUid: string, senderDid: string, clientMsgId: number): Promise<StoredMessage | undefined> {
    this.checkId(convId, 'convId');
    this.checkId(senderUid, 'senderUid');
    this.checkId(senderDid, 'senderDid');
    if (!Number.isSafeInteger(clientMsgId) || clientMsgId < 1) throw invalid('clientMsgId must be a positive safe integer');
    const rows = await bounded('find message', this.sql<RawMessage[]>`
      SELECT * FROM messages WHERE conv_id = ${convId} AND sender_uid = ${senderUid} AND sender_did = ${senderDid} AND client_msg_id = ${clientMsgId}`, this.timeoutMs);
    return rows[0] ? toStored(rows[0]) : undefined;
  }

  private checkId(v: unknown, field: string): void {
    if (typeof v !== 'string' || v.length === 0 || v.length > this.maxId) throw invalid(`${field} must be a non-empty string of at most ${this.maxId} characters`);
  }

  private checkSeq(seq: unknown): void {
    if (!Number.isSafeInteger(seq) || (seq as number) < 0) throw invalid('seq must be a non-negative safe integer');
  }

  private check(r: NewMessage, i: number): void {
    const at = `message ${i}`;
    if (typeof r !== 'object' || r === null) throw invalid(`${at}: must be an object`);
    const id = (v: unknown, f: string): void => {
      if (typeof v !== 'string' || v.length === 0 || v.length > this.maxId) throw invalid(`${at}: ${f} must be a non-empty string of at most ${this.maxId} characters`);
    };
    id(r.convId, 'convId');
    id(r.senderUid, 'senderUid');
    id(r.senderDid, 'senderDid');
    if (!Number.isSafeInteger(r.seq) || r.seq < 1) throw invalid(`${at}: seq must be a positive safe integer`);
    if (!Number.isSafeInteger(r.prevSeq) || r.prevSeq < 0 || r.prevSeq >= r.seq) throw invalid(`${at}: prevSeq must be an integer from 0 to seq - 1`);
    if (!Number.isSafeInteger(r.clientMsgId) || r.clientMsgId < 1) throw invalid(`${at}: clientMsgId must be a positive safe integer`);
    if (!(r.body instanceof Uint8Array)) throw invalid(`${at}: body must be bytes`);
    if (r.body.byteLength > this.maxBody) throw new ImError(ErrorCode.FRAME_TOO_LARGE, `${at}: body is ${r.body.byteLength} bytes, the limit is ${this.maxBody}`);
    if (r.recalls !== undefined || r.edits !== undefined || r.reacts !== undefined || r.mentions !== undefined || r.replyTo !== undefined || r.mentionsAll !== undefined) throw invalid(`${at}: a recall, an edit, a reaction, a mention or a reply is appended with appendAcrossShards, which stores what it names`);
  }

  private checkRead(convId: string, seq: number, limit: number): void {
    this.checkId(convId, 'convId');
    this.checkSeq(seq);
    if (!Number.isInteger(limit) || limit < 1 || limit > this.maxRead) throw invalid(`limit must be an integer from 1 to ${this.maxRead}`);
  }
}
