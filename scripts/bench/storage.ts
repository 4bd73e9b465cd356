import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { connect, type Sql } from '../../storage/db.js';
import { MessageStore, type NewMessage } from '../../storage/message-store.js';
import { migrate } from '../../storage/migrate.js';
import { SegmentAllocator } from '../../storage/segment-allocator.js';
import { ShardMapStore } from '../../storage/shard-map-store.js';
import type { Fence } from '../../storage/types.js';
import { startEmbeddedPostgres, type EmbeddedPgHandle } from '../lib/embedded-pg.js';
import { median, type BenchScenario } from './lib.js';

/** Batch size → rows per trial; each trial also stops after TRIAL_MAX_MS. */
const BATCHES: [batch: number, rows: number][] = [
  [1, 1500],
  [16, 16_000],
  [128, 40_000],
  [1024, 81_920],
];
const TRIAL_MAX_MS = 10_000;
const SEGMENT_IDS = 2_000_000;
const SEGMENT_MAX_MS = 5_000;
/** Ids taken per event-loop turn, as a chatter takes them per batch; the turn lets the prefetch land. */
const IDS_PER_TURN = 1000;
const PACED_RATE = 200_000;
const PACED_MS = 1500;
const BODY = Buffer.alloc(120, 'x');

let seqCounter = 0;
function rows(n: number, conv: string): NewMessage[] {
  return Array.from({ length: n }, () => {
    const seq = ++seqCounter;
    return { convId: conv, seq, prevSeq: seq - 1, senderUid: 'bench-u', senderDid: 'bench-d', clientMsgId: seq, body: BODY };
  });
}

/** The same rows through a plain INSERT … unnest with no idempotency and no fence: the ceiling of this Postgres. */
async function rawInsert(sql: Sql, batch: NewMessage[]): Promise<void> {
  await sql`INSERT INTO bench_raw (conv_id, seq, prev_seq, sender_uid, sender_did, client_msg_id, body)
    SELECT * FROM unnest(${batch.map((r) => r.convId)}::text[], ${batch.map((r) => r.seq)}::int8[], ${batch.map((r) => r.prevSeq)}::int8[],
      ${batch.map((r) => r.senderUid)}::text[], ${batch.map((r) => r.senderDid)}::text[], ${batch.map((r) => r.clientMsgId)}::int8[],
      ${sql.array(batch.map((r) => r.body) as never, 17)}::bytea[])`;
}

/** Rows per second over `total` rows in batches of `batch`, stopping early at the time cap. */
async function timeRows(total: number, batch: number, conv: string, append: (b: NewMessage[]) => Promise<unknown>): Promise<number> {
  const all = rows(total, conv);
  let done = 0;
  const t0 = performance.now();
  while (done < all.length && performance.now() - t0 < TRIAL_MAX_MS) {
    await append(all.slice(done, done + batch));
    done += batch;
  }
  return Math.min(done, total) / ((performance.now() - t0) / 1000);
}

/**
 * Ids per second handed out by `tryNext` from memory: only the synchronous calls that hit are timed. When the
 * loop outruns Postgres (it can: one grab per step ids) it waits in `next()`, untimed, and counts a miss.
 */
async function timeSegmentIds(sql: Sql, name: string, step: number): Promise<number> {
  const alloc = new SegmentAllocator(sql, { name, step });
  await alloc.warm();
  let hits = 0;
  let busyMs = 0;
  const t0 = performance.now();
  while (hits < SEGMENT_IDS && performance.now() - t0 < SEGMENT_MAX_MS) {
    const s = performance.now();
    let missed = false;
    for (let i = 0; i < IDS_PER_TURN; i++) {
      if (alloc.tryNext() === undefined) {
        missed = true;
        break;
      }
      hits++;
    }
    busyMs += performance.now() - s;
    if (missed) await alloc.next();
    else await new Promise<void>((r) => setImmediate(r));
  }
  alloc.close();
  return hits / (busyMs / 1000);
}

