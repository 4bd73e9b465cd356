/**
 * `npm run bench -- soak [--minutes 5] [--trials 3] [--cohorts 100] [--round-cohorts 20] [--messages 3]
 * [--large-group N] [--heap-snapshots DIR]`: does a node keep memory it should have let go? Two nodes (with their inspector on a
 * loopback port) serve rounds of real SDK clients: a round's cohorts of ten users connect where the dispatcher
 * sends them, send to their direct conversations and their group, check that every member device got every
 * message once, move their read marks, and leave. Cohorts come back after their actors went idle (3 s here),
 * so actors activate and deactivate all along. After the warm-up and after each segment the clients are gone,
 * the actors have deactivated, and every node's heap is measured after a full collection (snapshots on request,
 * for DevTools).
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { startEmbeddedPostgres } from '../lib/embedded-pg.js';
import { startNatsServer } from '../lib/nats-server.js';
import { clusterMetricSum, forkWorker, startBenchCluster, type BenchCluster } from './chat-harness.js';
import { heapAfterFullGc, inspectorUrl } from './inspector-heap.js';
import type { BenchContext, BenchScenario } from './lib.js';
import type { RoundResult } from './soak-worker.js';

/** Users per cohort: five direct pairs and one group of all ten; the first user has a second device. */
const COHORT_USERS = 10;
/** How long the nodes keep an idle actor: short, so that every cohort's actors deactivate between its visits. */
const SOAK_ACTOR_IDLE_MS = 3000;
/** How long quiescence may take: every actor idle past its timeout and swept. */
const QUIESCE_TIMEOUT_MS = 60_000;
const NODE_ARGS = ['--shards', '64', '--log-level', 'warn', '--actor-idle-ms', String(SOAK_ACTOR_IDLE_MS)];

interface Options {
  minutes: number;
  cohorts: number;
  roundCohorts: number;
  messages: number;
  /** A directory for heap snapshots of every node after the warm-up and after each segment. */
  heapSnapshots: string | undefined;
  /** The nodes' `--large-group`: at 10 or below, the cohorts' groups are delivered the large-group way. */
  largeGroup: number | undefined;
}

function parseOptions(o: Record<string, string>): Options {
  const num = (v: string | undefined, d: number): number => (v === undefined || v === '' ? d : Number(v));
  const opts = { minutes: num(o['minutes'], 5), cohorts: num(o['cohorts'], 100), roundCohorts: num(o['round-cohorts'], 20), messages: num(o['messages'], 3), heapSnapshots: o['heap-snapshots'] || undefined, largeGroup: o['large-group'] ? Number(o['large-group']) : undefined };
  if (!(opts.minutes > 0) || !(opts.cohorts > 0) || !(opts.roundCohorts > 0) || opts.roundCohorts > opts.cohorts || !(opts.messages > 0) || (opts.largeGroup !== undefined && !(opts.largeGroup > 0))) {
    throw new Error(`soak options must be positive, with --round-cohorts ≤ --cohorts: ${JSON.stringify(opts)}`);
  }
  return opts;
}

/** One cohort's users, devices and conversations (made once by the server API, before the first round). */
interface Cohort {
  devices: { uid: string; did: string; token: string }[];
  convs: { conv: string; members: string[] }[];
}

async function makeCohort(cluster: BenchCluster, c: number): Promise<Cohort> {
  const uids = Array.from({ length: COHORT_USERS }, (_, i) => `k${c}u${i}`);
  const convs: Cohort['convs'] = [];
  for (let i = 0; i < COHORT_USERS; i += 2) {
    const r = await cluster.api('POST', '/v1/conversations', { kind: 'direct', members: [uids[i], uids[i + 1]] });
    if (r.status !== 201) throw new Error(`create conversation: ${JSON.stringify(r.body)}`);
    convs.push({ conv: r.body['conv'] as string, members: [uids[i]!, uids[i + 1]!] });
  }
  const g = await cluster.api('POST', '/v1/conversations', { kind: 'group', conv: `k${c}g`, owner: uids[0], members: uids.slice(1) });
  if (g.status !== 201) throw new Error(`create group: ${JSON.stringify(g.body)}`);
  convs.push({ conv: `k${c}g`, members: uids });
  const devices = uids.map((uid) => ({ uid, did: `${uid}-a`, token: cluster.token(uid, `${uid}-a`) }));
  devices.push({ uid: uids[0]!, did: `${uids[0]}-b`, token: cluster.token(uids[0]!, `${uids[0]}-b`) });
  return { devices, convs };
}

