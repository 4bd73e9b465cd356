import path from 'node:path';
import { startEmbeddedPostgres } from '../lib/embedded-pg.js';
import { freePort } from '../lib/free-port.js';
import { startNatsServer } from '../lib/nats-server.js';
import { forkWorker, rssOf, startBenchCluster, type BenchCluster, type LoadWorker } from './chat-harness.js';
import { percentile, type BenchScenario } from './lib.js';

/** ejabberd's measured unpersisted 1:1 relay on this machine kind (DESIGN.md §12): the peer figure to beat. */
const EJABBERD_RELAY_PER_SEC = 43_000;
const NODE_ARGS = ['--shards', '64', '--log-level', 'warn', '--rate', '1000000', '--rate-burst', '1000000', '--max-connections', '19500'];

interface Pair {
  sender: number;
  receiver: number;
  conv: string;
}

const num = (v: string | undefined, d: number): number => (v === undefined || v === '' ? d : Number(v));

const scenario: BenchScenario = {
  name: 'chat',
  description: '1:1 persisted throughput vs a bare uWS relay, latency at a fixed rate, large-group fan-out, idle memory per connection',
  async run(ctx) {
    const o = ctx.options;
    const pairs = num(o['pairs'], 200);
    const window = num(o['window'], 8);
    const seconds = num(o['duration'], 8);
    const rate = num(o['rate'], 5000);
    const latencySeconds = num(o['latency-duration'], 10);
    const members = num(o['fanout-members'], 5000);
    const fanoutMsgs = num(o['fanout-msgs'], 200);
    const fanoutRate = num(o['fanout-rate'], 2000);
    const idle = num(o['idle-connections'], 19_000);

    ctx.progress('starting Postgres and nats-server');
    const pg = await startEmbeddedPostgres({ dataDir: path.join(ctx.workDir, 'pg') });
    const nats = await startNatsServer({ dir: ctx.workDir });
    const workers: LoadWorker[] = [];
    let cluster: BenchCluster | undefined;
    try {
      workers.push(await forkWorker('chat-load-worker.ts'), await forkWorker('chat-load-worker.ts'));

      // ---- baseline: bare uWS relay, same generator, same pairs ------------------------------------------
      ctx.progress('baseline: bare uWS relay');
      const relayPort = await freePort();
      const relay = await forkWorker('uws-relay.ts', [String(relayPort)]);
      const relayRates = await closedLoopTrials(ctx.trials, workers, pairs, window, seconds, async (w, i) => {
        // Relay: the token is the user id and a message to `conv` goes to the socket of user `conv`.
        const specs = [];
        for (let p = 0; p < pairs / 2; p++) {
          specs.push({ url: `ws://127.0.0.1:${relayPort}/ws`, token: `w${i}s${p}` }, { url: `ws://127.0.0.1:${relayPort}/ws`, token: `w${i}r${p}` });
        }
        await w.request({ cmd: 'connect', clients: specs });
        return Array.from({ length: pairs / 2 }, (_, p) => ({ sender: 2 * p, receiver: 2 * p + 1, conv: `w${i}r${p}` }));
      }, ctx.progress);
      relay.child.kill('SIGKILL');
      for (const w of workers.splice(0)) await w.close();
      workers.push(await forkWorker('chat-load-worker.ts'), await forkWorker('chat-load-worker.ts'));

      // ---- our cluster -------------------------------------------------------------------------------------
      ctx.progress('starting 2 nodes with gateways');
      cluster = await startBenchCluster({ ids: ['c1', 'c2'], natsUrl: nats.url, databaseUrl: pg.url, logDir: ctx.workDir, args: NODE_ARGS });
      const c = cluster;
      const gws = [...c.ws.values()];
      const pairSets: Pair[][] = [];
      for (let i = 0; i < workers.length; i++) {
        const specs = [];
        const set: Pair[] = [];
        for (let p = 0; p < pairs / 2; p++) {
          const a = `w${i}a${p}`;
          const b = `w${i}b${p}`;
          const r = await c.api('POST', '/v1/conversations', { kind: 'direct', members: [a, b] });
          if (r.status !== 201) throw new Error(`create conversation: ${JSON.stringify(r.body)}`);
          // Sender and receiver on different gateways: every message crosses the cluster.
          specs.push({ url: gws[p % gws.length]!, token: c.token(a, `${a}-d`) }, { url: gws[(p + 1) % gws.length]!, token: c.token(b, `${b}-d`) });
          set.push({ sender: 2 * p, receiver: 2 * p + 1, conv: r.body['conv'] as string });
        }
        ctx.progress(`connecting ${specs.length} clients (worker ${i + 1})`);
        await workers[i]!.request({ cmd: 'connect', clients: specs });
        pairSets.push(set);
      }
      const ours = await closedLoopTrials(ctx.trials, workers, pairs, window, seconds, async (_w, i) => pairSets[i]!, ctx.progress);
      ctx.record({
        name: '1:1 persisted, send→durable→ack→delivered',
        unit: 'msgs/s',
        trials: ours,
        baseline: { name: 'bare uWS relay, unpersisted', median: median(relayRates), trials: relayRates },
        target: `≥ 25,000 msgs/s; ejabberd relay (unpersisted, measured earlier): ${EJABBERD_RELAY_PER_SEC.toLocaleString('en-US')}`,
      });

      // ---- latency at a fixed open-loop rate ---------------------------------------------------------------
      const ackP50: number[] = [];
      const ackP99: number[] = [];
      const delP50: number[] = [];
      const delP99: number[] = [];
      for (let t = 0; t < ctx.trials; t++) {
        ctx.progress(`latency trial ${t + 1}/${ctx.trials}: ${rate} msgs/s open loop for ${latencySeconds} s`);
        const res = await Promise.all(workers.map((w, i) => w.request<{ ack: number[]; deliver: number[] }>({ cmd: 'open-loop', pairs: pairSets[i], ratePerSec: rate / workers.length, durationMs: latencySeconds * 1000 })));
        const ack = res.flatMap((r) => r.ack);
        const del = res.flatMap((r) => r.deliver);
        ackP50.push(percentile(ack, 50));
        ackP99.push(percentile(ack, 99));
        delP50.push(percentile(del, 50));
        delP99.push(percentile(del, 99));
      }
      ctx.record({ name: `send→ack p50 at ${rate} msgs/s`, unit: 'ms', trials: ackP50 });
      ctx.record({ name: `send→ack p99 at ${rate} msgs/s`, unit: 'ms', trials: ackP99, target: '≤ 20 ms' });
      ctx.record({ name: `send→deliver p50 at ${rate} msgs/s`, unit: 'ms', trials: delP50 });
      ctx.record({ name: `send→deliver p99 at ${rate} msgs/s`, unit: 'ms', trials: delP99, target: '≤ 20 ms' });

      // ---- large-group fan-out -----------------------------------------------------------------------------
      for (const w of workers.splice(0)) await w.close();
      workers.push(await forkWorker('chat-load-worker.ts'), await forkWorker('chat-load-worker.ts'));
      ctx.progress(`fan-out: a ${members}-member group, every member online`);
      const uids = Array.from({ length: members }, (_, i) => `f${i}`);
      const g = await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'fanout', owner: 'fsender', members: uids });
      if (g.status !== 201) throw new Error(`create group: ${JSON.stringify(g.body)}`);
      for (let i = 0; i < workers.length; i++) {
        const mine = uids.filter((_, k) => k % workers.length === i);
        const specs = mine.map((u, k) => ({ url: gws[k % gws.length]!, token: c.token(u, `${u}-d`) }));
        if (i === 0) specs.unshift({ url: gws[0]!, token: c.token('fsender', 'fsender-d') });
        await workers[i]!.request({ cmd: 'connect', clients: specs, concurrency: 500 });
      }
      const fanout: number[] = [];
      for (let t = 0; t < ctx.trials; t++) {
        ctx.progress(`fan-out trial ${t + 1}/${ctx.trials}: ${fanoutMsgs} messages to ${members} members`);
        await Promise.all(workers.map((w) => w.request({ cmd: 'count-start' })));
        const t0 = Date.now();
        await workers[0]!.request({ cmd: 'send-burst', client: 0, conv: 'fanout', n: fanoutMsgs, ratePerSec: fanoutRate });
        const want = fanoutMsgs * members;
        const deadline = Date.now() + 30_000;
        let total = 0;
        let last = t0;
        for (;;) {
          await new Promise((r) => setTimeout(r, 250));
          const reps = await Promise.all(workers.map((w) => w.request<{ total: number; last: number }>({ cmd: 'count-report' })));
          total = reps.reduce((a, r) => a + r.total, 0);
          last = Math.max(...reps.map((r) => r.last));
          if (total >= want || Date.now() > deadline) break;
        }
        fanout.push(total / ((last - t0) / 1000));
        ctx.progress(`fan-out trial ${t + 1}: ${total}/${want} deliveries`);
      }
      ctx.record({ name: `group fan-out, ${members} members online on ${gws.length} gateways`, unit: 'deliveries/s', trials: fanout, target: '≥ 500,000 deliveries/s' });

      // ---- idle memory per connection ----------------------------------------------------------------------
      for (const w of workers.splice(0)) await w.close();
      ctx.progress('idle memory: a fresh gateway node');
      const idleNode = await c.spawn('c3');
      await new Promise((r) => setTimeout(r, 3000));
      const idleWs = c.ws.get('c3')!;
      const before = await rssOf(idleNode.pid);
      const perWorker = Math.ceil(idle / 2);
      workers.push(await forkWorker('chat-load-worker.ts'), await forkWorker('chat-load-worker.ts'));
      await Promise.all(
        workers.map((w, i) => {
          const specs = Array.from({ length: Math.min(perWorker, idle - i * perWorker) }, (_, k) => ({ url: idleWs, token: c.token(`idle${i}-${k}`, 'd') }));
          ctx.progress(`idle memory: connecting ${idle} clients to one gateway process`);
          return w.request({ cmd: 'connect', clients: specs, concurrency: 500 }, 600_000);
        }),
      );
      await new Promise((r) => setTimeout(r, 3000));
      const after = await rssOf(idleNode.pid);
      const perConn = (after - before) / idle;
      // The other nodes' RSS is no measure here: they shrink while the earlier phases' garbage is collected
      // (a whole-cluster figure came out negative). This process also hosts its share of the connector actors.
      ctx.record({ name: `gateway process RSS per idle authenticated connection (${idle} on one process, with its share of connectors)`, unit: 'bytes', trials: [perConn], target: '≤ 3 KB' });
    } finally {
      for (const w of workers) await w.close().catch(() => undefined);
      await cluster?.stop().catch(() => undefined);
      await nats.stop().catch(() => undefined);
      await pg.stop().catch(() => undefined);
    }
  },
};

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** Connects pairs once, then runs `trials` closed-loop measurements; returns delivered msgs/s per trial. */
async function closedLoopTrials(
  trials: number,
  workers: LoadWorker[],
  pairs: number,
  window: number,
  seconds: number,
  setup: (w: LoadWorker, i: number) => Promise<Pair[]>,
  progress: (m: string) => void,
): Promise<number[]> {
  const sets = await Promise.all(workers.map((w, i) => setup(w, i)));
  const out: number[] = [];
  for (let t = 0; t < trials; t++) {
    progress(`closed loop trial ${t + 1}/${trials}: ${pairs} pairs, window ${window}, ${seconds} s`);
    const res = await Promise.all(workers.map((w, i) => w.request<{ deliveredPerSec: number }>({ cmd: 'closed-loop', pairs: sets[i], window, durationMs: seconds * 1000, warmupMs: 1500 })));
    out.push(res.reduce((a, r) => a + r.deliveredPerSec, 0));
  }
  return out;
}

export default scenario;
