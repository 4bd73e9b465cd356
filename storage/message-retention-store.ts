import { ErrorCode, ImError } from '../protocol/errors.js';
import type { Sql } from './db.js';
import { boundedTx, DEFAULT_STATEMENT_TIMEOUT_MS, toStorageError, txTimeouts } from './pg-errors.js';

/** Held for a batch's transaction by the one node sweeping at a time (the others find it taken and wait). */
export const RETENTION_LOCK_KEY = 7_346_502;
/** Conversations one batch looks at. */
export const RETENTION_CONVS_PER_BATCH = 200;
/** Messages one conversation may lose per batch: a long backlog goes over several batches. */
export const RETENTION_ROWS_PER_CONV = 1_000;
/** Messages one batch may expire in all, so that its transaction stays short. */
export const RETENTION_ROWS_PER_BATCH = 20_000;

/** What one batch of the retention sweep did. */
export interface RetentionBatch {
  /** Another node holds the sweep: nothing was done. */
  busy: boolean;
  /** Where the next batch starts (after this conversation id); undefined: this pass reached the last conversation. */
  next?: string;
  /** Conversations whose messages expired in this batch. */
  conversations: number;
  /** Messages deleted. */
  deleted: number;
  /** Each conversation whose messages expired in this batch, and the seq up to which they did. */
  expired: { conv: string; upto: number }[];
}

/**
 * Expires messages past the cluster's retention (migration 250): per conversation, `expired_seq` moves up to the
 * newest message committed before the cut-off (nothing at or below it is served from then on, message-store.ts),
 * and the rows at or below it are deleted with their mention rows and reaction counts — all but the conversation's last message, kept
 * with an empty body: it is what the list's `lastSeq`, the next message's `prev` and unread counts stand on.
 *
 * It walks the conversations by id, a batch at a time, finding each one's old messages by its primary key (a
 * message's commit time grows with its seq), so no index on commit time slows every insert. One node sweeps at a
 * time: a batch holds a transaction-level advisory lock.
 */
export class MessageRetentionStore {
  constructor(
    private readonly sql: Sql,
    private readonly timeoutMs = DEFAULT_STATEMENT_TIMEOUT_MS,
  ) {}

