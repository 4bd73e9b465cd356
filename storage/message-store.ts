import { ErrorCode, ImError } from '../protocol/errors.js';
import type { Sql } from './db.js';
import { guard, toStorageError } from './pg-errors.js';
import type { Fence } from './types.js';

export interface NewMessage {
  convId: string;
  seq: number;
  prevSeq: number;
  senderUid: string;
  senderDid: string;
  clientMsgId: number;
  body: Uint8Array;
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
}

export interface MessageStoreOptions {
  maxBodyBytes?: number;
  maxIdLength?: number;
  maxReadLimit?: number;
}

export const DEFAULT_MAX_BODY_BYTES = 64 * 1024;
export const DEFAULT_MAX_ID_LENGTH = 128;
export const DEFAULT_MAX_READ_LIMIT = 1000;

interface RawMessage {
  conv_id: string;
  seq: number;
  prev_seq: number;
  sender_uid: string;
  sender_did: string;
  client_msg_id: number;
  body: Buffer;
  created_at: Date;
}

const toStored = (r: RawMessage): StoredMessage => ({
  convId: r.conv_id,
  seq: r.seq,
  prevSeq: r.prev_seq,
  senderUid: r.sender_uid,
  senderDid: r.sender_did,
  clientMsgId: r.client_msg_id,
  body: r.body,
  createdAt: r.created_at.getTime(),
});

const invalid = (msg: string): ImError => new ImError(ErrorCode.INVALID_FIELD, msg);

/**
 * Messages in Postgres. A batch is appended with ONE statement (unnest arrays, group commit) that is
 * idempotent on (conv_id, sender_did, client_msg_id): a re-sent message is not stored twice and gets back the
 * seq it first got, whether the first copy is already stored or earlier in the same batch. With a fence, the
 * same statement checks the shard's epoch (FOR SHARE) and stores nothing when it is stale.
 */
export class MessageStore {
  private readonly maxBody: number;
  private readonly maxId: number;
  private readonly maxRead: number;

  constructor(
    private readonly sql: Sql,
    opts: MessageStoreOptions = {},
  ) {
    this.maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    this.maxId = opts.maxIdLength ?? DEFAULT_MAX_ID_LENGTH;
    this.maxRead = opts.maxReadLimit ?? DEFAULT_MAX_READ_LIMIT;
  }

  /** Appends a batch in one statement; results are in input order. */
  async appendBatch(rows: NewMessage[], fence?: Fence): Promise<AppendResult[]> {
    if (rows.length === 0) return [];
    rows.forEach((r, i) => this.check(r, i));
    return this.appendOnce(rows, fence);
  }

  private async appendOnce(rows: NewMessage[], fence?: Fence): Promise<AppendResult[]> {
    // Repeats inside the batch are resolved here, so the statement only sees distinct keys.
    const firstOf = new Map<string, number>();
    const unique: NewMessage[] = [];
    const slot: number[] = rows.map((r) => {
      const k = `${r.convId}\u0000${r.senderDid}\u0000${r.clientMsgId}`;
      let at = firstOf.get(k);
      if (at === undefined) {
        at = unique.push(r) - 1;
        firstOf.set(k, at);
        return at;
      }
      return -1 - at;
    });
    const cols = {
      conv: unique.map((r) => r.convId),
      seq: unique.map((r) => r.seq),
      prev: unique.map((r) => r.prevSeq),
      uid: unique.map((r) => r.senderUid),
      did: unique.map((r) => r.senderDid),
      cid: unique.map((r) => r.clientMsgId),
      body: unique.map((r) => Buffer.from(r.body.buffer, r.body.byteOffset, r.body.byteLength)),
      ord: unique.map((_, i) => i),
    };
    type Raw = { ord: number; seq: number | null; prev_seq: number | null; created_at: number | null; duplicate: boolean | null; fence_ok: boolean };
    let out: Raw[];
    try {
      const sql = this.sql;
      const fenceCte = fence
        ? sql`SELECT 1 AS ok FROM shards WHERE kind = ${fence.kind} AND shard = ${fence.shard} AND epoch = ${fence.epoch} FOR SHARE`
        : sql`SELECT 1 AS ok`;
      out = await sql<Raw[]>`
        WITH input AS (
          SELECT * FROM unnest(${cols.conv}::text[], ${cols.seq}::int8[], ${cols.prev}::int8[], ${cols.uid}::text[],
                               ${cols.did}::text[], ${cols.cid}::int8[], ${sql.array(cols.body as never, 17)}::bytea[], ${cols.ord}::int4[])
            AS t(conv_id, seq, prev_seq, sender_uid, sender_did, client_msg_id, body, ord)
        ),
        f AS (${fenceCte}),
        ins AS (
          INSERT INTO messages (conv_id, seq, prev_seq, sender_uid, sender_did, client_msg_id, body)
          SELECT conv_id, seq, prev_seq, sender_uid, sender_did, client_msg_id, body FROM input i
          -- Key order = lock order: concurrent batches with overlapping keys wait on each other instead of deadlocking.
          WHERE EXISTS (SELECT 1 FROM f) ORDER BY conv_id, sender_did, client_msg_id
          ON CONFLICT (conv_id, sender_did, client_msg_id) DO NOTHING
          RETURNING conv_id, seq, prev_seq, created_at
        )
        SELECT i.ord,
               COALESCE(ins.seq, m.seq) AS seq,
               COALESCE(ins.prev_seq, m.prev_seq) AS prev_seq,
               (extract(epoch FROM COALESCE(ins.created_at, m.created_at)) * 1000)::int8 AS created_at,
               ins.seq IS NULL AS duplicate,
               EXISTS (SELECT 1 FROM f) AS fence_ok
        FROM input i
        LEFT JOIN ins ON ins.conv_id = i.conv_id AND ins.seq = i.seq
        -- A per-row index probe, only for rows not inserted just now. LIMIT 1 stops the planner from flattening
        -- it into a hash join over a sequential scan of the whole table (seen in EXPLAIN: it grew with the table).
        LEFT JOIN LATERAL (
          SELECT seq, prev_seq, created_at FROM messages m
          WHERE ins.seq IS NULL AND m.conv_id = i.conv_id AND m.sender_did = i.sender_did AND m.client_msg_id = i.client_msg_id
          LIMIT 1
        ) m ON true`;
    } catch (err) {
      throw toStorageError(err, 'append messages');
    }
    if (out.length > 0 && !out[0]!.fence_ok) {
      throw new ImError(ErrorCode.FENCED, `shard ${fence!.kind}/${fence!.shard} is no longer at epoch ${fence!.epoch}; nothing was stored`);
    }
    const byOrd: Raw[] = new Array(unique.length);
    for (const o of out) byOrd[o.ord] = o;
    const results: AppendResult[] = rows.map((r, i) => {
      const at = slot[i]!;
      const o = byOrd[at < 0 ? -1 - at : at]!;
      return { convId: r.convId, senderDid: r.senderDid, clientMsgId: r.clientMsgId, seq: o.seq ?? -1, prevSeq: o.prev_seq ?? -1, createdAt: o.created_at ?? 0, duplicate: at < 0 || (o.duplicate ?? true) };
    });
    // A duplicate committed by a concurrent statement after ours took its snapshot is invisible to it: read it now.
    for (const r of results) {
      if (r.seq !== -1) continue;
      const first = await this.findByClientId(r.convId, r.senderDid, r.clientMsgId);
      if (!first) throw new ImError(ErrorCode.CONFLICT, `message ${r.convId}/${r.senderDid}/${r.clientMsgId} neither stored nor found`);
      Object.assign(r, { seq: first.seq, prevSeq: first.prevSeq, createdAt: first.createdAt, duplicate: true });
    }
    return results;
  }

