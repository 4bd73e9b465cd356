import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { connect, type Sql } from '../../storage/db.js';
import { MessageStore, type NewMessage } from '../../storage/message-store.js';
import { migrate } from '../../storage/migrate.js';
import { SegmentAllocator } from '../../storage/segment-allocator.js';
import { ShardMapStore } from '../../storage/shard-map-store.js';
import type { Fence } from '../../storage/types.js';
import { startEmbeddedPostgres, type EmbeddedPgHandle } from '../lib/embedded-pg.js';
import type { BenchScenario } from './lib.js';

const BATCHES: [batch: number, rows: number][] = [
  [1, 1500],
  [16, 16_000],
  [128, 64_000],
  [1024, 131_072],
];
const BODY = Buffer.alloc(120, 'x');

let seqCounter = 0;
function rows(n: number, conv: string): NewMessage[] {
  return Array.from({ length: n }, () => {
    const seq = ++seqCounter;
    return { convId: conv, seq, prevSeq: seq - 1, senderUid: 'bench-u', senderDid: 'bench-d', clientMsgId: seq, body: BODY };
  });
}

/** The same rows through a plain INSERT … unnest with no idempotency, no fence: the ceiling of this Postgres. */
async function rawInsert(sql: Sql, batch: NewMessage[]): Promise<void> {
  await sql`INSERT INTO bench_raw (conv_id, seq, prev_seq, sender_uid, sender_did, client_msg_id, body)
    SELECT * FROM unnest(${batch.map((r) => r.convId)}::text[], ${batch.map((r) => r.seq)}::int8[], ${batch.map((r) => r.prevSeq)}::int8[],
      ${batch.map((r) => r.senderUid)}::text[], ${batch.map((r) => r.senderDid)}::text[], ${batch.map((r) => r.clientMsgId)}::int8[],
      ${sql.array(batch.map((r) => r.body) as never, 17)}::bytea[])`;
}

async function timeRows(total: number, batch: number, conv: string, append: (b: NewMessage[]) => Promise<unknown>): Promise<number> {
  const all = rows(total, conv);
  const t0 = performance.now();
  for (let i = 0; i < all.length; i += batch) await append(all.slice(i, i + batch));
  return total / ((performance.now() - t0) / 1000);
}

const scenario: BenchScenario = {
  name: 'storage',
  description: 'message-store append vs raw INSERT … unnest (durable commits), segment ids from memory',
  async run(ctx) {
    let pg: EmbeddedPgHandle | undefined;
    const url = ctx.options['database-url'] ?? (pg = await startEmbeddedPostgres({ dataDir: path.join(ctx.workDir, 'pg') })).url;
    // One connection each: the figure is per-connection group-commit throughput.
    const sql = connect(url, { max: 1 });
    try {
      await migrate(sql);
      await sql`SET synchronous_commit = on`;
      await sql`CREATE TABLE IF NOT EXISTS bench_raw (LIKE messages INCLUDING ALL)`;
      const shards = new ShardMapStore(sql);
      await shards.ensureKind('chatter', 4);
      const row = (await shards.list('chatter'))[0]!;
      const assigned = row.owner ? row : (await shards.assign('chatter', 0, row.epoch, 'bench'))!;
      const fence: Fence = { kind: 'chatter', shard: 0, epoch: assigned.epoch };
      const store = new MessageStore(sql);
      for (const [batch, total] of BATCHES) {
        const ours: number[] = [];
        const raw: number[] = [];
        for (let t = 0; t < ctx.trials; t++) {
          ctx.progress(`append batch ${batch}: trial ${t + 1}/${ctx.trials}`);
          // Alternate so both see the same machine noise.
          ours.push(await timeRows(total, batch, `b${batch}-${t}`, (b) => store.appendBatch(b, fence)));
          raw.push(await timeRows(total, batch, `b${batch}-${t}`, (b) => rawInsert(sql, b)));
        }
        ctx.record({
          name: `append batch ${batch} (idempotent, fenced)`,
          unit: 'rows/s',
          trials: ours,
          baseline: { name: 'raw INSERT unnest', median: [...raw].sort((a, b) => a - b)[raw.length >> 1]!, trials: raw },
          ...(batch >= 128 ? { target: '≥ 80% of raw' } : {}),
        });
      }
      for (const step of [1000, 10_000]) {
        const trials: number[] = [];
        for (let t = 0; t < ctx.trials; t++) {
          ctx.progress(`segment ids step ${step}: trial ${t + 1}/${ctx.trials}`);
          const alloc = new SegmentAllocator(sql, { name: `bench-${step}-${t}`, step });
          await alloc.warm();
          const n = 2_000_000;
          let waits = 0;
          const t0 = performance.now();
          for (let i = 0; i < n; i++) {
            if (alloc.tryNext() === undefined) {
              waits++;
              await alloc.next();
            }
          }
          trials.push(n / ((performance.now() - t0) / 1000));
          alloc.close();
          if (waits > 0) ctx.progress(`step ${step}: ${waits} waits on Postgres in ${n} ids`);
        }
        ctx.record({ name: `segment ids from memory, step ${step}`, unit: 'ids/s', trials });
      }
    } finally {
      await sql.end();
      await pg?.stop();
    }
  },
};

export default scenario;
