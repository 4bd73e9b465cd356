import { execFile } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startBenchCluster, type BenchCluster } from '../bench/chat-harness.js';
import { startEmbeddedPostgres, type EmbeddedPgHandle } from '../lib/embedded-pg.js';
import { freePort } from '../lib/free-port.js';
import { startNatsServer, type NatsServerHandle } from '../lib/nats-server.js';
import { tcpProxy, type TcpProxy } from '../lib/tcp-proxy.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** What the chaos run stands on: a 3-server NATS cluster from nats.conf, Postgres, and node processes. */
export interface ChaosInfra {
  databaseUrl: string;
  natsUrls: string[];
  cluster: BenchCluster;
  nodeIds: string[];
  /** Cuts node `nodeId` off from every nats-server (its links go silent; Postgres and clients still reach it) for `ms`. */
  cutNats(nodeId: string, ms: number): Promise<void>;
  /** Kills one nats-server and starts it again on the same ports after `downMs`. */
  bounceNats(index: number, downMs: number): Promise<void>;
  /** Stops Postgres and starts it again on the same data and port after `downMs` (embedded only). */
  restartPostgres(downMs: number): Promise<boolean>;
  /** Runs imctl against the cluster. */
  imctl(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Lines of every node log containing `needle`. */
  countLogLines(needle: string): Promise<number>;
  stop(): Promise<void>;
}

/** How long a node cut off from NATS waits before it gives way (CUT_NATS lasts longer). */
export const CHAOS_NATS_CUT_GRACE_MS = 3000;
const NODE_ARGS = ['--shards', '32', '--log-level', 'info', '--rate', '2000', '--rate-burst', '2000', '--nats-cut-grace-ms', String(CHAOS_NATS_CUT_GRACE_MS)];

/** Starts Postgres (embedded unless `externalDb`), three clustered nats-servers and `nodes` node processes (with `nodeArgs` added to their flags). */
export async function startChaosInfra(opts: { workDir: string; nodes: number; externalDb?: string; nodeArgs?: string[]; log: (m: string) => void }): Promise<ChaosInfra> {
  let pg: EmbeddedPgHandle | undefined;
  let databaseUrl = opts.externalDb;
  const pgDir = path.join(opts.workDir, 'pg');
  // Postgres' own log (kept with the node logs): how long its shutdowns take, what it refused and why.
  const pgLogFile = createWriteStream(path.join(opts.workDir, 'postgres.log'), { flags: 'a' });
  const pgLog = (m: string): void => void pgLogFile.write(m.endsWith('\n') ? m : `${m}\n`);
  let pgPort = 0;
  if (!databaseUrl) {
    pgPort = await freePort();
    pg = await startEmbeddedPostgres({ dataDir: pgDir, port: pgPort, onLog: pgLog });
    databaseUrl = pg.url;
  }
  const clientPorts = [await freePort(), await freePort(), await freePort()];
  const routePorts = [await freePort(), await freePort(), await freePort()];
  const natsDir = path.join(opts.workDir, 'nats');
  const startOne = (i: number): Promise<NatsServerHandle> =>
    startNatsServer({
      dir: natsDir,
      name: `nats-${i + 1}`,
      port: clientPorts[i]!,
      configFile: path.join(ROOT, 'nats.conf'),
      // Not advertised: a node given proxied URLs (cutNats) would find the servers' own behind them, and a cut would not hold.
      cluster: { name: 'natsim', port: routePorts[i]!, routes: routePorts.filter((_, k) => k !== i).map((p) => `nats-route://127.0.0.1:${p}`), noAdvertise: true },
    });
  const servers = await Promise.all([0, 1, 2].map(startOne));
  const natsUrls = servers.map((s) => s.url);
  // Let the routes form before anyone subscribes: interest must reach every server.
  await new Promise((r) => setTimeout(r, 1500));
  const nodeIds = Array.from({ length: opts.nodes }, (_, i) => `k${i + 1}`);
  // Each node reaches each server through a proxy of its own, which cutNats silences.
  const proxies = new Map<string, TcpProxy[]>();
  for (const id of nodeIds) proxies.set(id, await Promise.all(natsUrls.map((u) => tcpProxy(new URL(u)))));
  const nodeNats = (id: string): string[] => ['--nats', proxies.get(id)!.map((p, i) => p.url(natsUrls[i]!)).join(',')];
  const cluster = await startBenchCluster({ ids: nodeIds, natsUrl: natsUrls.join(','), databaseUrl, logDir: opts.workDir, args: [...NODE_ARGS, ...(opts.nodeArgs ?? [])], nodeArgs: nodeNats });
  const imctl = (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      execFile('sh', [path.join(ROOT, 'scripts', 'imctl.sh'), '--database-url', databaseUrl!, '--nats', natsUrls.join(','), ...args], { timeout: 60_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
  return {
    databaseUrl,
    natsUrls,
    cluster,
    nodeIds,
    async cutNats(nodeId, ms) {
      const ps = proxies.get(nodeId)!;
      for (const p of ps) p.freeze();
      for (const p of ps) p.cut();
      await new Promise((r) => setTimeout(r, ms));
      for (const p of ps) p.thaw();
    },
    async bounceNats(index, downMs) {
      servers[index]!.signal('SIGKILL');
      await new Promise((r) => servers[index]!.process.once('exit', r));
      await new Promise((r) => setTimeout(r, downMs));
      servers[index] = await startOne(index);
    },
    async restartPostgres(downMs) {
      if (!pg) return false;
      await pg.stop();
      await new Promise((r) => setTimeout(r, downMs));
      pg = await startEmbeddedPostgres({ dataDir: pgDir, port: pgPort, onLog: pgLog });
      return true;
    },
    imctl,
    async countLogLines(needle) {
      let n = 0;
      for (const f of await readdir(opts.workDir)) {
        if (!f.endsWith('.log')) continue;
        const text = await readFile(path.join(opts.workDir, f), 'utf8').catch(() => '');
        for (const line of text.split('\n')) if (line.includes(needle)) n++;
      }
      return n;
    },
    async stop() {
      await cluster.stop().catch(() => undefined);
      for (const ps of proxies.values()) for (const p of ps) p.close();
      await Promise.all(servers.map((s) => s.stop().catch(() => undefined)));
      await pg?.stop().catch(() => undefined);
      pgLogFile.end();
    },
  };
}
