import os from 'node:os';
import { parseArgs } from 'node:util';
import { checkSecretLength, gatewaySecrets } from './config-secrets.js';
import { natsLogin, type NatsAuth } from './nats-login.js';
import { ConfigError } from './config-error.js';
import { envSwitch, int, list, logLevel, MIN_HEARTBEAT_MS, portOf } from './config-values.js';
import {
  DEFAULT_HEARTBEAT_MS as DEFAULT_CLIENT_HEARTBEAT_MS,
  DEFAULT_MAX_BACKPRESSURE_BYTES,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_MAX_TOKEN_LIFETIME_SEC,
  DEFAULT_MAX_GROUP_MEMBERS,
  DEFAULT_RECALL_WINDOW_SEC,
  DEFAULT_EDIT_WINDOW_SEC,
  DEFAULT_MESSAGE_RETENTION_SEC,
  DEFAULT_MAX_PINNED,
  DEFAULT_MAX_USER_CONVERSATIONS,
  DEFAULT_RATE_BURST,
  DEFAULT_RATE_CLOSE_AFTER_SEC,
  DEFAULT_RATE_PER_SEC,
} from '../protocol/limits.js';

/** Members above which a conversation is delivered by one publish on its own subject instead of per connector. */
export const DEFAULT_LARGE_GROUP_MEMBERS = 100;

/** Everything a node process can be told. The only place that reads argv or the environment. */
export interface NodeConfig {
  nodeId: string;
  /** No --node-id was given: the id is `<hostname>-<pid>`, another one at each restart. */
  nodeIdFromHost: boolean;
  /** --shards (or IM_SHARDS) was given, not taken by default: a cluster keeping another count is then worth a warning. */
  shardCountGiven: boolean;
  natsServers: string[];
  /** NATS credentials (runtime/nats-login.ts), none for an open server. */
  natsAuth?: NatsAuth;
  databaseUrl: string;
  /** Actor kinds this node hosts. */
  kinds: string[];
  /** Shards per kind; fixed when the cluster is first created, later nodes read it from Postgres. */
  shardCount: number;
  heartbeatMs: number;
  leaseMs: number;
  /** Cut off from NATS this long while other nodes reach it, a node lets its lease run out (LeaseRenewer). */
  natsCutGraceMs: number;
  requestTimeoutMs: number;
  actorIdleMs: number;
  handoffPhaseTimeoutMs: number;
  dbPoolSize: number;
  logLevel: string;
  /** Batch sizing of the node's group commit of chat messages. */
  commit: CommitConfig;
  gateway: GatewayConfig;
  /** Business events POSTed to the business server (absent: NATS only). */
  webhook?: WebhookConfig;
}

/** Where and how the cluster POSTs its business events (actors/webhook-forwarder.ts). */
export interface WebhookConfig {
  url: string;
  /** Signs each request (Standard Webhooks: `whsec_` + base64 of the key, or any other string, used as it is). */
  secret: string;
  /** During a rotation, the secret before it: requests carry a signature with each, so receivers may move over. */
  previousSecret?: string;
  /** Event types forwarded: `online`, `offline`, `message`, `read`, `push`, `members`. */
  events: string[];
}

/** The business event types (the last token of their subjects), all forwarded unless `--webhook-events` says. */
export const WEBHOOK_EVENT_TYPES = ['online', 'offline', 'message', 'read', 'push', 'members', 'report'] as const;

/** How the node's group commit forms its statements (actors/group-commit.ts says why these defaults). */
export interface CommitConfig {
  /** Most rows in one statement. */
  maxRows: number;
  /** Below this many rows, a batch that formed while a statement ran waits `gatherMs` for more. */
  gatherBelow: number;
  /** 0: never waits. */
  gatherMs: number;
  /** Bytes of rows waiting for Postgres past which new messages are refused `overloaded` (`--commit-max-backlog-mb`). */
  maxBacklogBytes: number;
}

