import os from 'node:os';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

/** Everything a node process can be told. The only place that reads argv or the environment. */
export interface NodeConfig {
  nodeId: string;
  natsServers: string[];
  databaseUrl: string;
  /** Actor kinds this node hosts. */
  kinds: string[];
  /** Shards per kind; fixed when the cluster is first created, later nodes read it from Postgres. */
  shardCount: number;
  heartbeatMs: number;
  leaseMs: number;
  requestTimeoutMs: number;
  actorIdleMs: number;
  handoffPhaseTimeoutMs: number;
  dbPoolSize: number;
  logLevel: string;
}

export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';
export const DEFAULT_SHARD_COUNT = 256;
/**
 * Heartbeat and lease are far shorter than DESIGN.md's 1 s / 3 s: failover within 2 s needs detection well
 * inside it. Correctness never rests on these timers (epoch fencing in Postgres does), only availability.
 */
export const DEFAULT_HEARTBEAT_MS = 300;
export const DEFAULT_LEASE_MS = 1500;
export const DEFAULT_REQUEST_TIMEOUT_MS = 5000;
export const DEFAULT_ACTOR_IDLE_MS = 60_000;
export const DEFAULT_HANDOFF_PHASE_TIMEOUT_MS = 2000;
export const DEFAULT_DB_POOL = 8;
/** The kinds a node hosts unless told otherwise. */
export const DEFAULT_KINDS = ['counter'];

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'invalid_config';
}

function int(name: string, raw: string | undefined, fallback: number, min = 1): number {
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new ConfigError(`${name} must be an integer >= ${min}, got "${raw}"`);
  return n;
}

function list(raw: string | undefined, fallback: string[]): string[] {
  if (raw === undefined || raw === '') return fallback;
  return raw.split(',').map((s) => s.trim()).filter(Boolean);
}

/** Parses `--flag value` arguments, falling back to IM_* environment variables, then to DEFAULT_* values. */
export function parseConfig(argv: string[] = process.argv.slice(2), env: NodeJS.ProcessEnv = process.env): NodeConfig {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      'node-id': { type: 'string' },
      nats: { type: 'string' },
      'database-url': { type: 'string' },
      kinds: { type: 'string' },
      shards: { type: 'string' },
      'heartbeat-ms': { type: 'string' },
      'lease-ms': { type: 'string' },
      'request-timeout-ms': { type: 'string' },
      'actor-idle-ms': { type: 'string' },
      'handoff-timeout-ms': { type: 'string' },
      'db-pool': { type: 'string' },
      'log-level': { type: 'string' },
    },
  });
  const databaseUrl = values['database-url'] ?? env['DATABASE_URL'] ?? '';
  if (!databaseUrl) throw new ConfigError('a Postgres URL is required: --database-url or DATABASE_URL');
  const heartbeatMs = int('heartbeat-ms', values['heartbeat-ms'] ?? env['IM_HEARTBEAT_MS'], DEFAULT_HEARTBEAT_MS);
  const leaseMs = int('lease-ms', values['lease-ms'] ?? env['IM_LEASE_MS'], DEFAULT_LEASE_MS);
  if (leaseMs < heartbeatMs * 3) throw new ConfigError(`lease-ms (${leaseMs}) must be at least 3 heartbeats (${heartbeatMs * 3})`);
  return {
    nodeId: values['node-id'] ?? env['IM_NODE_ID'] ?? `${os.hostname()}-${process.pid}`,
    natsServers: list(values.nats ?? env['NATS_URL'], [DEFAULT_NATS_URL]),
    databaseUrl,
    kinds: list(values.kinds ?? env['IM_KINDS'], DEFAULT_KINDS),
    shardCount: int('shards', values.shards ?? env['IM_SHARDS'], DEFAULT_SHARD_COUNT),
    heartbeatMs,
    leaseMs,
    requestTimeoutMs: int('request-timeout-ms', values['request-timeout-ms'], DEFAULT_REQUEST_TIMEOUT_MS),
    actorIdleMs: int('actor-idle-ms', values['actor-idle-ms'], DEFAULT_ACTOR_IDLE_MS),
    handoffPhaseTimeoutMs: int('handoff-timeout-ms', values['handoff-timeout-ms'], DEFAULT_HANDOFF_PHASE_TIMEOUT_MS),
    dbPoolSize: int('db-pool', values['db-pool'] ?? env['IM_DB_POOL'], DEFAULT_DB_POOL),
    logLevel: values['log-level'] ?? env['IM_LOG_LEVEL'] ?? 'info',
  };
}

/** What the admin CLI needs: where the cluster's Postgres and NATS are. */
export interface AdminConfig {
  databaseUrl: string;
  natsServers: string[];
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
  return {
    databaseUrl,
    natsServers: list(flags.nats ?? env['NATS_URL'] ?? local.natsUrl, [DEFAULT_NATS_URL]),
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
}

export const DEFAULT_START_NODES = 3;
export const DEFAULT_START_NATS_PORT = 4222;
export const DEFAULT_START_PG_PORT = 54329;
export const DEFAULT_DATA_DIR = '.data';

/** Parses `npm start -- [--nodes N] [--nats-port P] [--pg-port P]`, with DATABASE_URL / NATS_URL for external servers. */
export function parseStartConfig(argv: string[] = process.argv.slice(2), env: NodeJS.ProcessEnv = process.env): StartConfig {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: { nodes: { type: 'string' }, 'nats-port': { type: 'string' }, 'pg-port': { type: 'string' }, 'data-dir': { type: 'string' }, kinds: { type: 'string' } },
  });
  const cfg: StartConfig = {
    nodes: int('nodes', values.nodes, DEFAULT_START_NODES),
    natsPort: int('nats-port', values['nats-port'], DEFAULT_START_NATS_PORT),
    pgPort: int('pg-port', values['pg-port'], DEFAULT_START_PG_PORT),
    dataDir: values['data-dir'] ?? DEFAULT_DATA_DIR,
    kinds: list(values.kinds ?? env['IM_KINDS'], DEFAULT_KINDS),
  };
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
