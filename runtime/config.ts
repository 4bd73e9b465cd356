import os from 'node:os';
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
export const DEFAULT_KINDS = ['connector', 'chatter'];

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