/** The client-facing side of a node: WebSocket gateway, server API and dispatcher on one HTTP port. */
export interface GatewayConfig {
  /** 0 = no gateway on this node. */
  port: number;
  host: string;
  /** The URL clients reach this gateway at (advertised to the dispatcher and in redirects). */
  publicUrl: string;
  /** HS256 secret shared with the business server. */
  tokenSecret: string;
  /** The secret before it, still good for verifying while the business server moves to the new one (rotation). */
  previousTokenSecret?: string;
  /** Bearer key of the server API. */
  serverKey: string;
  /** The key before it, still taken while the business server moves to the new one (rotation). */
  previousServerKey?: string;
  /** Lets `POST /v1/tokens` mint tokens (development only). */
  devTokens: boolean;
  /** Longest token lifetime (`exp` − `iat`) accepted; revocations older than it (plus leeway) are forgotten. */
  maxTokenLifetimeSec: number;
  maxConnections: number;
  maxFrameBytes: number;
  ratePerSec: number;
  rateBurst: number;
  rateCloseAfterSec: number;
  heartbeatMs: number;
  maxBackpressureBytes: number;
  largeGroupMembers: number;
  /** Conversations one user may be in (adds past it get LIMIT_REACHED). */
  maxUserConversations: number;
  /** Members one group may have (creates and adds past it get LIMIT_REACHED). */
  maxGroupMembers: number;
  /** Conversations one user may have pinned (a pin past it gets LIMIT_REACHED). */
  maxPinned: number;
  /** Publish business events (`im.events.*`). */
  events: boolean;
  /** How long after a message its sender may recall it; 0: never (the server API still may). */
  recallWindowSec: number;
  /** How long after a message its sender may edit it; 0: never. */
  editWindowSec: number;
  /** How long messages are kept; older ones are expired (served to nobody, then deleted). 0: for good. */
  messageRetentionSec: number;
  /**
   * Web origins (`https://app.example`) whose pages may open sockets and read the dispatcher; empty: any. A browser
   * names its page's origin; other clients send none and are not checked (their token is what admits them).
   */
  allowedOrigins: string[];
}

/** Most rows in one group-commit statement. */
export const DEFAULT_COMMIT_MAX_ROWS = 2000;
/** A batch smaller than this that formed behind a running statement waits DEFAULT_COMMIT_GATHER_MS for company. */
export const DEFAULT_COMMIT_GATHER_BELOW = 32;
export const DEFAULT_COMMIT_GATHER_MS = 2;
/** MiB of rows waiting for Postgres past which a node takes no new message (see GroupCommitter.full). */
export const DEFAULT_COMMIT_MAX_BACKLOG_MB = 64;

export { DEV_SERVER_KEY, DEV_TOKEN_SECRET, MIN_SECRET_BYTES } from './config-secrets.js';
export const DEFAULT_GATEWAY_HOST = '127.0.0.1';

export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';
export const DEFAULT_SHARD_COUNT = 256;
/**
 * Heartbeat and lease are far shorter than DESIGN.md's 1 s / 3 s: failover within 2 s needs detection well
 * inside it. Correctness never rests on these timers (epoch fencing in Postgres does), only availability.
 */
export const DEFAULT_HEARTBEAT_MS = 300;
export const DEFAULT_LEASE_MS = 1500;
/**
 * Longer than nats.js takes to notice a silent link (5 s pings, two missed): when NATS itself goes silent, every node
 * notices within one ping interval of the others, and none may see another as "up" long enough to give way to it.
 */
export const DEFAULT_NATS_CUT_GRACE_MS = 10_000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 5000;
export const DEFAULT_ACTOR_IDLE_MS = 60_000;
export const DEFAULT_HANDOFF_PHASE_TIMEOUT_MS = 2000;
export const DEFAULT_DB_POOL = 8;
/** The kinds a node hosts unless told otherwise. */
export const DEFAULT_KINDS = ['connector', 'chatter'];

export { ConfigError } from './config-error.js';
export { MAX_INT_SETTING, MIN_HEARTBEAT_MS } from './config-values.js';

/** The smallest `--max-frame-bytes` a node takes. */
export const MIN_MAX_FRAME_BYTES = 1024;

