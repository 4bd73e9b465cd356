import path from 'node:path';
import { startEmbeddedPostgres } from '../lib/embedded-pg.js';
import { freePort } from '../lib/free-port.js';
import { startNatsServer } from '../lib/nats-server.js';
import { forkWorker, scrapeNodes, rssOf, startBenchCluster, type BenchCluster, type LoadWorker } from './chat-harness.js';
import { figuresBetween, nodeReading, type NodeFigures, type NodeReading } from './node-readings.js';
import { median, percentile, type BenchContext, type BenchScenario } from './lib.js';
import { cpuPerMessage, postgresPids, type ProcessGroups } from './proc-cpu.js';

/** ejabberd's measured unpersisted 1:1 relay on this machine kind (DESIGN.md §12): the peer figure to beat. */
const EJABBERD_RELAY_PER_SEC = 43_000;
const NODE_ARGS = ['--shards', '64', '--log-level', 'warn', '--rate', '1000000', '--rate-burst', '1000000', '--max-connections', '19500'];
/** RSS samples of the idle-memory phase, one a second; the settled figure is the median of the last ones. */
const IDLE_SAMPLES = 90;
const IDLE_SETTLED_SAMPLES = 30;
/** The first samples, taken while the connect burst's young generation is still grown. */
const IDLE_BURST_SAMPLES = 10;
/** Open-loop warm-up before latency trials when no closed loop ran first. */
const WARMUP_MS = 4000;
/** The parts of the scenario, in the order they run; `--phases` picks some. */
const PHASES = ['throughput', 'latency', 'fanout', 'idle'] as const;
type Phase = (typeof PHASES)[number];

interface Pair {
  sender: number;
  receiver: number;
  conv: string;
}

interface Options {
  pairs: number;
  window: number;
  seconds: number;
  rate: number;
  latencySeconds: number;
  members: number;
  fanoutMsgs: number;
  fanoutRate: number;
  idle: number;
  phases: Set<Phase>;
  /** `dispatcher`: each client connects where the dispatcher sends it, as the SDK does; `spread`: the two ends of a pair on different gateways. */
  placement: 'dispatcher' | 'spread';
  /** Node.js flags for the node processes (`--node-flags --cpu-prof,--cpu-prof-dir=/tmp/prof`), for profiling. */
  nodeFlags: string[];
  /** Node processes in the cluster (2 unless `--nodes` says otherwise). */
  nodes: number;
  /** Postgres settings on top of the embedded defaults (`--pg-settings wal_buffers=16MB,wal_compression=lz4`), to compare tunings. */
  pgSettings: Record<string, string>;
}

const num = (v: string | undefined, d: number): number => (v === undefined || v === '' ? d : Number(v));

function parseOptions(o: Record<string, string>): Options {
  const phases = (o['phases'] ?? PHASES.join(',')).split(',').filter(Boolean);
  const unknown = phases.filter((p) => !(PHASES as readonly string[]).includes(p));
  if (unknown.length) throw new Error(`unknown phase(s) ${unknown.join(', ')}; known: ${PHASES.join(', ')}`);
  return {
    pairs: num(o['pairs'], 200),
    window: num(o['window'], 8),
    seconds: num(o['duration'], 8),
    rate: num(o['rate'], 5000),
    latencySeconds: num(o['latency-duration'], 10),
    members: num(o['fanout-members'], 5000),
    fanoutMsgs: num(o['fanout-msgs'], 200),
    fanoutRate: num(o['fanout-rate'], 2000),
    idle: num(o['idle-connections'], 19_000),
    phases: new Set(phases as Phase[]),
    placement: o['placement'] === 'spread' ? 'spread' : 'dispatcher',
    nodeFlags: (o['node-flags'] ?? '').split(',').filter(Boolean),
    nodes: Math.max(1, num(o['nodes'], 2)),
    pgSettings: Object.fromEntries((o['pg-settings'] ?? '').split(',').filter(Boolean).map((kv) => {
      const eq = kv.indexOf('=');
      if (eq < 1) throw new Error(`--pg-settings takes name=value pairs, not ${kv}`);
      return [kv.slice(0, eq), kv.slice(eq + 1)];
    })),
  };
}