/** Misses of `tryNext` when ids are taken at PACED_RATE (above the box's message ceiling) for PACED_MS. */
async function pacedMisses(sql: Sql, name: string, step: number): Promise<number> {
  const alloc = new SegmentAllocator(sql, { name, step });
  await alloc.warm();
  let misses = 0;
  const t0 = performance.now();
  let taken = 0;
  while (performance.now() - t0 < PACED_MS) {
    const due = Math.floor(((performance.now() - t0) / 1000) * PACED_RATE);
    for (; taken < due; taken++) {
      if (alloc.tryNext() === undefined) {
        misses++;
        await alloc.next();
      }
    }
    // Yield like a busy server between batches; a burst longer than the unfetched 90% of a segment would miss.
    await new Promise<void>((r) => setImmediate(r));
  }
  alloc.close();
  return misses;
}

const scenario: BenchScenario = {
  name: 'storage',
  description: 'message-store append (idempotent, fenced) vs raw INSERT … unnest, durable commits; segment ids from memory',
  async run(ctx) {
    let pg: EmbeddedPgHandle | undefined;
    const url = ctx.options['database-url'] || (pg = await startEmbeddedPostgres({ dataDir: path.join(ctx.workDir, 'pg') })).url;
    // One connection: the figure is per-connection group-commit throughput, the unit the chatter batches into.
    const sql = connect(url, { max: 1, applicationName: 'natsim-bench-storage' });
    const run = Date.now().toString(36);
    try {
      await migrate(sql);
      await sql`SET synchronous_commit = on`;
      await sql`CREATE TABLE IF NOT EXISTS bench_raw (LIKE messages INCLUDING ALL)`;
      await sql`TRUNCATE bench_raw`;
      const shards = new ShardMapStore(sql);
      await shards.ensureKind('chatter', 4);
      const row = (await shards.get('chatter', 0))!;
      const assigned = row.owner ? row : (await shards.assign('chatter', 0, row.epoch, 'bench'))!;
      const fence: Fence = { kind: 'chatter', shard: 0, epoch: assigned.epoch };
      const store = new MessageStore(sql);
      for (const [batch, total] of BATCHES) {
        const ours: number[] = [];
        const raw: number[] = [];
        for (let t = 0; t < ctx.trials; t++) {
          ctx.progress(`append batch ${batch}: trial ${t + 1}/${ctx.trials}`);
          // Alternate so both see the same machine noise.
          const conv = `bench-${run}-b${batch}-${t}`;
          ours.push(await timeRows(total, batch, conv, (b) => store.appendBatch(b, fence)));
          raw.push(await timeRows(total, batch, conv, (b) => rawInsert(sql, b)));
        }
        ctx.record({
          name: `append batch ${batch} (idempotent, fenced)`,
          unit: 'rows/s',
          trials: ours,
          baseline: { name: 'raw INSERT unnest', median: median(raw), trials: raw },
          ...(batch >= 128 ? { target: '≥ 80% of raw at batch ≥ 128' } : {}),
        });
      }
      for (const step of [1000, 10_000]) {
        const rates: number[] = [];
        const misses: number[] = [];
        for (let t = 0; t < ctx.trials; t++) {
          ctx.progress(`segment ids step ${step}: trial ${t + 1}/${ctx.trials}`);
          rates.push(await timeSegmentIds(sql, `bench-${run}-${step}-${t}`, step));
          misses.push(await pacedMisses(sql, `bench-${run}-paced-${step}-${t}`, step));
        }
        ctx.record({ name: `segment ids from memory (tryNext), step ${step}`, unit: 'ids/s', trials: rates });
        ctx.record({ name: `tryNext misses at ${PACED_RATE / 1000}k ids/s for ${PACED_MS / 1000} s, step ${step}`, unit: 'misses', trials: misses, target: '0 (hot path never waits)' });
      }
    } finally {
      await sql`DROP TABLE IF EXISTS bench_raw`.catch(() => {});
      await sql.end({ timeout: 5 });
      await pg?.stop();
    }
  },
};

export default scenario;
