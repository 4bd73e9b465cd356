import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { signToken } from '../../protocol/token.js';
import { DEV_SERVER_KEY, DEV_TOKEN_SECRET } from '../../runtime/config.js';
import { connect } from '../../storage/db.js';
import { reapOnExit } from '../lib/child-reaper.js';
import { freePort } from '../lib/free-port.js';
import { parseExposition, sampleSum, type Sample } from '../lib/prometheus-text.js';
import { spawnNodeProcess, type NodeProcess } from '../lib/node-process.js';
import { waitForEvenSpread } from '../lib/shard-spread.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));

/** A load-generator process and its request/response channel over IPC. */
export interface LoadWorker {
  child: ChildProcess;
  request<T = Record<string, unknown>>(cmd: Record<string, unknown>, timeoutMs?: number): Promise<T>;
  close(): Promise<void>;
}

/** Forks a process running `script` (under tsx) that speaks `{id, cmd…}` → `{id, ok, value|error}`. */
export async function forkWorker(script: string, args: string[] = []): Promise<LoadWorker> {
  const child = fork(path.join(HERE, script), args, { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  reapOnExit(child, 'SIGKILL');
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', (code) => reject(new Error(`${script} exited (${code}) before it was ready`)));
  });
  child.on('message', (m: { id?: number; ok?: boolean; value?: unknown; error?: string }) => {
    if (m.id === undefined) return;
    const p = pending.get(m.id);
    pending.delete(m.id);
    if (m.ok) p?.resolve(m.value);
    else p?.reject(new Error(m.error));
  });
  child.on('exit', () => {
    for (const p of pending.values()) p.reject(new Error(`${script} exited`));
    pending.clear();
  });
  return {
    child,
    request: <T>(cmd: Record<string, unknown>, timeoutMs = 300_000) =>
      new Promise<T>((resolve, reject) => {
        const id = nextId++;
        const t = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`worker did not answer ${String(cmd['cmd'])} within ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(id, { resolve: (v) => (clearTimeout(t), resolve(v as T)), reject: (e) => (clearTimeout(t), reject(e)) });
        // With a callback, a closed channel (the worker was killed) rejects this request instead of throwing.
        child.send({ ...cmd, id }, (err) => err && pending.get(id)?.reject(err));
      }),
    async close() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.send({ cmd: 'close', id: 0 }, () => {});
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(t);
    },
  };
}

/** A chat cluster for benchmarks and chaos runs: node processes with gateways on known ports. */
export interface BenchCluster {
  nodes: Map<string, NodeProcess>;
  ws: Map<string, string>;
  http: Map<string, string>;
  spawn(id: string, extra?: string[]): Promise<NodeProcess>;
  api(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }>;
  token(uid: string, did: string): string;
  /** Waits until every shard is active and spread evenly over the running nodes, and the dispatchers have seen it. */
  settle(timeoutMs?: number): Promise<void>;
  /** The gateway the dispatcher sends `uid` to (the node owning the user's connector, when it accepts), as the SDK connects. */
  endpointFor(uid: string): Promise<string>;
  stop(): Promise<void>;
}

/** How often a dispatcher re-reads the shard map (actors/gateway/directory.ts), plus a margin. */
const DIRECTORY_REFRESH_WAIT_MS = 2500;

/** Starts `ids` as node processes hosting connector + chatter, each with a gateway on a free port. */
export async function startBenchCluster(opts: { ids: string[]; natsUrl: string; databaseUrl: string; logDir: string; args: string[]; execArgv?: string[]; nodeArgs?: (id: string) => string[] }): Promise<BenchCluster> {
  const nodes = new Map<string, NodeProcess>();
  const ports = new Map<string, number>();
  const ws = new Map<string, string>();
  const http = new Map<string, string>();
  const spawn = async (id: string, extra: string[] = []): Promise<NodeProcess> => {
    if (!ports.has(id)) ports.set(id, await freePort());
    const port = ports.get(id)!;
    ws.set(id, `ws://127.0.0.1:${port}/ws`);
    http.set(id, `http://127.0.0.1:${port}`);
    const p = await spawnNodeProcess({
      nodeId: id,
      natsUrl: opts.natsUrl,
      databaseUrl: opts.databaseUrl,
      kinds: ['connector', 'chatter'],
      args: ['--gateway-port', String(port), '--dev-tokens', ...opts.args, ...(opts.nodeArgs?.(id) ?? []), ...extra],
      logDir: opts.logDir,
      ...(opts.execArgv ? { execArgv: opts.execArgv } : {}),
    });
    nodes.set(id, p);
    return p;
  };
  await spawn(opts.ids[0]!);
  await Promise.all(opts.ids.slice(1).map((id) => spawn(id)));
  const first = (): string => http.get([...nodes.keys()][0]!)!;
  return {
    nodes,
    ws,
    http,
    spawn,
    async api(method, p, body) {
      const init: RequestInit = { method, headers: { authorization: `Bearer ${DEV_SERVER_KEY}`, 'content-type': 'application/json' } };
      if (body !== undefined) init.body = JSON.stringify(body);
      const res = await fetch(`${first()}${p}`, init);
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    },
    token: (uid, did) => signToken({ sub: uid, did, ttlSec: 24 * 3600 }, DEV_TOKEN_SECRET),
    async settle(timeoutMs = 60_000) {
      const sql = connect(opts.databaseUrl, { max: 1 });
      try {
        await waitForEvenSpread(sql, nodes.size, timeoutMs);
      } finally {
        await sql.end({ timeout: 1 });
      }
      await new Promise((r) => setTimeout(r, DIRECTORY_REFRESH_WAIT_MS));
    },
    async endpointFor(uid) {
      const res = await fetch(`${first()}/v1/endpoints?uid=${encodeURIComponent(uid)}`);
      const body = (await res.json()) as { endpoints?: string[] };
      const e = body.endpoints?.[0];
      if (!e) throw new Error(`the dispatcher named no endpoint for ${uid}: ${JSON.stringify(body)}`);
      return e;
    },
    async stop() {
      await Promise.all([...nodes.values()].map((n) => n.stop(5000)));
    },
  };
}

/** Resident memory of a process, from /proc (the node processes are not ours to ask over IPC). */
export async function rssOf(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) * 1024 : Number.NaN;
}

const scrape = async (url: string) => parseExposition(await (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${DEV_SERVER_KEY}` } })).text());

/** The sum of `names` over every node of `cluster` and every label set, from one scrape of each (server key). */
export async function clusterMetricSum(cluster: BenchCluster, names: readonly string[]): Promise<number> {
  const all = await scrapeNodes(cluster);
  return all.reduce((n, samples) => n + names.reduce((k, name) => k + sampleSum(samples, name), 0), 0);
}

/** One scrape of every node of `cluster` (server key). */
export async function scrapeNodes(cluster: BenchCluster): Promise<Sample[][]> {
  return Promise.all([...cluster.http.values()].map(scrape));
}
