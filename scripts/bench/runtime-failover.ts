import { connect as natsConnect } from 'nats';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { CounterReply } from '../../actors/counter.actor.js';
import { shardOf } from '../../protocol/shard-hash.js';
import { Admin } from '../../runtime/admin.js';
import { silentLogger } from '../../runtime/logger.js';
import { Router } from '../../runtime/router.js';
import { Transport } from '../../runtime/transport/transport.js';
import { connect } from '../../storage/db.js';
import { startEmbeddedPostgres } from '../lib/embedded-pg.js';
import { startNatsServer } from '../lib/nats-server.js';
import { spawnNodeProcess, type NodeProcess } from '../lib/node-process.js';
import { percentile, type BenchScenario } from './lib.js';

const SHARDS = 64;
const NODE_ARGS = ['--shards', String(SHARDS), '--log-level', 'warn'];

/** One key per shard, so every shard can be probed. */
function keysPerShard(): string[] {
  const keys: string[] = new Array(SHARDS);
  let found = 0;
  for (let i = 0; found < SHARDS; i++) {
    const k = `probe${i}`;
    const s = shardOf(k, SHARDS);
    if (keys[s] === undefined) {
      keys[s] = k;
      found++;
    }
  }
  return keys;
}

const scenario: BenchScenario = {
  name: 'runtime-failover',
  description: 'SIGKILL of a node until all its shards answer again; client-observed pause of planned moves',
  async run(ctx) {
    const pg = await startEmbeddedPostgres({ dataDir: path.join(ctx.workDir, 'pg') });
    const nats = await startNatsServer({ dir: ctx.workDir });
    const sql = connect(pg.url, { max: 2 });
    const nc = await natsConnect({ servers: nats.url });
    const transport = new Transport(nc, { log: silentLogger(), defaultTimeoutMs: 2000 });
    const router = new Router(transport, new Map([['counter', SHARDS]]));
    const keys = keysPerShard();
    const nodes = new Map<string, NodeProcess>();
    const spawn = async (id: string): Promise<void> => {
      nodes.set(id, await spawnNodeProcess({ nodeId: id, natsUrl: nats.url, databaseUrl: pg.url, kinds: ['counter'], args: NODE_ARGS, logDir: ctx.workDir }));
    };
    const get = async (key: string): Promise<CounterReply> => (await router.call('counter', key, 'get', null, 1000)) as CounterReply;
    try {
      ctx.progress('starting 3 nodes');
      await spawn('b1');
      await Promise.all([spawn('b2'), spawn('b3')]);
      // Wait until every shard answers and the automatic rebalance has settled.
      const settle = async (): Promise<void> => {
        const deadline = Date.now() + 30_000;
        for (;;) {
          const rows = await sql<{ n: number }[]>`SELECT count(DISTINCT owner)::int AS n FROM shards WHERE kind = 'counter' AND state = 'active'`;
          const moving = await sql`SELECT 1 FROM shards WHERE state = 'moving' OR owner IS NULL`;
          if (rows[0]!.n === nodes.size && moving.length === 0) break;
          if (Date.now() > deadline) throw new Error('cluster did not settle');
          await new Promise((r) => setTimeout(r, 200));
        }
        // Rebalancing moves a few shards per pass, so "nothing moving" can be seen between two passes: a shard may
        // still be on its way and answer `unavailable` once. Every key must answer before a trial starts.
        await Promise.all(
          keys.map(async (k) => {
            for (;;) {
              try {
                return await get(k);
              } catch (err) {
                if (Date.now() > deadline) throw err;
                await new Promise((r) => setTimeout(r, 20));
              }
            }
          }),
        );
      };
      await settle();

      const failovers: number[] = [];
      for (let t = 0; t < ctx.trials; t++) {
        const victim = `b${(t % 3) + 1}`;
        ctx.progress(`failover trial ${t + 1}/${ctx.trials}: SIGKILL ${victim}`);
        const owned = (await sql<{ shard: number }[]>`SELECT shard FROM shards WHERE kind = 'counter' AND owner = ${victim}`).map((r) => r.shard);
        const killedAt = performance.now();
        nodes.get(victim)!.signal('SIGKILL');
        const recovered = await Promise.all(
          owned.map(async (s) => {
            for (;;) {
              try {
                const r = await get(keys[s]!);
                if (r.node !== victim) return performance.now() - killedAt;
              } catch {
                // not served yet
              }
              if (performance.now() - killedAt > 20_000) return Number.POSITIVE_INFINITY;
              await new Promise((r) => setTimeout(r, 5));
            }
          }),
        );
        failovers.push(Math.max(...recovered));
        await nodes.get(victim)!.exited;
        await spawn(victim);
        await settle();
      }
      ctx.record({ name: 'failover: SIGKILL → all its shards served', unit: 'ms', trials: failovers, target: '≤ 2,000 ms median (Akka ~25–45 s, Orleans ~90 s)' });

      ctx.progress('planned moves');
      const admin = new Admin(sql, nc, silentLogger(), 2000);
      const pauses: number[] = [];
      const moverPauses: number[] = [];
      const movesPerTrial = 10;
      for (let t = 0; t < ctx.trials; t++) {
        for (let m = 0; m < movesPerTrial; m++) {
          const shard = (t * movesPerTrial + m) % SHARDS;
          const row = (await sql<{ owner: string }[]>`SELECT owner FROM shards WHERE kind = 'counter' AND shard = ${shard}`)[0]!;
          const to = [...nodes.keys()].find((n) => n !== row.owner)!;
          // A client hammering the shard sees the last reply from the old owner and the first from the new one.
          let lastOld = 0;
          let firstNew = 0;
          let stop = false;
          const prober = (async () => {
            while (!stop) {
              try {
                const r = await get(keys[shard]!);
                const now = performance.now();
                if (r.node === row.owner) lastOld = now;
                else if (r.node === to && firstNew === 0) firstNew = now;
              } catch {
                // between owners: the transport already retried until its deadline
              }
            }
          })();
          await new Promise((r) => setTimeout(r, 30));
          const o = await admin.move('counter', shard, to);
          while (firstNew === 0) await new Promise((r) => setTimeout(r, 1));
          stop = true;
          await prober;
          moverPauses.push(o.pauseMs);
          pauses.push(Math.max(0, firstNew - lastOld));
          ctx.progress(`move ${t * movesPerTrial + m + 1}/${ctx.trials * movesPerTrial}: pause ${(firstNew - lastOld).toFixed(1)} ms`);
        }
      }
      ctx.record({ name: 'planned move pause p50 (client-observed)', unit: 'ms', trials: [percentile(pauses, 50)] });
      ctx.record({ name: 'planned move pause p99 (client-observed)', unit: 'ms', trials: [percentile(pauses, 99)], target: '≤ 100 ms' });
      ctx.record({ name: 'planned move, mover start → new owner serving p99', unit: 'ms', trials: [percentile(moverPauses, 99)] });
    } finally {
      await Promise.all([...nodes.values()].map((n) => n.stop(5000)));
      await transport.close().catch(() => undefined);
      await nc.close();
      await sql.end();
      await nats.stop();
      await pg.stop();
    }
  },
};

export default scenario;