const nodeIds = (o: Options): string[] => Array.from({ length: o.nodes }, (_, i) => `c${i + 1}`);

/** What one side (the bare relay, or our cluster) measured, to be recorded side by side. */
interface Side {
  closed: number[];
  ackP50: number[];
  ackP99: number[];
  delP50: number[];
  delP99: number[];
  /** The nodes' own figures per latency trial (our cluster only). */
  nodes: NodeFigures[];
  /** CPU µs per message per process group, per measurement kind. */
  cpu: { closed: Record<string, number>[]; open: Record<string, number>[] };
  /** How busy the box's cores were, per trial and kind (percent). */
  box: { closed: number[]; open: number[] };
}

const emptySide = (): Side => ({ closed: [], ackP50: [], ackP99: [], delP50: [], delP99: [], nodes: [], cpu: { closed: [], open: [] }, box: { closed: [], open: [] } });

const scenario: BenchScenario = {
  name: 'chat',
  description: '1:1 persisted throughput and latency vs a bare uWS relay (same generator, same run), large-group fan-out, idle memory per connection',
  async run(ctx) {
    const o = parseOptions(ctx.options);
    ctx.progress('starting Postgres and nats-server');
    const pgDir = path.join(ctx.workDir, 'pg');
    const pg = await startEmbeddedPostgres({ dataDir: pgDir, settings: o.pgSettings });
    const nats = await startNatsServer({ dir: ctx.workDir });
    const workers: LoadWorker[] = [];
    const fresh = async (): Promise<void> => {
      for (const w of workers.splice(0)) await w.close();
      workers.push(await forkWorker('chat-load-worker.ts'), await forkWorker('chat-load-worker.ts'));
    };
    const gens = (): number[] => workers.map((w) => w.child.pid!);
    const clusterGroups = (c: BenchCluster): ProcessGroups => ({
      nodes: () => [...c.nodes.values()].map((n) => n.pid),
      postgres: () => postgresPids(pg.dataDir),
      'nats-server': () => [nats.pid],
      generators: gens,
    });
    let cluster: BenchCluster | undefined;
    try {
      const measured = o.phases.has('throughput') || o.phases.has('latency');
      const relay = emptySide();
      const ours = emptySide();
      if (measured) {
        // ---- baseline: bare uWS relay, same generator, same pairs --------------------------------------
        await fresh();
        ctx.progress('baseline: bare uWS relay');
        const relayPort = await freePort();
        const relayProc = await forkWorker('uws-relay.ts', [String(relayPort)]);
        try {
          const sets = await Promise.all(
            workers.map(async (w, i) => {
              // Relay: the token is the user id and a message to `conv` goes to the socket of user `conv`.
              const specs = [];
              for (let p = 0; p < o.pairs / 2; p++) {
                specs.push({ url: `ws://127.0.0.1:${relayPort}/ws`, token: `w${i}s${p}` }, { url: `ws://127.0.0.1:${relayPort}/ws`, token: `w${i}r${p}` });
              }
              await w.request({ cmd: 'connect', clients: specs });
              return Array.from({ length: o.pairs / 2 }, (_, p) => ({ sender: 2 * p, receiver: 2 * p + 1, conv: `w${i}r${p}` }));
            }),
          );
          await measureSide(ctx, o, workers, sets, relay, { server: () => [relayProc.child.pid!], generators: gens }, 'relay');
        } finally {
          relayProc.child.kill('SIGKILL');
        }

        // ---- our cluster -------------------------------------------------------------------------------
        await fresh();
        ctx.progress(`starting ${o.nodes} node(s) with gateways`);
        cluster = await startBenchCluster({ ids: nodeIds(o), natsUrl: nats.url, databaseUrl: pg.url, logDir: ctx.workDir, args: NODE_ARGS, execArgv: o.nodeFlags });
        ctx.progress('waiting for the shards to spread over the nodes');
        await cluster.settle();
        const pairSets = await connectPairs(ctx, cluster, workers, o.pairs, o.placement);
        const c = cluster;
        await measureSide(ctx, o, workers, pairSets, ours, clusterGroups(cluster), 'cluster', async () => nodeReading(await scrapeNodes(c)));
        recordSides(ctx, o, relay, ours);
      }
      if (o.phases.has('fanout') || o.phases.has('idle')) {
        cluster ??= await startBenchCluster({ ids: nodeIds(o), natsUrl: nats.url, databaseUrl: pg.url, logDir: ctx.workDir, args: NODE_ARGS, execArgv: o.nodeFlags });
      }
      if (o.phases.has('fanout')) {
        await fresh();
        await fanout(ctx, o, cluster!, workers, clusterGroups(cluster!));
      }
      if (o.phases.has('idle')) {
        for (const w of workers.splice(0)) await w.close();
        await idleMemory(ctx, o, cluster!, workers);
      }
    } finally {
      for (const w of workers) await w.close().catch(() => undefined);
      await cluster?.stop().catch(() => undefined);
      await nats.stop().catch(() => undefined);
      await pg.stop().catch(() => undefined);
    }
  },
};

