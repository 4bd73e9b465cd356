/**
 * `npm start`: nats-server (nats.conf), Postgres (embedded under .data/pg, or DATABASE_URL), and a local cluster
 * of node processes. Ctrl-C drains the nodes and stops everything.
 */
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { reachableDataDir, startEmbeddedPostgres, type EmbeddedPgHandle } from './lib/embedded-pg.js';
import { startNatsServer, type NatsServerHandle } from './lib/nats-server.js';
import { spawnNodeProcess, type NodeProcess } from './lib/node-process.js';
import { DEV_SERVER_KEY } from '../runtime/config.js';
import { LOCAL_CLUSTER_FILE, parseStartConfig, START_NATS_CLUSTER_PORT_OFFSET } from '../runtime/config-scripts.js';
import { natsLogin } from '../runtime/nats-login.js';
import { connect } from '../storage/db.js';
import { migrate } from '../storage/migrate.js';

async function main(): Promise<void> {
  const cfg = parseStartConfig();
  const dataDir = path.resolve(cfg.dataDir);
  const logDir = path.join(dataDir, 'logs');
  await mkdir(logDir, { recursive: true });
  let pg: EmbeddedPgHandle | undefined;
  /** Postgres while it starts: in a process group of its own, a Ctrl-C meanwhile would otherwise leave it running. */
  let pgStarting: Promise<EmbeddedPgHandle> | undefined;
  let nats: NatsServerHandle | undefined;
  /** A node ended on its own while the cluster ran: the stop then exits 1, not 0. */
  let nodeFailed = false;
  const nodes: NodeProcess[] = [];
  let stopping = false;
  let firstSignalAt = 0;
  const stopAll = async (code: number): Promise<never> => {
    stopping = true;
    console.log('\nstopping: draining nodes…');
    await Promise.all(nodes.map((n) => n.stop(15_000)));
    await nats?.stop();
    pg ??= await pgStarting?.catch(() => undefined);
    await pg?.stop();
    console.log('stopped');
    process.exit(nodeFailed ? 1 : code);
  };
  // Ctrl-C reaches both tsx and this process, so one keypress can arrive twice: a repeat within 2 s is
  // ignored; a later one kills every child at once instead of leaving servers behind.
  const onSignal = (): void => {
    if (!stopping) {
      firstSignalAt = Date.now();
      void stopAll(0);
    } else if (Date.now() - firstSignalAt > 2000) {
      console.log('forced stop');
      for (const n of nodes) n.signal('SIGKILL');
      nats?.signal('SIGKILL');
      void (pg?.stop() ?? Promise.resolve()).finally(() => process.exit(1));
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // A closed terminal: nats-server and Postgres take SIGHUP as "reload", so without this they outlived it.
  // Output to the gone terminal fails from now on, which must not end the stop half way.
  process.on('SIGHUP', () => {
    for (const out of [process.stdout, process.stderr]) out.on('error', () => {});
    onSignal();
  });

  try {
    let databaseUrl = cfg.databaseUrl;
    if (!databaseUrl) {
      const pgDir = await reachableDataDir(path.join(dataDir, 'pg'));
      const where = pgDir.startsWith(`${dataDir}${path.sep}`) ? path.relative(process.cwd(), pgDir) : `${pgDir}: the postgres user, which runs it for root, cannot reach ${dataDir}`;
      console.log(`starting embedded Postgres (data in ${where})…`);
      pg = await (pgStarting = startEmbeddedPostgres({ dataDir: pgDir, port: cfg.pgPort }));
      databaseUrl = pg.url;
    }
    const sql = connect(databaseUrl, { max: 1 });
    await migrate(sql);
    await sql.end();
    let natsUrl = cfg.natsUrl;
    if (!natsUrl) {
      console.log(`starting nats-server on 127.0.0.1:${cfg.natsPort} (nats.conf)…`);
      nats = await startNatsServer({ dir: logDir, name: 'nats-1', port: cfg.natsPort, configFile: path.resolve('nats.conf'), cluster: { name: 'natsim', port: cfg.natsPort + START_NATS_CLUSTER_PORT_OFFSET, routes: [] } });
      natsUrl = nats.url;
    }
    // The file stays where imctl looks for it (./.data), which `--data-dir` elsewhere leaves uncreated.
    await mkdir(path.dirname(LOCAL_CLUSTER_FILE), { recursive: true });
    // Only for this user: it holds the Postgres URL, password and all.
    await writeFile(LOCAL_CLUSTER_FILE, JSON.stringify({ databaseUrl, natsUrl }, null, 2), { mode: 0o600 });
    await chmod(LOCAL_CLUSTER_FILE, 0o600);
    for (let i = 1; i <= cfg.nodes; i++) {
      const args = ['--gateway-port', String(cfg.gatewayPort + i), '--dev-tokens'];
      nodes.push(await spawnNodeProcess({ nodeId: `n${i}`, natsUrl, databaseUrl, kinds: cfg.kinds, logDir, args }));
      console.log(`node n${i} up, gateway ws://127.0.0.1:${cfg.gatewayPort + i}/ws (log: ${path.relative(process.cwd(), path.join(logDir, `n${i}.log`))})`);
    }
    const api = `http://127.0.0.1:${cfg.gatewayPort + 1}`;
    // The nodes inherit this environment: with IM_SERVER_KEY set, the development key is refused, and the
    // real one is not printed.
    const ownKey = cfg.ownServerKey;
    const keyNote = ownKey ? 'Authorization: Bearer <the key in IM_SERVER_KEY>' : `Authorization: Bearer ${DEV_SERVER_KEY}; development keys, see README`;
    const auth = ownKey ? `-H "authorization: Bearer $IM_SERVER_KEY"` : `-H 'authorization: Bearer ${DEV_SERVER_KEY}'`;
    console.log(`
cluster running: ${cfg.nodes} node(s), kinds ${cfg.kinds.join(', ')}
  NATS        ${natsLogin(natsUrl.split(','), {}).servers.join(',')}
  Postgres    ${withoutPassword(databaseUrl)}
  gateways    ${Array.from({ length: cfg.nodes }, (_, i) => `ws://127.0.0.1:${cfg.gatewayPort + i + 1}/ws`).join('  ')}
  server API  ${api}  (${keyNote})
  dispatcher  ${api}/v1/endpoints?uid=alice${ownKey ? '' : `
  demo page   ${api}/demo   (open it in two windows)`}
try:  curl -s -XPOST ${api}/v1/conversations ${auth} -d '{"kind":"direct","members":["alice","bob"]}'
      curl -s -XPOST ${api}/v1/tokens ${auth} -d '{"uid":"alice","did":"alice-1"}'
      npx imctl status;  npx imctl nodes;  npx imctl shards;  npx imctl rebalance --dry-run
Ctrl-C drains the nodes and stops everything.`);
    for (const n of nodes) {
      void n.exited.then((code) => {
        if (stopping) return;
        nodeFailed = true;
        console.error(`node ${n.nodeId} exited (${code}); see ${n.logFile}`);
      });
    }
  } catch (err) {
    // Ctrl-C while starting stops the node being started too: that is the stop under way, not a failure.
    if (stopping) return;
    console.error('start failed:', (err as Error).message);
    await stopAll(1);
  }
}

void main();

/** A connection URL as printed: an external server's password stays out of terminals and their scrollback. */
function withoutPassword(url: string): string {
  try {
    const u = new URL(url);
    if (u.password === '' || u.password === 'postgres') return url;
    u.password = '***';
    return u.toString();
  } catch {
    return '(a URL that does not parse)';
  }
}