  /** Messages with seq > afterSeq, ascending, at most `limit`. */
  async readAfter(convId: string, afterSeq: number, limit: number): Promise<StoredMessage[]> {
    this.checkRead(convId, afterSeq, limit);
    const rows = await guard('read messages', () => this.sql<RawMessage[]>`
      SELECT * FROM messages WHERE conv_id = ${convId} AND seq > ${afterSeq} ORDER BY seq LIMIT ${limit}`);
    return rows.map(toStored);
  }

  /** The `limit` messages just before `beforeSeq`, ascending (scrolling back). */
  async readBefore(convId: string, beforeSeq: number, limit: number): Promise<StoredMessage[]> {
    this.checkRead(convId, beforeSeq, limit);
    const rows = await guard('read messages', () => this.sql<RawMessage[]>`
      SELECT * FROM (SELECT * FROM messages WHERE conv_id = ${convId} AND seq < ${beforeSeq} ORDER BY seq DESC LIMIT ${limit}) x ORDER BY seq`);
    return rows.map(toStored);
  }

  /** The highest seq of a conversation, 0 when it has none. */
  async lastSeq(convId: string): Promise<number> {
    return (await this.lastSeqs([convId])).get(convId) ?? 0;
  }

  /** The highest seq of several conversations in one statement. */
  async lastSeqs(convIds: string[]): Promise<Map<string, number>> {
    if (convIds.length === 0) return new Map();
    const rows = await guard('read last seqs', () => this.sql<{ conv_id: string; last: number }[]>`
      SELECT c.conv_id, COALESCE((SELECT max(seq) FROM messages m WHERE m.conv_id = c.conv_id), 0) AS last
      FROM unnest(${convIds}::text[]) AS c(conv_id)`);
    return new Map(rows.map((r) => [r.conv_id, r.last]));
  }

  /** How many messages have seq > `seq` (seqs are not contiguous, so rows are counted). */
  async countAfter(convId: string, seq: number): Promise<number> {
    const rows = await guard('count messages', () => this.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM messages WHERE conv_id = ${convId} AND seq > ${seq}`);
    return rows[0]!.n;
  }

  /** The message a device sent with a client msg id, if stored. */
  async findByClientId(convId: string, senderDid: string, clientMsgId: number): Promise<StoredMessage | undefined> {
    const rows = await guard('find message', () => this.sql<RawMessage[]>`
      SELECT * FROM messages WHERE conv_id = ${convId} AND sender_did = ${senderDid} AND client_msg_id = ${clientMsgId}`);
    return rows[0] ? toStored(rows[0]) : undefined;
  }

  private check(r: NewMessage, i: number): void {
    const at = `message ${i}`;
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
  }

  private checkRead(convId: string, seq: number, limit: number): void {
    if (typeof convId !== 'string' || convId.length === 0 || convId.length > this.maxId) throw invalid('convId must be a non-empty string');
    if (!Number.isSafeInteger(seq) || seq < 0) throw invalid('seq must be a non-negative safe integer');
    if (!Number.isInteger(limit) || limit < 1 || limit > this.maxRead) throw invalid(`limit must be an integer from 1 to ${this.maxRead}`);
  }
}