/**
 * The environment form of a flag: `IM_` and the flag in capitals with underscores (`--max-group-members`:
 * `IM_MAX_GROUP_MEMBERS`), but for the few named otherwise from the start, which keep their names.
 */
export function envName(flag: string): string {
  return ENV_NAMES[flag] ?? `IM_${flag.toUpperCase().replace(/-/g, '_')}`;
}

const ENV_NAMES: Record<string, string> = {
  nats: 'NATS_URL',
  'database-url': 'DATABASE_URL',
  'max-token-lifetime': 'IM_MAX_TOKEN_LIFETIME_S',
  'recall-window': 'IM_RECALL_WINDOW_S',
  'edit-window': 'IM_EDIT_WINDOW_S',
  'message-retention': 'IM_MESSAGE_RETENTION_S',
};

/** Parses `--flag value` arguments, falling back to their environment form (`envName`), then to DEFAULT_* values. */
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
      'nats-cut-grace-ms': { type: 'string' },
      'request-timeout-ms': { type: 'string' },
      'actor-idle-ms': { type: 'string' },
      'handoff-timeout-ms': { type: 'string' },
      'db-pool': { type: 'string' },
      'commit-max-rows': { type: 'string' },
      'commit-gather-below': { type: 'string' },
      'commit-gather-ms': { type: 'string' },
      'commit-max-backlog-mb': { type: 'string' },
      'log-level': { type: 'string' },
      'gateway-port': { type: 'string' },
      'gateway-host': { type: 'string' },
      'public-url': { type: 'string' },
      'max-connections': { type: 'string' },
      'max-frame-bytes': { type: 'string' },
      rate: { type: 'string' },
      'rate-burst': { type: 'string' },
      'rate-close-after': { type: 'string' },
      'client-heartbeat-ms': { type: 'string' },
      'max-backpressure': { type: 'string' },
      'large-group': { type: 'string' },
      'max-user-conversations': { type: 'string' },
      'max-group-members': { type: 'string' },
      'max-pinned': { type: 'string' },
      'dev-tokens': { type: 'boolean' },
      'max-token-lifetime': { type: 'string' },
      'no-events': { type: 'boolean' },
      'recall-window': { type: 'string' },
      'edit-window': { type: 'string' },
      'message-retention': { type: 'string' },
      'allowed-origins': { type: 'string' },
      'webhook-url': { type: 'string' },
      'webhook-events': { type: 'string' },
    },
  });
  const given = values as Record<string, string | boolean | undefined>;
  /**
   * A flag's value, else its environment form's; empty is unset (`IM_GATEWAY_HOST=${HOST}` with HOST unset would
   * otherwise bind every interface).
   */
  const v = (flag: string): string | undefined => {
    const raw = (given[flag] as string | undefined) ?? env[envName(flag)];
    return raw === '' ? undefined : raw;
  };
  /** A switch: given as a flag, or its environment form says on. */
  const on = (flag: string): boolean => given[flag] === true || envSwitch(envName(flag), env[envName(flag)]);
  const databaseUrl = v('database-url') ?? '';
  if (!databaseUrl) throw new ConfigError('a Postgres URL is required: --database-url or DATABASE_URL');
  const heartbeatMs = int('heartbeat-ms', v('heartbeat-ms'), DEFAULT_HEARTBEAT_MS, MIN_HEARTBEAT_MS);
  const leaseMs = int('lease-ms', v('lease-ms'), DEFAULT_LEASE_MS);
  if (leaseMs < heartbeatMs * 3) throw new ConfigError(`lease-ms (${leaseMs}) must be at least 3 heartbeats (${heartbeatMs * 3})`);
  // What other nodes report of their NATS link is up to a lease and a heartbeat old: a long lease lengthens the default.
  const natsCutGraceMs = int('nats-cut-grace-ms', v('nats-cut-grace-ms'), Math.max(DEFAULT_NATS_CUT_GRACE_MS, leaseMs + heartbeatMs), 0);
  if (natsCutGraceMs > 0 && natsCutGraceMs < leaseMs + heartbeatMs) throw new ConfigError(`nats-cut-grace-ms (${natsCutGraceMs}) must be 0 (never) or at least lease-ms + heartbeat-ms (${leaseMs + heartbeatMs})`);
  const nats = natsLogin(list(v('nats'), [DEFAULT_NATS_URL]), env, given['nats'] !== undefined);
  return {
    nodeId: v('node-id') ?? `${os.hostname()}-${process.pid}`,
    nodeIdFromHost: v('node-id') === undefined,
    natsServers: nats.servers,
    ...(nats.auth && { natsAuth: nats.auth }),
    databaseUrl,
    kinds: list(v('kinds'), DEFAULT_KINDS),
    shardCount: int('shards', v('shards'), DEFAULT_SHARD_COUNT),
    shardCountGiven: v('shards') !== undefined,
    heartbeatMs,
    leaseMs,
    natsCutGraceMs,
    requestTimeoutMs: int('request-timeout-ms', v('request-timeout-ms'), DEFAULT_REQUEST_TIMEOUT_MS),
    actorIdleMs: int('actor-idle-ms', v('actor-idle-ms'), DEFAULT_ACTOR_IDLE_MS),
    handoffPhaseTimeoutMs: int('handoff-timeout-ms', v('handoff-timeout-ms'), DEFAULT_HANDOFF_PHASE_TIMEOUT_MS),
    dbPoolSize: int('db-pool', v('db-pool'), DEFAULT_DB_POOL),
    logLevel: logLevel(v('log-level')),
    commit: {
      maxRows: int('commit-max-rows', v('commit-max-rows'), DEFAULT_COMMIT_MAX_ROWS),
      gatherBelow: int('commit-gather-below', v('commit-gather-below'), DEFAULT_COMMIT_GATHER_BELOW, 0),
      gatherMs: int('commit-gather-ms', v('commit-gather-ms'), DEFAULT_COMMIT_GATHER_MS, 0),
      maxBacklogBytes: int('commit-max-backlog-mb', v('commit-max-backlog-mb'), DEFAULT_COMMIT_MAX_BACKLOG_MB) * 1024 * 1024,
    },
    gateway: gatewayConfig(v, on, env),
    ...webhookConfig(v('webhook-url'), v('webhook-events'), env['IM_WEBHOOK_SECRET'], env['IM_WEBHOOK_SECRET_PREVIOUS'], !on('no-events')),
  };
}