  /**
   * One batch: the conversations after `after` (by id) lose their messages older than their retention (database
   * clock): the shorter of the cluster's `clusterSec` and their own (`retention_sec`, migration 270), where either is
   * set (0: none). With no cluster retention, or with `ownOnly`, only conversations with one of their own are walked
   * (a partial index).
   */
  async sweep(after: string, clusterSec: number, ownOnly = false): Promise<RetentionBatch> {
    if (!Number.isSafeInteger(clusterSec) || clusterSec < 0) throw new ImError(ErrorCode.INVALID_FIELD, 'clusterSec must be an integer ≥ 0');
    try {
      const work = this.sql.begin(async (tx) => {
        // No bitmap scans: one would read a big conversation's every message to sort out its oldest thousand, where
        // the primary key hands them over in order. A sweeper frozen or cut off between statements must not hold the
        // lock (every node's sweep then reports busy) and the conversations' rows until TCP gives up: Postgres ends
        // the transaction once it has idled a statement's deadline.
        const [lock] = await tx<{ ok: boolean }[]>`
          SELECT pg_try_advisory_xact_lock(${RETENTION_LOCK_KEY}) AS ok, ${txTimeouts(tx, this.timeoutMs)}, set_config('enable_bitmapscan', 'off', true) AS b`;
        if (!lock!.ok) return { busy: true, conversations: 0, deleted: 0, expired: [] };
        // The oldest message still served tells at one index probe whether a conversation has anything to expire;
        // only those are read further, and at most RETENTION_ROWS_PER_CONV of them.
        const probed = await tx<{ conv_id: string; upto: number | null; n: number; last: number | null }[]>`
          WITH c AS (
            SELECT conv_id, expired_seq, now() - LEAST(NULLIF(${clusterSec}::int8, 0), NULLIF(retention_sec, 0)) * interval '1 second' AS cut
            FROM conversations WHERE conv_id > ${after} ${clusterSec > 0 && !ownOnly ? tx`` : tx`AND retention_sec > 0`} ORDER BY conv_id LIMIT ${RETENTION_CONVS_PER_BATCH})
          SELECT c.conv_id, x.upto, x.n, (SELECT max(seq) FROM messages l WHERE l.conv_id = c.conv_id) AS last
          FROM c
          LEFT JOIN LATERAL (SELECT m.created_at FROM messages m WHERE m.conv_id = c.conv_id AND m.seq > c.expired_seq ORDER BY m.seq LIMIT 1) o ON true
          CROSS JOIN LATERAL (
            SELECT max(s.seq) AS upto, count(*)::int AS n FROM (
              -- The condition on o alone is checked once, before this scan starts.
              SELECT m.seq, m.created_at FROM messages m
              WHERE o.created_at < c.cut AND m.conv_id = c.conv_id AND m.seq > c.expired_seq ORDER BY m.seq LIMIT ${RETENTION_ROWS_PER_CONV}
            ) s WHERE s.created_at < c.cut
          ) x
          ORDER BY c.conv_id`;
        const convs: string[] = [];
        const uptos: number[] = [];
        const lasts: number[] = [];
        let rows = 0;
        let next: string | undefined = probed.length === RETENTION_CONVS_PER_BATCH ? probed.at(-1)!.conv_id : undefined;
        for (const [i, p] of probed.entries()) {
          if (p.upto === null || p.last === null) continue;
          const full = rows > 0 && rows + p.n > RETENTION_ROWS_PER_BATCH;
          if (!full) {
            convs.push(p.conv_id);
            uptos.push(p.upto);
            lasts.push(p.last);
            rows += p.n;
          }
          // One past the batch's rows, or one that may have more to expire: the next batch starts right before it.
          if (full || p.n === RETENTION_ROWS_PER_CONV) {
            next = i === 0 ? after : probed[i - 1]!.conv_id;
            break;
          }
        }
        const batch = (conversations: number, deleted: number): RetentionBatch => ({ busy: false, conversations, deleted, expired: convs.map((conv, i) => ({ conv, upto: uptos[i]! })), ...(next !== undefined && { next }) });
        if (convs.length === 0) return batch(0, 0);
        const expired = tx`unnest(${convs}::text[], ${uptos}::int8[], ${lasts}::int8[]) AS e(conv_id, upto, last)`;
        await tx`UPDATE conversations c SET expired_seq = GREATEST(c.expired_seq, e.upto) FROM ${expired} WHERE c.conv_id = e.conv_id`;
        await tx`DELETE FROM mentions x USING ${expired} WHERE x.conv_id = e.conv_id AND x.seq <= e.upto`;
        await tx`DELETE FROM reaction_counts x USING ${expired} WHERE x.conv_id = e.conv_id AND x.target <= e.upto`;
        await tx`DELETE FROM hidden_messages x USING ${expired} WHERE x.conv_id = e.conv_id AND x.seq <= e.upto`;
        await tx`DELETE FROM pinned_messages x USING ${expired} WHERE x.conv_id = e.conv_id AND x.seq <= e.upto`;
        // Each device's highest deleted cid is kept (migration 400): its sender order resumes from there.
        const [deleted] = await tx<{ n: number }[]>`
          WITH d AS (DELETE FROM messages m USING ${expired} WHERE m.conv_id = e.conv_id AND m.seq <= e.upto AND m.seq < e.last
                     RETURNING m.conv_id, m.sender_uid, m.sender_did, m.client_msg_id),
          kept AS (
            INSERT INTO expired_client_ids AS x (conv_id, sender_uid, sender_did, client_msg_id)
            SELECT conv_id, sender_uid, sender_did, max(client_msg_id) FROM d GROUP BY conv_id, sender_uid, sender_did
            ON CONFLICT (conv_id, sender_uid, sender_did) DO UPDATE SET client_msg_id = GREATEST(x.client_msg_id, EXCLUDED.client_msg_id)
            RETURNING 1
          )
          SELECT count(*)::int AS n FROM d`;
        // The last message, when it expired too, stays as the anchor, with nothing of what it said.
        await tx`UPDATE messages m SET body = ''::bytea, mentions = NULL, react_was = NULL FROM ${expired} WHERE m.conv_id = e.conv_id AND m.seq = e.upto AND e.upto = e.last`;
        return batch(convs.length, deleted!.n);
      });
      return await boundedTx('expire messages', work, this.timeoutMs);
    } catch (err) {
      throw toStorageError(err, 'expire messages');
    }
  }
}
