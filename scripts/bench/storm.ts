/**
 * `npm run bench -- storm [--clients 10000] [--trials 3]`: a connect storm, as when a node dies or a network blip
 * drops every client at once and they all come back. Each user is in a direct conversation holding a message, so
 * every attach reads a real list. Per trial the same clients connect to two nodes twice, from two generator
 * processes: paced (200 at a time per generator: the baseline) and all at once (the storm). Figures: clients per
 * second until the last one has its conversation list, each way, and the lease losses a storm cost the nodes.
 */
import path from 'node:path';
import { startEmbeddedPostgres } from '../lib/embedded-pg.js';
import { startNatsServer } from '../lib/nats-server.js';
import { clusterMetricSum, forkWorker, startBenchCluster, type BenchCluster, type LoadWorker } from './chat-harness.js';
import { median, type BenchContext, type BenchScenario } from './lib.js';

const NODE_ARGS = ['--shards', '64', '--log-level', 'warn', '--max-connections', '19500'];
/** Connects in flight per generator in the paced baseline. */
const PACED_CONCURRENCY = 200;
/** Conversations created per round of server API calls while setting up. */
const SETUP_BATCH = 50;
const CONNECT_TIMEOUT_MS = 300_000;

interface Spec {
  url: string;
  token: string;
}

/** Waits until the gateways hold no connection: the last round's sockets are closed and detached. */
async function drained(c: BenchCluster): Promise<void> {
  const until = Date.now() + 30_000;
  while ((await clusterMetricSum(c, ['im_gateway_connections'])) > 0) {
    if (Date.now() > until) throw new Error('the gateways still hold connections 30 s after their clients left');
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Connects every client (half per generator) `concurrency` at a time per generator; ms until the last has its list. */
async function connectAll(specs: Spec[][], concurrency: number | undefined): Promise<number> {
  const workers: LoadWorker[] = await Promise.all(specs.map(() => forkWorker('chat-load-worker.ts')));
  try {
    const t0 = Date.now();
    await Promise.all(workers.map((w, i) => w.request({ cmd: 'connect', clients: specs[i], concurrency: concurrency ?? specs[i]!.length }, CONNECT_TIMEOUT_MS)));
    return Date.now() - t0;
  } finally {
    await Promise.all(workers.map((w) => w.close()));
  }
}

const scenario: BenchScenario = {
  name: 'storm',
  description: 'a connect storm: every client at once vs paced (same clients, same run), and the lease losses it costs',
  async run(ctx: BenchContext) {
    const clients = Number(ctx.options['clients'] ?? 10_000);
    if (!Number.isInteger(clients) || clients < 4 || clients % 4 !== 0) throw new Error(`--clients must be a multiple of 4, got ${ctx.options['clients']}`);
    ctx.progress('starting Postgres, nats-server and two nodes');
    const pg = await startEmbeddedPostgres({ dataDir: path.join(ctx.workDir, 'pg') });
    const nats = await startNatsServer({ dir: ctx.workDir });
    let cluster: BenchCluster | undefined;
    try {
      cluster = await startBenchCluster({ ids: ['t1', 't2'], natsUrl: nats.url, databaseUrl: pg.url, logDir: ctx.workDir, args: NODE_ARGS });
      await cluster.settle();
      const c = cluster;
      ctx.progress(`creating ${clients / 2} direct conversations with a message each`);
      for (let p = 0; p < clients / 2; p += SETUP_BATCH) {
        await Promise.all(
          Array.from({ length: Math.min(SETUP_BATCH, clients / 2 - p) }, async (_, k) => {
            const r = await c.api('POST', '/v1/conversations', { kind: 'direct', members: [`s${p + k}a`, `s${p + k}b`] });
            if (r.status !== 201) throw new Error(`create conversation: ${JSON.stringify(r.body)}`);
            await c.api('POST', `/v1/conversations/${r.body['conv'] as string}/messages`, { body: 'hello', from: `s${p + k}a` });
          }),
        );
      }
      // Both ends of a pair on different gateways, pairs alternating, half the clients per generator.
      const gws = [...c.ws.values()];
      const specs: Spec[][] = [[], []];
      for (let p = 0; p < clients / 2; p++) {
        specs[p % 2]!.push({ url: gws[p % 2]!, token: c.token(`s${p}a`, 'd') }, { url: gws[(p + 1) % 2]!, token: c.token(`s${p}b`, 'd') });
      }
      const paced: number[] = [];
      const burst: number[] = [];
      const losses: number[] = [];
      for (let t = 0; t < ctx.trials; t++) {
        ctx.progress(`trial ${t + 1}/${ctx.trials}: ${clients} clients, ${PACED_CONCURRENCY} at a time per generator`);
        paced.push(clients / ((await connectAll(specs, PACED_CONCURRENCY)) / 1000));
        await drained(c);
        ctx.progress(`trial ${t + 1}/${ctx.trials}: ${clients} clients at once`);
        const lostBefore = await clusterMetricSum(c, ['im_node_lease_losses_total']);
        burst.push(clients / ((await connectAll(specs, undefined)) / 1000));
        losses.push((await clusterMetricSum(c, ['im_node_lease_losses_total'])) - lostBefore);
        await drained(c);
      }
      const base = { baseline: { name: `paced, ${PACED_CONCURRENCY} at a time per generator`, median: median(paced), trials: paced } };
      ctx.record({ name: `connect storm: ${clients} clients at once, each attached with its list`, unit: 'clients/s', trials: burst, ...base });
      ctx.record({ name: 'lease losses during a storm (both nodes)', unit: 'losses', trials: losses, target: '0' });
    } finally {
      await cluster?.stop().catch(() => undefined);
      await nats.stop().catch(() => undefined);
      await pg.stop().catch(() => undefined);
    }
  },
};

export default scenario;
