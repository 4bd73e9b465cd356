import { execFile, spawn as spawnChild, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { connect as natsConnect, type NatsConnection } from 'nats';
import { spawnNodeProcess, type NodeProcess } from '../../scripts/lib/node-process.js';
import { waitForEvenSpread } from '../../scripts/lib/shard-spread.js';
import { decodeControlReply, encodeControl } from '../../protocol/control.js';
import { ErrorCode, RETRYABLE_CODES, toImError } from '../../protocol/errors.js';
import { nodeControlSubject } from '../../protocol/subjects.js';
import { silentLogger } from '../../runtime/logger.js';
import { Router } from '../../runtime/router.js';
import { Transport } from '../../runtime/transport/transport.js';
import { registerPid, startTestNats, unregisterPid, type TestNats } from './nats.js';
import { createTestDatabase, type TestDatabase } from './pg.js';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');

export interface TestCluster {
  nats: TestNats;
  db: TestDatabase;
  nodes: Map<string, NodeProcess>;
  nc: NatsConnection;
  router: Router;
  logDir: string;
  /** Starts (or restarts) a node process with the cluster's settings plus `args`. */
  spawn(nodeId: string, args?: string[], env?: Record<string, string>): Promise<NodeProcess>;
  /** Runs the admin CLI against this cluster. */
  imctl(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Starts the admin CLI against this cluster as an operator's terminal does (its `npx imctl` entry, in its own process group), to signal it meanwhile. */
  spawnImctl(...args: string[]): ChildProcessWithoutNullStreams;
  /** Waits until the start-up rebalance is over: every shard active, each kind spread evenly over the nodes. */
  settle(timeoutMs?: number): Promise<void>;
  /** Calls an actor op, retrying retryable errors (the same op id makes retries safe) until `deadlineMs`. */
  callWithRetry(kind: string, key: string, op: string, payload: unknown, deadlineMs?: number): Promise<unknown>;
  /** The nodes' warning and error log lines (the last `max`), to print when a test fails. */
  warnings(max?: number): Promise<string>;
  stop(): Promise<void>;
}

/** The shards of `kind` that `node` says it serves now (its own status report, not the shard map). */
export async function servedShards(cluster: TestCluster, node: string, kind = 'counter'): Promise<{ shard: number; epoch: number }[]> {
  const msg = await cluster.nc.request(nodeControlSubject(node), encodeControl({ type: 'status' }), { timeout: 5000 });
  const r = decodeControlReply(msg.data);
  if (!r.ok || r.value.type !== 'status') throw new Error('bad status reply');
  return r.value.shards.filter((s) => s.kind === kind);
}

export interface TestClusterOptions {
  nodes: string[];
  shards: number;
  kinds?: string[];
  /** Extra node flags, e.g. ['--heartbeat-ms', '100']. */
  args?: string[];
  /** A first node with flags of its own (spawned before `nodes`, which then join it). */
  firstNode?: { id: string; args: string[]; env?: Record<string, string> };
}

/** nats-server and a fresh database; when one of them fails to start, the other is stopped before the error is thrown. */
async function startServers(): Promise<[TestNats, TestDatabase]> {
  const [nats, db] = await Promise.allSettled([startTestNats(), createTestDatabase()]);
  if (nats.status === 'fulfilled' && db.status === 'fulfilled') return [nats.value, db.value];
  await Promise.all([nats.status === 'fulfilled' && nats.value.stop(), db.status === 'fulfilled' && db.value.drop()]).catch(() => undefined);
  throw nats.status === 'rejected' ? nats.reason : (db as PromiseRejectedResult).reason;
}

/** Starts nats-server, a fresh database and node processes; stop() ends them all. */
export async function startTestCluster(opts: TestClusterOptions): Promise<TestCluster> {
  const [nats, db] = await startServers();
  const logDir = await mkdtemp(path.join(os.tmpdir(), 'natsim-cluster-')).catch(async (err: unknown) => {
    await Promise.all([nats.stop(), db.drop()]).catch(() => undefined);
    throw err;
  });
  const nodes = new Map<string, NodeProcess>();
  const kinds = opts.kinds ?? ['counter'];
  const baseArgs = ['--shards', String(opts.shards), '--log-level', 'info', ...(opts.args ?? [])];
  const spawn = async (nodeId: string, args: string[] = [], env?: Record<string, string>): Promise<NodeProcess> => {
    const p = await spawnNodeProcess({ nodeId, natsUrl: nats.url, databaseUrl: db.url, kinds, args: [...baseArgs, ...args], logDir, onSpawn: (pid) => void registerPid(pid), ...(env && { env }) });
    nodes.set(nodeId, p);
    void p.exited.then(() => unregisterPid(p.pid));
    return p;
  };
  let nc: NatsConnection;
  try {
    // The first node creates the shard map; the rest join it.
    const first = opts.firstNode ?? (opts.nodes[0] === undefined ? undefined : { id: opts.nodes[0], args: [] });
    if (first) await spawn(first.id, first.args, first.env);
    // allSettled: the nodes still starting when one fails must be in `nodes` before the clean-up stops them.
    const started = await Promise.allSettled(opts.nodes.filter((id) => id !== first?.id).map((id) => spawn(id)));
    for (const r of started) if (r.status === 'rejected') throw r.reason;
    nc = await natsConnect({ servers: nats.url, name: 'test-client' });
  } catch (err) {
    // A failed start leaves nothing running: the nodes spawned so far, the servers, the logs.
    await Promise.all([...nodes.values()].map((n) => n.stop(5000)));
    await Promise.all([nats.stop(), db.drop()]).catch(() => undefined); // the start's error is the one to see
    await rm(logDir, { recursive: true, force: true });
    throw err;
  }
  const transport = new Transport(nc, { log: silentLogger(), defaultTimeoutMs: 5000 });
  const router = new Router(transport, new Map(kinds.map((k) => [k, opts.shards])));
  return {
    nats,
    db,
    nodes,
    nc,
    router,
    logDir,
    spawn,
    imctl: (...args) =>
      new Promise((resolve) => {
        execFile('sh', [path.join(ROOT, 'scripts', 'imctl.sh'), '--database-url', db.url, '--nats', nats.url, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
          resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
        });
      }),
    // A process group of its own, as a terminal gives a command: a signal reaches every process of it.
    spawnImctl: (...args) => spawnChild('sh', [path.join(ROOT, 'scripts', 'imctl.sh'), '--database-url', db.url, '--nats', nats.url, ...args], { detached: true }),
    settle: (timeoutMs) => waitForEvenSpread(db.sql, nodes.size, timeoutMs),
    async callWithRetry(kind, key, op, payload, deadlineMs = 20_000) {
      const deadline = Date.now() + deadlineMs;
      for (let attempt = 0; ; attempt++) {
        try {
          return await router.call(kind, key, op, payload, Math.min(5000, Math.max(100, deadline - Date.now())));
        } catch (err) {
          const e = toImError(err);
          const retryable = RETRYABLE_CODES.has(e.code) || e.code === ErrorCode.TIMEOUT;
          if (!retryable || Date.now() > deadline) throw e;
          await new Promise((r) => setTimeout(r, Math.min(200, 10 * 2 ** attempt)));
        }
      }
    },
    async warnings(max = 80) {
      const lines: string[] = [];
      for (const f of (await readdir(logDir)).filter((x) => x.endsWith('.log')).sort()) {
        const text = await readFile(path.join(logDir, f), 'utf8').catch(() => '');
        for (const line of text.split('\n')) if (/"level":(4|5|6)0/.test(line)) lines.push(`${f}: ${line.slice(0, 400)}`);
      }
      return lines.slice(-max).join('\n');
    },
    async stop() {
      await transport.close().catch(() => undefined);
      await nc.close().catch(() => undefined);
      await Promise.all([...nodes.values()].map((n) => n.stop(5000)));
      await Promise.all([nats.stop(), db.drop()]);
      await rm(logDir, { recursive: true, force: true });
    },
  };
}
