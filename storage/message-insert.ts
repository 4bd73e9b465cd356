import { ErrorCode, ImError } from '../protocol/errors.js';
import type { Sql } from './db.js';
import { fencedError, fenceRow } from './fence.js';
import type { NewMessage } from './message-store.js';
import { bounded } from './pg-errors.js';
import type { Fence } from './types.js';

/** What a key is stored as. */
export interface Stored {
  seq: number;
  prevSeq: number;
  createdAt: number;
  duplicate: boolean;
}

interface RawResult {
  ord: number;
  seq: number | null;
  prev_seq: number | null;
  created_at: number | null;
  duplicate: boolean;
  fence_ok: boolean;
}

const UNIQUE_VIOLATION = '23505';
const DEADLOCK = '40P01';
/** A seq taken twice is a bug or a fencing hole, never a repeat: it stays an error (CONFLICT). */
const PRIMARY_KEY = 'messages_pkey';

/** The batch as one array per column, the shape unnest() takes. */
interface Columns {
  conv: string[];
  seq: number[];
  prev: number[];
  uid: string[];
  did: string[];
  cid: number[];
  body: Buffer[];
}

function columns(rows: NewMessage[]): Columns {
  const n = rows.length;
  const c: Columns = { conv: new Array(n), seq: new Array(n), prev: new Array(n), uid: new Array(n), did: new Array(n), cid: new Array(n), body: new Array(n) };
  for (let i = 0; i < n; i++) {
    const r = rows[i]!;
    c.conv[i] = r.convId;
    c.seq[i] = r.seq;
    c.prev[i] = r.prevSeq;
    c.uid[i] = r.senderUid;
    c.did[i] = r.senderDid;
    c.cid[i] = r.clientMsgId;
    c.body[i] = Buffer.isBuffer(r.body) ? r.body : Buffer.from(r.body.buffer, r.body.byteOffset, r.body.byteLength);
  }
  return c;
}

/** Rounds of "conflicted but not visible" before giving up; each needs a concurrent writer that rolled back. */
const MAX_APPEND_ATTEMPTS = 3;

/**
 * The statements behind MessageStore.appendBatch: distinct keys in, what each key is stored as out. Idempotent on
 * (conv_id, sender_uid, sender_did, client_msg_id), fenced by the shard's epoch when given one.
 */
export class UniqueInserter {
  constructor(
    private readonly sql: Sql,
    private readonly timeoutMs: number,
  ) {}

  /**
   * Inserts distinct keys; returns, per input row, what is stored under its key. The common batch holds only
   * new keys (the chatter dedups in memory first), so it goes in with a plain INSERT, which costs what a raw
   * INSERT does. Only when a key is already stored does that statement fail on the unique key, and the batch
   * is then written again with ON CONFLICT DO NOTHING, which also reads back what each repeat first got.
   */
  async insert(unique: NewMessage[], fence: Fence | undefined): Promise<Stored[]> {
    const cols = columns(unique);
    return (await this.insertFresh(unique, cols, fence)) ?? this.insertIdempotent(unique, cols, fence);
  }

  /** The fast path: undefined when some key is already stored (or the batch lost a deadlock to an overlapping one). */
  private async insertFresh(unique: NewMessage[], cols: Columns, fence: Fence | undefined): Promise<Stored[] | undefined> {
    const sql = this.sql;
    let out: { fence_ok: boolean; n: number; created_at: number }[];
    try {
      out = await bounded(
        'append messages',
        sql<{ fence_ok: boolean; n: number; created_at: number }[]>`
          WITH f AS MATERIALIZED (${fenceRow(sql, fence)}),
          ins AS (
            INSERT INTO messages (conv_id, seq, prev_seq, sender_uid, sender_did, client_msg_id, body)
            SELECT * FROM unnest(${cols.conv}::text[], ${cols.seq}::int8[], ${cols.prev}::int8[], ${cols.uid}::text[],
                                 ${cols.did}::text[], ${cols.cid}::int8[], ${sql.array(cols.body as never, 17)}::bytea[])
              AS t(conv_id, seq, prev_seq, sender_uid, sender_did, client_msg_id, body)
            -- Key order = lock order: concurrent batches with overlapping keys wait on each other instead of deadlocking.
            WHERE EXISTS (SELECT 1 FROM f) ORDER BY conv_id, sender_uid, sender_did, client_msg_id
            RETURNING 1
          )
          -- created_at defaults to now(), the transaction's start: one value for the whole batch.
          SELECT EXISTS (SELECT 1 FROM f) AS fence_ok, (SELECT count(*) FROM ins)::int AS n, floor(extract(epoch FROM now()) * 1000)::int8 AS created_at`,
        this.timeoutMs,
      );
    } catch (err) {
      const cause = (err as ImError).cause as { code?: string; constraint_name?: string } | undefined;
      if (cause?.code === DEADLOCK || (cause?.code === UNIQUE_VIOLATION && cause.constraint_name !== PRIMARY_KEY)) return undefined;
      throw err;
    }
    const r = out[0]!;
    if (!r.fence_ok) throw fencedError(fence!, 'append messages');
    if (r.n !== unique.length) throw new ImError(ErrorCode.INTERNAL, `append messages: ${r.n} of ${unique.length} rows stored without an error`);
    return unique.map((m) => ({ seq: m.seq, prevSeq: m.prevSeq, createdAt: r.created_at, duplicate: false }));
  }

