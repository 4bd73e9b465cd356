import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { connect } from 'nats';
import { silentLogger } from '../../runtime/logger.js';
import { Router } from '../../runtime/router.js';
import { Transport } from '../../runtime/transport/transport.js';
import { reapOnExit } from '../lib/child-reaper.js';
import { startNatsServer } from '../lib/nats-server.js';
import { percentile, type BenchScenario } from './lib.js';

const SHARDS = 8;
const KEYS = 1000;
const PAYLOAD = { text: 'x'.repeat(160) };
/** Every phase of every trial must end within this, or the run fails instead of hanging. */
const PHASE_TIMEOUT_MS = 60_000;
/** The whole scenario, servers included. */
const SCENARIO_TIMEOUT_MS = 10 * 60_000;
/** One call in this many has its latency taken (a clock read per call would be measurable). */
const LATENCY_SAMPLE_EVERY = 16;
/** The light-load latency phase: few calls outstanding, so latency is one batch round trip, not queueing. */
const LIGHT_WINDOW = 64;
const LIGHT_CALLS = 20_000;

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not done within ${ms} ms`)), ms)))]).finally(() =>
    clearTimeout(timer),
  );
}

/** Waits for the worker's next IPC message matching `pred`. */
function fromWorker(worker: ChildProcess, pred: (m: Record<string, unknown>) => boolean, what: string): Promise<void> {
  return withTimeout(
    new Promise<void>((resolve, reject) => {
      const onMsg = (m: Record<string, unknown>): void => {
        if (!pred(m)) return;
        cleanup();
        resolve();
      };
      const onExit = (code: number | null): void => {
        cleanup();
        reject(new Error(`throughput worker exited (${code}) while waiting for ${what}`));
      };
      const cleanup = (): void => {
        worker.off('message', onMsg);
        worker.off('exit', onExit);
      };
      worker.on('message', onMsg);
      worker.on('exit', onExit);
    }),
    PHASE_TIMEOUT_MS,
    what,
  );
}

/** Keeps `window` calls outstanding until `total` were made; resolves with the sampled latencies (ms). */
async function closedLoop(total: number, window: number, call: (i: number) => Promise<unknown>): Promise<number[]> {
  let next = 0;
  const lat: number[] = [];
  await Promise.all(
    Array.from({ length: Math.min(window, total) }, async () => {
      while (next < total) {
        const i = next++;
        if (i % LATENCY_SAMPLE_EVERY === 0) {
          const t0 = performance.now();
          await call(i);
          lat.push(performance.now() - t0);
        } else await call(i);
      }
    }),
  );
  return lat;
}

const scenario: BenchScenario = {
  name: 'runtime-throughput',
  description:
    'actor messages/s between two node processes through the batching transport (calls with replies, tells), next to raw NATS pub→sub of 200 B; options: --calls --tells --raw --window (calls outstanding) --in-flight (batches per subject)',
  async run(ctx) {
    const opt = (name: string, dflt: number): number => {
      const v = Number(ctx.options[name]);
      return Number.isFinite(v) && v > 0 ? v : dflt;
    };
    const CALLS = opt('calls', 300_000);
    const TELLS = opt('tells', 600_000);
    const RAW = opt('raw', 600_000);
    const WINDOW = opt('window', 8192);
    const SLOTS = opt('in-flight', 1);
    const started = Date.now();
    const budget = (): number => Math.max(1, Math.min(PHASE_TIMEOUT_MS, SCENARIO_TIMEOUT_MS - (Date.now() - started)));

    const nats = await startNatsServer({ dir: ctx.workDir });
    const workerFile = path.join(path.dirname(fileURLToPath(import.meta.url)), 'throughput-worker.ts');
    const worker = fork(workerFile, [nats.url, String(SHARDS)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    reapOnExit(worker, 'SIGKILL');
    const nc = await connect({ servers: nats.url });
    const transport = new Transport(nc, { log: silentLogger(), defaultTimeoutMs: 30_000, maxInFlightPerSubject: SLOTS });
    const router = new Router(transport, new Map([['echo', SHARDS]]));
    const keys = Array.from({ length: KEYS }, (_, i) => `a${i}`);
    const ackSubjects = Array.from({ length: SHARDS }, (_, s) => `bench.ack.${s}`);
    /** Resets the worker's counter; `done` resolves once `n` messages of that sort arrived. */
    const expect = async (what: 'tells' | 'raw', n: number): Promise<{ done: Promise<void> }> => {
      const ready = fromWorker(worker, (m) => m['ready'] === what, `worker reset of ${what}`);
      worker.send({ expect: what, n });
      await ready;
      return { done: fromWorker(worker, (m) => m['done'] === what, `${n} ${what} to arrive`) };
    };
    try {
      await fromWorker(worker, (m) => m['ready'] === 'start', 'worker start');
      // Activates every echo actor and warms both paths up, so trial 1 measures the steady state.
      await closedLoop(KEYS, KEYS, (i) => router.call('echo', keys[i]!, 'echo', PAYLOAD));
      await closedLoop(SHARDS * 100, 1000, (i) => transport.call(ackSubjects[i % SHARDS]!, { kind: 'echo', key: 'w', op: 'send', payload: PAYLOAD }));

      const raw: number[] = [];
      const sends: number[] = [];
      const echoes: number[] = [];
      const bare: number[] = [];
      const tells: number[] = [];
      const p50: number[] = [];
      const p99: number[] = [];
      const lightP50: number[] = [];
      const lightP99: number[] = [];
      let batchCalls = 0;
      let batches = 0;
      /** Runs one closed-loop phase and returns calls/s. */
      const callPhase = async (what: string, call: (i: number) => Promise<unknown>, latencies?: boolean): Promise<number> => {
        const before = transport.stats();
        const t0 = performance.now();
        const lat = await withTimeout(closedLoop(CALLS, WINDOW, call), budget(), what);
        const rate = CALLS / ((performance.now() - t0) / 1000);
        const after = transport.stats();
        batchCalls += after.callsSent - before.callsSent;
        batches += after.batchesSent - before.batchesSent;
        if (latencies) {
          p50.push(percentile(lat, 50));
          p99.push(percentile(lat, 99));
        }
        return rate;
      };
      for (let t = 0; t < ctx.trials; t++) {
        const label = `trial ${t + 1}/${ctx.trials}`;
        ctx.progress(`${label}: raw NATS pub→sub, ${RAW} × 200 B`);
        const payload = new Uint8Array(200);
        let { done } = await expect('raw', RAW);
        let t0 = performance.now();
        for (let i = 0; i < RAW; i++) {
          nc.publish('bench.raw', payload);
          // Lets the socket drain instead of buffering the whole run in memory.
          if ((i & 8191) === 8191) await new Promise((r) => setImmediate(r));
        }
        await withTimeout(done, budget(), 'raw NATS messages');
        raw.push(RAW / ((performance.now() - t0) / 1000));

        ctx.progress(`${label}: ${CALLS} actor calls (send → ack), ${WINDOW} outstanding`);
        sends.push(await callPhase('actor calls', (i) => router.call('echo', keys[i % KEYS]!, 'send', PAYLOAD), true));
        ctx.progress(`${label}: ${LIGHT_CALLS} actor calls, ${LIGHT_WINDOW} outstanding (latency)`);
        const light = await withTimeout(
          closedLoop(LIGHT_CALLS, LIGHT_WINDOW, (i) => router.call('echo', keys[i % KEYS]!, 'send', PAYLOAD)),
          budget(),
          'light-load actor calls',
        );
        lightP50.push(percentile(light, 50));
        lightP99.push(percentile(light, 99));
        ctx.progress(`${label}: ${CALLS} actor calls (payload echoed back)`);
        echoes.push(await callPhase('actor echo calls', (i) => router.call('echo', keys[i % KEYS]!, 'echo', PAYLOAD)));
        ctx.progress(`${label}: ${CALLS} bare transport calls (no actors)`);
        bare.push(await callPhase('bare transport calls', (i) => transport.call(ackSubjects[i % SHARDS]!, { kind: 'echo', key: keys[i % KEYS]!, op: 'send', payload: PAYLOAD })));

        ctx.progress(`${label}: ${TELLS} actor tells`);
        ({ done } = await expect('tells', TELLS));
        t0 = performance.now();
        for (let i = 0; i < TELLS; i++) {
          router.tell('echo', keys[i % KEYS]!, 'tell', PAYLOAD);
          if ((i & 8191) === 8191) await new Promise((r) => setImmediate(r));
        }
        await withTimeout(done, budget(), 'actor tells');
        tells.push(TELLS / ((performance.now() - t0) / 1000));
      }
      const baseline = { name: 'raw NATS pub→sub 200 B', median: percentile(raw, 50), trials: raw };
      const target = '≥ 200k actor msgs/s';
      ctx.record({ name: `actor calls, 160 B → small ack (${WINDOW} outstanding)`, unit: 'msgs/s', trials: sends, baseline, target });
      ctx.record({ name: 'actor calls, 160 B echoed back', unit: 'msgs/s', trials: echoes, baseline, target });
      ctx.record({ name: 'bare transport calls, 160 B → small ack (no actors)', unit: 'msgs/s', trials: bare, baseline, target });
      ctx.record({ name: 'actor tells, 160 B (one-way)', unit: 'msgs/s', trials: tells, baseline, target });
      ctx.record({ name: `actor call latency p50, ${WINDOW} outstanding`, unit: 'ms', trials: p50 });
      ctx.record({ name: `actor call latency p99, ${WINDOW} outstanding`, unit: 'ms', trials: p99 });
      ctx.record({ name: `actor call latency p50, ${LIGHT_WINDOW} outstanding`, unit: 'ms', trials: lightP50 });
      ctx.record({ name: `actor call latency p99, ${LIGHT_WINDOW} outstanding`, unit: 'ms', trials: lightP99 });
      ctx.record({ name: 'calls per NATS request (mean batch size)', unit: 'calls', trials: [batchCalls / Math.max(1, batches)] });
    } finally {
      await transport.close();
      await nc.close().catch(() => undefined);
      if (worker.exitCode === null) {
        const exited = new Promise((r) => worker.once('exit', r));
        worker.send({ exit: true });
        await withTimeout(exited, 5000, 'worker exit').catch(() => worker.kill('SIGKILL'));
      }
      await nats.stop();
    }
  },
};

export default scenario;