/** Creates one direct conversation per pair and connects both ends, where the dispatcher says or spread over the gateways. */
async function connectPairs(ctx: BenchContext, c: BenchCluster, workers: LoadWorker[], pairs: number, placement: Options['placement']): Promise<Pair[][]> {
  const gws = [...c.ws.values()];
  const pairSets: Pair[][] = [];
  for (let i = 0; i < workers.length; i++) {
    const specs = [];
    const set: Pair[] = [];
    for (let p = 0; p < pairs / 2; p++) {
      // A direct conversation's chatter sits with the member whose id sorts first: in half the pairs that is the
      // sender, in the other half the receiver, as two-way traffic averages out (always the sender flattered it).
      const [a, b] = p % 2 === 0 ? [`w${i}a${p}`, `w${i}b${p}`] : [`w${i}b${p}`, `w${i}a${p}`];
      const r = await c.api('POST', '/v1/conversations', { kind: 'direct', members: [a, b] });
      if (r.status !== 201) throw new Error(`create conversation: ${JSON.stringify(r.body)}`);
      const [ua, ub] = placement === 'dispatcher' ? await Promise.all([c.endpointFor(a), c.endpointFor(b)]) : [gws[p % gws.length]!, gws[(p + 1) % gws.length]!];
      specs.push({ url: ua, token: c.token(a, `${a}-d`) }, { url: ub, token: c.token(b, `${b}-d`) });
      set.push({ sender: 2 * p, receiver: 2 * p + 1, conv: r.body['conv'] as string });
    }
    ctx.progress(`connecting ${specs.length} clients (worker ${i + 1})`);
    await workers[i]!.request({ cmd: 'connect', clients: specs });
    pairSets.push(set);
  }
  return pairSets;
}