/** Waits until no actor is active and no client connected on any node (or the count stops falling); returns what is left. */
async function quiesce(cluster: BenchCluster): Promise<number> {
  const end = Date.now() + QUIESCE_TIMEOUT_MS;
  let active = Number.POSITIVE_INFINITY;
  let stableSince = Date.now();
  for (;;) {
    await new Promise((r) => setTimeout(r, 1000));
    const now = await clusterMetricSum(cluster, ['im_actors_active', 'im_gateway_connections']);
    if (now < active) stableSince = Date.now();
    active = now;
    if (active === 0 || Date.now() > end || Date.now() - stableSince > 3 * SOAK_ACTOR_IDLE_MS + 5000) return active;
  }
}

/** Every node's live heap and RSS after a full collection, summed. */
async function liveMemory(cluster: BenchCluster, snapshotDir: string | undefined, label: string): Promise<{ heap: number; rss: number }> {
  if (snapshotDir !== undefined) await mkdir(snapshotDir, { recursive: true });
  const each = await Promise.all(
    [...cluster.nodes.values()].map(async (n) => heapAfterFullGc(await inspectorUrl(n.logFile), snapshotDir === undefined ? undefined : path.join(snapshotDir, `${n.nodeId}-${label}.heapsnapshot`))),
  );
  return { heap: each.reduce((s, m) => s + m.heapUsed, 0), rss: each.reduce((s, m) => s + m.rss, 0) };
}

const MB = 1024 * 1024;

