import { fork } from 'node:child_process';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { connect } from 'nats';
import { silentLogger } from '../../runtime/logger.js';
import { Router } from '../../runtime/router.js';
import { Transport } from '../../runtime/transport/transport.js';
import { startNatsServer } from '../lib/nats-server.js';
import { median, type BenchScenario } from './lib.js';

const SHARDS = 8;
const KEYS = 1000;
const CALLS = 300_000;
const IN_FLIGHT = 8192;
const TELLS = 600_000;
const RAW = 600_000;
const PAYLOAD = { text: 'x'.repeat(160) };

const scenario: BenchScenario = {
  name: 'runtime-throughput',
  description: 'actor messages/s between two processes through the batching transport, vs raw NATS pub→sub',
  async run(ctx) {
    const nats = await startNatsServer({ dir: ctx.workDir });
    const worker = fork(path.join(path.dirname(fileURLToPath(import.meta.url)), 'throughput-worker.ts'), [nats.url, String(SHARDS)], { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
    const nc = await connect({ servers: nats.url });
    const transport = new Transport(nc, { log: silentLogger(), defaultTimeoutMs: 30_000, maxInFlightPerSubject: Number(ctx.options['in-flight'] ?? 1) });
    const router = new Router(transport, new Map([['echo', SHARDS]]));
    const keys = Array.from({ length: KEYS }, (_, i) => `a${i}`);
    const count = async (): Promise<{ tells: number; raw: number }> => {
      const all = await Promise.all(Array.from({ length: SHARDS }, (_, s) => router.call('echo', keys.find((k) => router.shardOf('echo', k) === s)!, 'count', null)));
      return all[0] as { tells: number; raw: number };
    };
    const waitFor = async (what: 'tells' | 'raw', n: number): Promise<void> => {
      const deadline = Date.now() + 60_000;
      while ((await count())[what] < n) {
        if (Date.now() > deadline) throw new Error(`${what}: only part arrived`);
        await new Promise((r) => setTimeout(r, 2));
      }
    };
    try {
      await new Promise<void>((resolve, reject) => {
        worker.once('message', () => resolve());
        worker.once('exit', (c) => reject(new Error(`worker exited ${c}`)));
      });
      await router.call('echo', 'warm', 'echo', 1);
      const calls: number[] = [];
      const tells: number[] = [];
      const raw: number[] = [];
      for (let t = 0; t < ctx.trials; t++) {
        await nc.request('bench.reset', new Uint8Array(), { timeout: 5000 });
        ctx.progress(`trial ${t + 1}/${ctx.trials}: raw NATS pub→sub`);
        const payload = new Uint8Array(200);
        let t0 = performance.now();
        for (let i = 0; i < RAW; i++) {
          nc.publish('bench.raw', payload);
          if ((i & 8191) === 0) await new Promise((r) => setImmediate(r));
        }
        await waitFor('raw', RAW);
        raw.push(RAW / ((performance.now() - t0) / 1000));

        ctx.progress(`trial ${t + 1}/${ctx.trials}: actor calls with replies`);
        let next = 0;
        t0 = performance.now();
        await Promise.all(
          Array.from({ length: IN_FLIGHT }, async () => {
            while (next < CALLS) {
              const i = next++;
              await router.call('echo', keys[i % KEYS]!, 'echo', PAYLOAD);
            }
          }),
        );
        calls.push(CALLS / ((performance.now() - t0) / 1000));

        ctx.progress(`trial ${t + 1}/${ctx.trials}: actor tells`);
        t0 = performance.now();
        for (let i = 0; i < TELLS; i++) {
          router.tell('echo', keys[i % KEYS]!, 'tell', PAYLOAD);
          if ((i & 8191) === 0) await new Promise((r) => setImmediate(r));
        }
        await waitFor('tells', TELLS);
        tells.push(TELLS / ((performance.now() - t0) / 1000));
      }
      const baseline = { name: 'raw NATS pub→sub 200 B', median: median(raw), trials: raw };
      ctx.record({ name: 'actor calls with replies (request/reply, batched)', unit: 'msgs/s', trials: calls, baseline, target: '≥ 200k actor msgs/s' });
      ctx.record({ name: 'actor tells (one-way, batched)', unit: 'msgs/s', trials: tells, baseline, target: '≥ 200k actor msgs/s' });
      const st = transport.stats();
      ctx.record({ name: 'calls per NATS request (mean batch size)', unit: 'calls', trials: [st.callsSent / Math.max(1, st.batchesSent)] });
    } finally {
      worker.kill('SIGTERM');
      await transport.close();
      await nc.close();
      await nats.stop();
    }
  },
};

export default scenario;