function webhookConfig(url: string | undefined, events: string | undefined, secret: string | undefined, previousSecret: string | undefined, eventsOn: boolean): { webhook?: WebhookConfig } {
  if (url === undefined || url === '') return {};
  if (!/^https?:\/\/[^\s]+$/.test(url) || !URL.canParse(url)) throw new ConfigError(`webhook-url: ${JSON.stringify(url)} is not an http(s) URL`);
  if (!secret) throw new ConfigError('a webhook needs a signing secret: set IM_WEBHOOK_SECRET');
  checkSecretLength('IM_WEBHOOK_SECRET', secret);
  if (!eventsOn) throw new ConfigError('--webhook-url forwards business events, which --no-events turns off');
  const types = list(events, [...WEBHOOK_EVENT_TYPES]);
  for (const t of types) if (!(WEBHOOK_EVENT_TYPES as readonly string[]).includes(t)) throw new ConfigError(`webhook-events: "${t}" is none of ${WEBHOOK_EVENT_TYPES.join(', ')}`);
  return { webhook: { url, secret, events: types, ...(previousSecret ? { previousSecret } : {}) } };
}

/** True for addresses only this machine can reach. */
function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

function gatewayConfig(v: (flag: string) => string | undefined, on: (flag: string) => boolean, env: NodeJS.ProcessEnv): GatewayConfig {
  const port = portOf('gateway-port', v('gateway-port'), 0, 0);
  const host = v('gateway-host') ?? DEFAULT_GATEWAY_HOST;
  // Every interface is no address a client can connect to: the dispatcher would hand out ws://0.0.0.0:….
  const wildcard = host === '0.0.0.0' || host === '::' || host === '[::]';
  if (port > 0 && wildcard && v('public-url') === undefined) throw new ConfigError(`--public-url is needed with --gateway-host ${host}: it is the address the dispatcher gives clients, and ${host} is none they can connect to`);
  // At least 1 KiB: below it, a client's acks, reads and pulls could not go out at all.
  const maxFrameBytes = int('max-frame-bytes', v('max-frame-bytes'), DEFAULT_MAX_FRAME_BYTES, MIN_MAX_FRAME_BYTES);
  if (maxFrameBytes > DEFAULT_MAX_FRAME_BYTES) throw new ConfigError(`max-frame-bytes may be tightened, not raised above ${DEFAULT_MAX_FRAME_BYTES}`);
  const beyondLoopback = port > 0 && !isLoopback(host) ? host : undefined;
  const secrets = gatewaySecrets(env, beyondLoopback);
  // Token minting hands any holder of the server key a token for any user, past the business server's sign-in.
  if (beyondLoopback !== undefined && on('dev-tokens')) throw new ConfigError(`--dev-tokens mints tokens for anyone: not on a gateway listening on ${host}, beyond this machine`);
  return {
    ...secrets,
    port,
    host,
    publicUrl: v('public-url') ?? `ws://${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port}/ws`,
    devTokens: on('dev-tokens'),
    maxTokenLifetimeSec: int('max-token-lifetime', v('max-token-lifetime'), DEFAULT_MAX_TOKEN_LIFETIME_SEC),
    maxConnections: int('max-connections', v('max-connections'), DEFAULT_MAX_CONNECTIONS),
    maxFrameBytes,
    ratePerSec: int('rate', v('rate'), DEFAULT_RATE_PER_SEC),
    rateBurst: int('rate-burst', v('rate-burst'), DEFAULT_RATE_BURST),
    rateCloseAfterSec: int('rate-close-after', v('rate-close-after'), DEFAULT_RATE_CLOSE_AFTER_SEC),
    heartbeatMs: int('client-heartbeat-ms', v('client-heartbeat-ms'), DEFAULT_CLIENT_HEARTBEAT_MS),
    maxBackpressureBytes: int('max-backpressure', v('max-backpressure'), DEFAULT_MAX_BACKPRESSURE_BYTES),
    largeGroupMembers: int('large-group', v('large-group'), DEFAULT_LARGE_GROUP_MEMBERS),
    maxUserConversations: int('max-user-conversations', v('max-user-conversations'), DEFAULT_MAX_USER_CONVERSATIONS),
    maxGroupMembers: int('max-group-members', v('max-group-members'), DEFAULT_MAX_GROUP_MEMBERS, 2),
    maxPinned: int('max-pinned', v('max-pinned'), DEFAULT_MAX_PINNED),
    events: !on('no-events'),
    recallWindowSec: int('recall-window', v('recall-window'), DEFAULT_RECALL_WINDOW_SEC, 0),
    editWindowSec: int('edit-window', v('edit-window'), DEFAULT_EDIT_WINDOW_SEC, 0),
    messageRetentionSec: int('message-retention', v('message-retention'), DEFAULT_MESSAGE_RETENTION_SEC, 0),
    allowedOrigins: origins(v('allowed-origins')),
  };
}

/** A comma-separated list of web origins (`scheme://host[:port]`, no path); empty or absent: any origin. */
function origins(raw: string | undefined): string[] {
  const list = (raw ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  // Written as browsers send them (lower-case host, no default port): compared as strings, `https://App.example.com`
  // or `https://app.example.com:443` would match no browser's Origin, and every page would be refused.
  return list.map((o) => {
    if (!/^https?:\/\/[^/\s]+$/.test(o)) throw new ConfigError(`allowed-origins: ${JSON.stringify(o)} is not an origin like https://app.example.com`);
    try {
      return new URL(o).origin;
    } catch {
      throw new ConfigError(`allowed-origins: ${JSON.stringify(o)} is not an origin like https://app.example.com`);
    }
  });
}