/** Closed-loop throughput and open-loop latency trials against whatever the workers are connected to. */
async function measureSide(
  ctx: BenchContext,
  o: Options,
  workers: LoadWorker[],
  sets: Pair[][],
  side: Side,
  groups: ProcessGroups,
  label: string,
  readNodes?: () => Promise<NodeReading>,
): Promise<void> {
  if (o.phases.has('throughput')) {
    for (let t = 0; t < ctx.trials; t++) {
      ctx.progress(`${label}: closed loop trial ${t + 1}/${ctx.trials}: ${o.pairs} pairs, window ${o.window}, ${o.seconds} s`);
      const { result, usPerMsg, boxBusyPct } = await cpuPerMessage(groups, async () => {
        const res = await Promise.all(
          workers.map((w, i) => w.request<{ deliveredAll: number; deliveredPerSec: number; closes: Record<string, number> }>({ cmd: 'closed-loop', pairs: sets[i], window: o.window, durationMs: o.seconds * 1000, warmupMs: 1500 })),
        );
        // CPU is counted over warm-up and wind-down too; so are the messages.
        return { perSec: res.reduce((a, r) => a + r.deliveredPerSec, 0), messages: res.reduce((a, r) => a + r.deliveredAll, 0), closed: describeCloses(res.map((r) => r.closes)) };
      });
      side.closed.push(result.perSec);
      if (result.closed) ctx.progress(`${label}: the server closed ${result.closed} during the closed loop`);
      side.cpu.closed.push(usPerMsg);
      side.box.closed.push(boxBusyPct);
    }
  }
  if (o.phases.has('latency')) {
    if (!o.phases.has('throughput')) {
      // Actors activate and code warms up on the first messages: without the closed loop first, that would be trial 1.
      ctx.progress(`${label}: warming up, ${o.rate} msgs/s for ${WARMUP_MS / 1000} s`);
      await Promise.all(workers.map((w, i) => w.request({ cmd: 'open-loop', pairs: sets[i], ratePerSec: o.rate / workers.length, durationMs: WARMUP_MS })));
    }
    for (let t = 0; t < ctx.trials; t++) {
      ctx.progress(`${label}: latency trial ${t + 1}/${ctx.trials}: ${o.rate} msgs/s open loop for ${o.latencySeconds} s`);
      const before = await readNodes?.();
      const { result, usPerMsg, boxBusyPct } = await cpuPerMessage(groups, async () => {
        const res = await Promise.all(
          workers.map((w, i) => w.request<{ ack: number[]; deliver: number[]; sent: number; closes: Record<string, number> }>({ cmd: 'open-loop', pairs: sets[i], ratePerSec: o.rate / workers.length, durationMs: o.latencySeconds * 1000 })),
        );
        return { ack: res.flatMap((r) => r.ack), deliver: res.flatMap((r) => r.deliver), messages: res.reduce((a, r) => a + r.sent, 0), closed: describeCloses(res.map((r) => r.closes)) };
      });
      if (result.closed) ctx.progress(`${label}: the server closed ${result.closed} during the open loop`);
      side.ackP50.push(percentile(result.ack, 50));
      side.ackP99.push(percentile(result.ack, 99));
      side.delP50.push(percentile(result.deliver, 50));
      side.delP99.push(percentile(result.deliver, 99));
      side.cpu.open.push(usPerMsg);
      side.box.open.push(boxBusyPct);
      if (before && readNodes) side.nodes.push(figuresBetween(before, await readNodes()));
    }
  }
}

/** "N sockets (code: count, …)" for close counts reported by the workers, or '' when none closed. */
function describeCloses(reports: (Record<string, number> | undefined)[]): string {
  const all = new Map<string, number>();
  for (const r of reports) for (const [code, n] of Object.entries(r ?? {})) all.set(code, (all.get(code) ?? 0) + n);
  if (all.size === 0) return '';
  const n = [...all.values()].reduce((a, b) => a + b, 0);
  return `${n} sockets (${[...all].map(([code, k]) => `${code}: ${k}`).join(', ')})`;
}