const scenario: BenchScenario = {
  name: 'soak',
  description: 'node memory after a full GC before and after minutes of users connecting, chatting and leaving (actors activating and deactivating)',
  async run(ctx: BenchContext) {
    const o = parseOptions(ctx.options);
    ctx.progress('starting Postgres and nats-server');
    const pg = await startEmbeddedPostgres({ dataDir: path.join(ctx.workDir, 'pg') });
    const nats = await startNatsServer({ dir: ctx.workDir });
    let cluster: BenchCluster | undefined;
    const worker = await forkWorker('soak-worker.ts');
    try {
      cluster = await startBenchCluster({ ids: ['s1', 's2'], natsUrl: nats.url, databaseUrl: pg.url, logDir: ctx.workDir, args: o.largeGroup === undefined ? NODE_ARGS : [...NODE_ARGS, '--large-group', String(o.largeGroup)], execArgv: ['--inspect=127.0.0.1:0'] });
      ctx.progress('waiting for the shards to spread over the nodes');
      await cluster.settle();
      ctx.progress(`creating ${o.cohorts} cohorts of ${COHORT_USERS} users`);
      const cohorts: Cohort[] = [];
      for (let c = 0; c < o.cohorts; c++) cohorts.push(await makeCohort(cluster, c));
      const dispatcherUrl = [...cluster.http.values()][0]!;
      let next = 0;
      const totals = { rounds: 0, sessions: 0, sent: 0 };
      const runRound = async (): Promise<void> => {
        const picked = Array.from({ length: o.roundCohorts }, (_, i) => cohorts[(next + i) % cohorts.length]!);
        next = (next + o.roundCohorts) % cohorts.length;
        const r = await worker.request<RoundResult>({ cmd: 'round', dispatcherUrl, devices: picked.flatMap((c) => c.devices), convs: picked.flatMap((c) => c.convs), messagesPerConv: o.messages, deadlineMs: 60_000 }, 120_000);
        // A soak that loses or repeats messages measures something else: the scenario fails instead.
        if (r.failures.length || r.acked !== r.sent || r.delivered !== r.expected || r.duplicates) {
          throw new Error(`round ${totals.rounds + 1}: sent ${r.sent}, acked ${r.acked}, delivered ${r.delivered} of ${r.expected}, duplicates ${r.duplicates}; ${r.failures.slice(0, 30).join('; ')}`);
        }
        totals.rounds++;
        totals.sessions += r.sessions;
        totals.sent += r.sent;
      };
      const cycle = Math.ceil(o.cohorts / o.roundCohorts);
      ctx.progress(`warm-up: ${cycle} rounds, every cohort once`);
      for (let i = 0; i < cycle; i++) await runRound();
      ctx.progress('warm-up done: waiting for every actor to go idle');
      const leftBefore = await quiesce(cluster);
      const before = await liveMemory(cluster, o.heapSnapshots, 'warm');
      const warm = { ...totals };
      // The soak runs in `trials` segments with a quiet, measured point after each: a heap that keeps growing from
      // one segment to the next is a leak; one that grew once (JIT code, pools) and stays is not.
      const points: { heap: number; rss: number; left: number; sessions: number }[] = [];
      for (let seg = 1; seg <= ctx.trials; seg++) {
        const stopAt = Date.now() + (o.minutes * 60_000) / ctx.trials;
        while (Date.now() < stopAt) {
          await runRound();
          const heap = await clusterMetricSum(cluster, ['nodejs_heap_size_used_bytes']);
          ctx.progress(`segment ${seg}/${ctx.trials}, round ${totals.rounds - warm.rounds}: ${totals.sessions - warm.sessions} sessions, ${totals.sent - warm.sent} messages; nodes' heap ${(heap / MB).toFixed(1)} MB`);
        }
        ctx.progress(`segment ${seg}/${ctx.trials} done: waiting for every actor to go idle`);
        const left = await quiesce(cluster);
        const mem = await liveMemory(cluster, o.heapSnapshots, `segment${seg}`);
        points.push({ heap: mem.heap, rss: mem.rss, left, sessions: totals.sessions - warm.sessions });
      }
      const last = points[points.length - 1]!;
      const what = `${totals.rounds - warm.rounds} rounds, ${last.sessions} sessions, ${totals.sent - warm.sent} messages in ${ctx.trials} segment(s)`;
      ctx.record({ name: `nodes' live heap after a full GC after each soak segment (${what})`, unit: 'MB', trials: points.map((p) => p.heap / MB), baseline: { name: 'after the warm-up', median: before.heap / MB, trials: [before.heap / MB] }, target: 'no growth' });
      // From the first segment's end when there are several: what a first busy period adds once is not a leak.
      const from = points.length > 1 ? { heap: points[0]!.heap, sessions: points[0]!.sessions } : { heap: before.heap, sessions: 0 };
      ctx.record({ name: `live heap growth per 1,000 sessions, ${points.length > 1 ? 'first segment to last' : 'warm-up to the end'}`, unit: 'bytes', trials: [((last.heap - from.heap) / (last.sessions - from.sessions)) * 1000] });
      ctx.record({ name: "nodes' RSS after a full GC after each soak segment", unit: 'MB', trials: points.map((p) => p.rss / MB), baseline: { name: 'after the warm-up', median: before.rss / MB, trials: [before.rss / MB] } });
      ctx.record({ name: `actors and connections left ${SOAK_ACTOR_IDLE_MS / 1000} s+ after the last client left (warm-up: ${leftBefore})`, unit: 'count', trials: points.map((p) => p.left), target: '0' });
    } finally {
      await worker.close().catch(() => undefined);
      await cluster?.stop().catch(() => undefined);
      await nats.stop().catch(() => undefined);
      await pg.stop().catch(() => undefined);
    }
  },
};

export default scenario;