  /** The idempotent path: ON CONFLICT DO NOTHING, and every repeat's first seq read back in the same statement. */
  private async insertIdempotent(unique: NewMessage[], cols: Columns, fence: Fence | undefined): Promise<Stored[]> {
    const sql = this.sql;
    const out = await bounded(
      'append messages',
      sql<RawResult[]>`
        WITH input AS (
          SELECT * FROM unnest(${cols.conv}::text[], ${cols.seq}::int8[], ${cols.prev}::int8[], ${cols.uid}::text[],
                               ${cols.did}::text[], ${cols.cid}::int8[], ${sql.array(cols.body as never, 17)}::bytea[],
                               ${unique.map((_, i) => i)}::int4[])
            AS t(conv_id, seq, prev_seq, sender_uid, sender_did, client_msg_id, body, ord)
        ),
        f AS MATERIALIZED (${fenceRow(sql, fence)}),
        ins AS (
          INSERT INTO messages (conv_id, seq, prev_seq, sender_uid, sender_did, client_msg_id, body)
          SELECT conv_id, seq, prev_seq, sender_uid, sender_did, client_msg_id, body FROM input i
          -- Key order = lock order: concurrent batches with overlapping keys wait on each other instead of deadlocking.
          WHERE EXISTS (SELECT 1 FROM f) ORDER BY conv_id, sender_uid, sender_did, client_msg_id
          ON CONFLICT (conv_id, sender_uid, sender_did, client_msg_id) DO NOTHING
          RETURNING conv_id, seq, prev_seq, created_at
        )
        SELECT i.ord,
               COALESCE(ins.seq, m.seq) AS seq,
               COALESCE(ins.prev_seq, m.prev_seq) AS prev_seq,
               floor(extract(epoch FROM COALESCE(ins.created_at, m.created_at)) * 1000)::int8 AS created_at,
               ins.seq IS NULL AS duplicate,
               EXISTS (SELECT 1 FROM f) AS fence_ok
        FROM input i
        LEFT JOIN ins ON ins.conv_id = i.conv_id AND ins.seq = i.seq
        -- A per-row index probe, only for rows not inserted just now. LIMIT 1 stops the planner from flattening
        -- it into a hash join over a sequential scan of the whole table (seen in EXPLAIN: it grew with the table).
        LEFT JOIN LATERAL (
          SELECT seq, prev_seq, created_at FROM messages m
          WHERE ins.seq IS NULL AND m.conv_id = i.conv_id AND m.sender_uid = i.sender_uid AND m.sender_did = i.sender_did AND m.client_msg_id = i.client_msg_id
          LIMIT 1
        ) m ON true`,
      this.timeoutMs,
    );
    if (out.length > 0 && !out[0]!.fence_ok) throw fencedError(fence!, 'append messages');
    const firsts: Stored[] = new Array(unique.length);
    const missing: number[] = [];
    for (const o of out) {
      if (o.seq === null) missing.push(o.ord);
      else firsts[o.ord] = { seq: o.seq, prevSeq: o.prev_seq!, createdAt: o.created_at!, duplicate: o.duplicate };
    }
    if (missing.length > 0) await this.resolveInvisible(unique, missing, firsts, fence);
    return firsts;
  }

  /**
   * A duplicate committed by a concurrent statement after ours took its snapshot is neither inserted nor
   * visible to it (ON CONFLICT waited for it, the snapshot predates it). One more statement reads all such
   * rows; a key still missing means the other writer rolled back after all, so it is appended again.
   */
  private async resolveInvisible(unique: NewMessage[], missing: number[], firsts: Stored[], fence: Fence | undefined, attempt = 1): Promise<void> {
    const rows = missing.map((i) => unique[i]!);
    const found = await bounded(
      'read duplicate messages',
      this.sql<{ ord: number; seq: number; prev_seq: number; created_at: number }[]>`
        SELECT t.ord, m.seq, m.prev_seq, floor(extract(epoch FROM m.created_at) * 1000)::int8 AS created_at
        FROM unnest(${rows.map((r) => r.convId)}::text[], ${rows.map((r) => r.senderUid)}::text[], ${rows.map((r) => r.senderDid)}::text[], ${rows.map((r) => r.clientMsgId)}::int8[], ${missing}::int4[])
          AS t(conv_id, sender_uid, sender_did, client_msg_id, ord)
        JOIN messages m ON m.conv_id = t.conv_id AND m.sender_uid = t.sender_uid AND m.sender_did = t.sender_did AND m.client_msg_id = t.client_msg_id`,
      this.timeoutMs,
    );
    for (const f of found) firsts[f.ord] = { seq: f.seq, prevSeq: f.prev_seq, createdAt: f.created_at, duplicate: true };
    const still = missing.filter((i) => firsts[i] === undefined);
    if (still.length === 0) return;
    if (attempt >= MAX_APPEND_ATTEMPTS) throw new ImError(ErrorCode.CONFLICT, `append messages: ${still.length} message(s) neither stored nor found after ${attempt} attempts`);
    const again = await this.insert(still.map((i) => unique[i]!), fence);
    still.forEach((i, k) => (firsts[i] = again[k]!));
  }
}