/** Records our figures next to the relay's, plus where each message's CPU goes. */
function recordSides(ctx: BenchContext, o: Options, relay: Side, ours: Side): void {
  const base = (name: string, trials: number[]) => (trials.length ? { baseline: { name, median: median(trials), trials } } : {});
  if (ours.closed.length) {
    ctx.record({
      name: '1:1 persisted, send→durable→ack→delivered',
      unit: 'msgs/s',
      trials: ours.closed,
      ...base('bare uWS relay, unpersisted', relay.closed),
      target: `≥ 25,000 msgs/s; ejabberd relay (unpersisted, measured earlier): ${EJABBERD_RELAY_PER_SEC.toLocaleString('en-US')}`,
    });
  }
  if (ours.ackP50.length) {
    const at = `at ${o.rate} msgs/s`;
    ctx.record({ name: `send→ack p50 ${at}`, unit: 'ms', trials: ours.ackP50, ...base('relay', relay.ackP50) });
    ctx.record({ name: `send→ack p99 ${at}`, unit: 'ms', trials: ours.ackP99, ...base('relay', relay.ackP99), target: '≤ 20 ms' });
    ctx.record({ name: `send→deliver p50 ${at}`, unit: 'ms', trials: ours.delP50, ...base('relay', relay.delP50) });
    ctx.record({ name: `send→deliver p99 ${at}`, unit: 'ms', trials: ours.delP99, ...base('relay', relay.delP99), target: '≤ 20 ms' });
  }
  // The server's share of send→ack, from the nodes' own histograms (bucket-interpolated, so coarse): what the
  // clients saw beyond it was spent in their process, the kernel and the queue for the box's two cores.
  // The event-loop delay (beyond its sampling interval) and GC say how much of the tail beyond the commit is a loop
  // held up: by GC, a long turn, or a wait for one of the box's cores.
  const at = `at ${o.rate} msgs/s`;
  const nodes = (name: string, pick: (f: NodeFigures) => number, unit = 'ms'): void => {
    if (ours.nodes.length) ctx.record({ name: `in the nodes: ${name} ${at}`, unit, trials: ours.nodes.map(pick) });
  };
  nodes('send→sent p50', (f) => f.sendP50);
  nodes('send→sent p99', (f) => f.sendP99);
  nodes('commit statement p99', (f) => f.stmtP99);
  nodes('submit→commit p50', (f) => f.rowP50);
  nodes('submit→commit p99', (f) => f.rowP99);
  nodes('event-loop delay p99, worst node', (f) => f.loopP99);
  nodes('event-loop delay max, worst node', (f) => f.loopMax);
  nodes('GC pauses (all nodes)', (f) => f.gcMsPerSec, 'ms/s');
  // Where the CPU of one message goes, per process group: the measure to cut when the box is the limit. How busy
  // the box was says whether it was: a tail is queueing for a core long before the cores are all busy.
  const cpu = (kind: 'closed' | 'open', what: string): void => {
    const rows = ours.cpu[kind];
    if (!rows.length) return;
    ctx.record({ name: `box CPU busy ${what} (all cores)`, unit: '%', trials: ours.box[kind], ...base('relay run', relay.box[kind]) });
    const relayRows = relay.cpu[kind];
    for (const group of Object.keys(rows[0]!)) {
      const b = group === 'nodes' ? relayRows.map((r) => r['server']!) : group === 'generators' ? relayRows.map((r) => r['generators']!) : [];
      ctx.record({ name: `CPU per message ${what}: ${group}`, unit: 'µs', trials: rows.map((r) => r[group]!), ...base(group === 'nodes' ? 'relay process' : 'relay run', b) });
    }
  };
  cpu('closed', 'closed loop');
  cpu('open', `at ${o.rate} msgs/s`);
}

/** One sender, a large group with every member online on both gateways: deliveries per second. */
async function fanout(ctx: BenchContext, o: Options, c: BenchCluster, workers: LoadWorker[], groups: ProcessGroups): Promise<void> {
  const gws = [...c.ws.values()];
  ctx.progress(`fan-out: a ${o.members}-member group, every member online`);
  const uids = Array.from({ length: o.members }, (_, i) => `f${i}`);
  const g = await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'fanout', owner: 'fsender', members: uids });
  if (g.status !== 201) throw new Error(`create group: ${JSON.stringify(g.body)}`);
  for (let i = 0; i < workers.length; i++) {
    const mine = uids.filter((_, k) => k % workers.length === i);
    const specs = mine.map((u, k) => ({ url: gws[k % gws.length]!, token: c.token(u, `${u}-d`) }));
    if (i === 0) specs.unshift({ url: gws[0]!, token: c.token('fsender', 'fsender-d') });
    await workers[i]!.request({ cmd: 'connect', clients: specs, concurrency: 500 });
  }
  const rates: number[] = [];
  const cpu: Record<string, number>[] = [];
  for (let t = 0; t < ctx.trials; t++) {
    ctx.progress(`fan-out trial ${t + 1}/${ctx.trials}: ${o.fanoutMsgs} messages to ${o.members} members`);
    await Promise.all(workers.map((w) => w.request({ cmd: 'count-start' })));
    const { result, usPerMsg } = await cpuPerMessage(groups, async () => {
      const t0 = Date.now();
      await workers[0]!.request({ cmd: 'send-burst', client: 0, conv: 'fanout', n: o.fanoutMsgs, ratePerSec: o.fanoutRate });
      const want = o.fanoutMsgs * o.members;
      const deadline = Date.now() + 30_000;
      let total = 0;
      let last = t0;
      let closed = '';
      for (;;) {
        await new Promise((r) => setTimeout(r, 250));
        const reps = await Promise.all(workers.map((w) => w.request<{ total: number; last: number; closes: Record<string, number> }>({ cmd: 'count-report' })));
        total = reps.reduce((a, r) => a + r.total, 0);
        last = Math.max(...reps.map((r) => r.last));
        closed = describeCloses(reps.map((r) => r.closes));
        if (total >= want || Date.now() > deadline) break;
      }
      ctx.progress(`fan-out trial ${t + 1}: ${total}/${want} deliveries${closed ? `; the server closed ${closed}` : ''}`);
      // Deliveries missing for good would make the rate a figure of something else: the phase fails instead.
      if (total < want) throw new Error(`fan-out trial ${t + 1} delivered ${total} of ${want} messages within 30 s${closed ? `; the server closed ${closed}` : ''}`);
      return { perSec: total / ((last - t0) / 1000), messages: total };
    });
    rates.push(result.perSec);
    cpu.push(usPerMsg);
  }
  ctx.record({ name: `group fan-out, ${o.members} members online on ${gws.length} gateways`, unit: 'deliveries/s', trials: rates, target: '≥ 500,000 deliveries/s' });
  for (const group of Object.keys(cpu[0] ?? {})) ctx.record({ name: `CPU per fan-out delivery: ${group}`, unit: 'µs', trials: cpu.map((r) => r[group]!) });
}

