import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError } from './config-error.js';
import { DEFAULT_KINDS, DEFAULT_NATS_URL } from './config.js';
import { int, list, MAX_PORT, portOf } from './config-values.js';
import { natsLogin, type NatsAuth } from './nats-login.js';

// What the scripts around the nodes are told (imctl, npm start, chaos): read here, as a node's is in config.ts.

/** What the admin CLI needs: where the cluster's Postgres and NATS are. */
export interface AdminConfig {
  databaseUrl: string;
  natsServers: string[];
  /** NATS credentials, as a node's (runtime/nats-login.ts). */
  natsAuth?: NatsAuth;
  timeoutMs: number;
}

export const DEFAULT_ADMIN_TIMEOUT_MS = 5000;

/** Reads the admin CLI's connection settings from its flags (already split off) or the environment. */
export function parseAdminConfig(
  flags: { 'database-url'?: string; nats?: string; timeout?: string },
  env: NodeJS.ProcessEnv = process.env,
  local: { databaseUrl?: string; natsUrl?: string } = readLocalCluster(),
): AdminConfig {
  const databaseUrl = flags['database-url'] ?? env['DATABASE_URL'] ?? local.databaseUrl ?? '';
  if (!databaseUrl) throw new ConfigError('a Postgres URL is required: --database-url or DATABASE_URL (npm start prints it)');
  const nats = natsLogin(list(flags.nats ?? env['NATS_URL'] ?? local.natsUrl, [DEFAULT_NATS_URL]), env, flags.nats !== undefined);
  return {
    databaseUrl,
    natsServers: nats.servers,
    ...(nats.auth && { natsAuth: nats.auth }),
    timeoutMs: int('timeout', flags.timeout, DEFAULT_ADMIN_TIMEOUT_MS),
  };
}

/** What `npm start` needs: how many nodes, which ports, and an optional external Postgres / NATS. */
export interface StartConfig {
  nodes: number;
  natsPort: number;
  pgPort: number;
  dataDir: string;
  /** External Postgres instead of the embedded one. */
  databaseUrl?: string;
  /** External NATS instead of starting nats-server. */
  natsUrl?: string;
  kinds: string[];
  /** Node i's gateway listens on gatewayPort + i. */
  gatewayPort: number;
  /** IM_SERVER_KEY is set: the nodes use it, and the banner does not print it. */
  ownServerKey: boolean;
}

/** The local nats-server's cluster port is its client port plus this. */
export const START_NATS_CLUSTER_PORT_OFFSET = 2000;

/** The external Postgres a script was pointed at (DATABASE_URL), if any. */
export function externalDatabaseUrl(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env['DATABASE_URL'] || undefined;
}

export const DEFAULT_START_NODES = 3;
export const DEFAULT_START_GATEWAY_PORT = 8080;
export const DEFAULT_START_NATS_PORT = 4222;
export const DEFAULT_START_PG_PORT = 54329;
export const DEFAULT_DATA_DIR = '.data';

/** Parses `npm start -- [--nodes N] [--nats-port P] [--pg-port P]`, with DATABASE_URL / NATS_URL for external servers. */
export function parseStartConfig(argv: string[] = process.argv.slice(2), env: NodeJS.ProcessEnv = process.env): StartConfig {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: { nodes: { type: 'string' }, 'nats-port': { type: 'string' }, 'pg-port': { type: 'string' }, 'data-dir': { type: 'string' }, kinds: { type: 'string' }, 'gateway-port': { type: 'string' } },
  });
  const cfg: StartConfig = {
    nodes: int('nodes', values.nodes, DEFAULT_START_NODES),
    // Its cluster port is this + START_NATS_CLUSTER_PORT_OFFSET.
    natsPort: portOf('nats-port', values['nats-port'], DEFAULT_START_NATS_PORT),
    pgPort: portOf('pg-port', values['pg-port'], DEFAULT_START_PG_PORT),
    dataDir: values['data-dir'] ?? DEFAULT_DATA_DIR,
    kinds: list(values.kinds ?? env['IM_KINDS'], DEFAULT_KINDS),
    gatewayPort: portOf('gateway-port', values['gateway-port'], DEFAULT_START_GATEWAY_PORT),
    ownServerKey: env['IM_SERVER_KEY'] !== undefined,
  };
  if (cfg.natsPort + START_NATS_CLUSTER_PORT_OFFSET > MAX_PORT) throw new ConfigError(`nats-port must be at most ${MAX_PORT - START_NATS_CLUSTER_PORT_OFFSET}: its cluster port is ${START_NATS_CLUSTER_PORT_OFFSET} above it`);
  if (cfg.gatewayPort + cfg.nodes > MAX_PORT) throw new ConfigError(`gateway-port must be at most ${MAX_PORT - cfg.nodes}: node i listens on gateway-port + i`);
  if (env['DATABASE_URL']) cfg.databaseUrl = env['DATABASE_URL'];
  if (env['NATS_URL']) cfg.natsUrl = env['NATS_URL'];
  return cfg;
}

/** The file `npm start` writes so that `npx imctl` finds the local cluster without flags. */
export const LOCAL_CLUSTER_FILE = path.join(DEFAULT_DATA_DIR, 'cluster.json');

/** Reads the local cluster file if `npm start` wrote one in this directory. */
export function readLocalCluster(file = LOCAL_CLUSTER_FILE): { databaseUrl?: string; natsUrl?: string } {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as { databaseUrl?: string; natsUrl?: string };
  } catch {
    return {};
  }
}