/** A fresh gateway process, `idle` authenticated clients on it: resident memory per connection. */
async function idleMemory(ctx: BenchContext, o: Options, c: BenchCluster, workers: LoadWorker[]): Promise<void> {
  ctx.progress('idle memory: a fresh gateway node');
  const idleNode = await c.spawn('c3');
  // Measured from a quiet start: with shards still moving onto the new node, it would host fewer of the
  // connectors its clients need than in a settled cluster (an earlier, lower figure was taken that way).
  await c.settle();
  await new Promise((r) => setTimeout(r, 3000));
  const idleWs = c.ws.get('c3')!;
  const before = await rssOf(idleNode.pid);
  const perWorker = Math.ceil(o.idle / 2);
  workers.push(await forkWorker('chat-load-worker.ts'), await forkWorker('chat-load-worker.ts'));
  ctx.progress(`idle memory: connecting ${o.idle} clients to one gateway process`);
  await Promise.all(
    workers.map((w, i) => {
      const specs = Array.from({ length: Math.min(perWorker, o.idle - i * perWorker) }, (_, k) => ({ url: idleWs, token: c.token(`idle${i}-${k}`, 'd') }));
      return w.request({ cmd: 'connect', clients: specs, concurrency: 500 }, 600_000);
    }),
  );
  await new Promise((r) => setTimeout(r, 3000));
  // The connect burst grows V8's young generation to its cap (32 MB, ~1.7 KB per connection here); V8 shrinks
  // it back at a collection once the process allocates slowly, which an idle gateway does (pings every ~25 s,
  // the SDK's default), typically 30–45 s after the burst. Both are printed: right after the burst, and settled
  // (the median of the last samples of the window, where the saw of an idle heap is small).
  const perConn: number[] = [];
  for (let i = 0; i < IDLE_SAMPLES; i++) {
    perConn.push(((await rssOf(idleNode.pid)) - before) / o.idle);
    await new Promise((r) => setTimeout(r, 1000));
  }
  // The other nodes' RSS is no measure here: they shrink while the earlier phases' garbage is collected
  // (a whole-cluster figure came out negative). This process also hosts its share of the connector actors.
  const what = `gateway process RSS per idle authenticated connection (${o.idle} on one process, with its share of connectors)`;
  ctx.record({
    name: `${what}, settled: median of samples ${IDLE_SAMPLES - IDLE_SETTLED_SAMPLES + 1}–${IDLE_SAMPLES} (one a second from 3 s after the last connect)`,
    unit: 'bytes',
    trials: perConn.slice(-IDLE_SETTLED_SAMPLES),
    target: '≤ 3 KB',
  });
  ctx.record({ name: `${what}, right after the connect burst: median of samples 1–${IDLE_BURST_SAMPLES}`, unit: 'bytes', trials: perConn.slice(0, IDLE_BURST_SAMPLES) });
}

export default scenario;
