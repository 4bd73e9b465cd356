import WebSocket from 'ws';
import { ImClient, type ImClientEvents, type ImClientOptions } from '../../protocol/sdk/index.js';
import { freePort } from '../../scripts/lib/free-port.js';
import { shardOf } from '../../protocol/shard-hash.js';
import { signToken } from '../../protocol/token.js';
import { DEV_SERVER_KEY, DEV_TOKEN_SECRET } from '../../runtime/config.js';
import { startTestCluster, type TestCluster } from './cluster.js';

export interface ChatCluster extends TestCluster {
  /** Gateway WebSocket URL of each node. */
  gateways: Map<string, string>;
  /** HTTP base URL of each node. */
  http: Map<string, string>;
  /** A client token for (uid, did). */
  token(uid: string, did: string, ttlSec?: number): string;
  /** Calls the server API of the first node (or `node`): JSON in, `{status, body}` out. */
  api(method: 'GET' | 'POST', path: string, body?: unknown, node?: string): Promise<{ status: number; body: Record<string, unknown> }>;
  /** Restarts a node process on its own gateway port (stopping the running one first, as a restart does). */
  respawn(nodeId: string, args?: string[]): Promise<void>;
  /** An SDK client of (uid, did) for gateway `node`, not connected yet; closed when the cluster stops. */
  sdk(uid: string, did: string, node: string, opts?: Partial<ImClientOptions>): ImClient;
  /** An SDK client of (uid, did) on gateway `node`, connected, recording what it emits of `events`, by event. */
  online<E extends keyof ImClientEvents>(uid: string, did: string, node: string, events: readonly E[], opts?: Partial<ImClientOptions>): Promise<{ client: ImClient; got: { [K in E]: ImClientEvents[K][] } }>;
  /** Every business event published on `subject` from now on (each NATS message is an array of them), in order. */
  collect<T>(subject: string): Promise<T[]>;
}

export interface ChatClusterOptions {
  nodes: string[];
  shards?: number;
  /** Extra flags for every node, e.g. ['--rate', '1000']. */
  args?: string[];
  /** Extra flags for one node. */
  nodeArgs?: Record<string, string[]>;
  /** Environment variables for one node (secrets). */
  nodeEnv?: Record<string, Record<string, string>>;
}

/** A key starting with `prefix` whose `kind` shard lives on `node` now (by the shard map). */
async function keyOn(c: ChatCluster, kind: string, node: string, prefix: string): Promise<string> {
  const owners = new Map((await c.db.sql<{ shard: number; owner: string }[]>`SELECT shard, owner FROM shards WHERE kind = ${kind}`).map((r) => [r.shard, r.owner]));
  for (let i = 0; i < 1000; i++) if (owners.get(shardOf(`${prefix}${i}`, owners.size)) === node) return `${prefix}${i}`;
  throw new Error(`no ${kind} ${prefix}* on ${node}`);
}

/** A uid starting with `prefix` whose connector lives on `node` now (by the shard map). */
export const connectorUserOn = (c: ChatCluster, node: string, prefix: string): Promise<string> => keyOn(c, 'connector', node, prefix);

/** A conversation id starting with `prefix` whose chatter lives on `node` now (by the shard map). */
export const chatterConvOn = (c: ChatCluster, node: string, prefix: string): Promise<string> => keyOn(c, 'chatter', node, prefix);

/** A real cluster (nats-server, Postgres, node processes hosting connector + chatter) with a gateway per node, its shards spread evenly. */
export async function startChatCluster(opts: ChatClusterOptions): Promise<ChatCluster> {
  const ports = new Map<string, number>();
  for (const n of opts.nodes) ports.set(n, await freePort());
  const gatewayArgs = (n: string): string[] => ['--gateway-port', String(ports.get(n)), '--dev-tokens', ...(opts.nodeArgs?.[n] ?? [])];
  // The first node is spawned by startTestCluster with the shared args; per-node gateway ports come from a wrapper.
  const cluster = await startTestClusterWithGateways(opts, gatewayArgs);
  const gateways = new Map(opts.nodes.map((n) => [n, `ws://127.0.0.1:${ports.get(n)}/ws`]));
  const http = new Map(opts.nodes.map((n) => [n, `http://127.0.0.1:${ports.get(n)}`]));
  const clients: ImClient[] = [];
  const stopCluster = cluster.stop.bind(cluster);
  return Object.assign(cluster, {
    gateways,
    http,
    token: (uid: string, did: string, ttlSec = 3600) => signToken({ sub: uid, did, ttlSec }, DEV_TOKEN_SECRET),
    async api(method: 'GET' | 'POST', path: string, body?: unknown, node = opts.nodes[0]!) {
      const init: RequestInit = { method, headers: { authorization: `Bearer ${DEV_SERVER_KEY}`, 'content-type': 'application/json' } };
      if (body !== undefined) init.body = JSON.stringify(body);
      const res = await fetch(`${http.get(node)}${path}`, init);
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    },
    async respawn(nodeId: string, args: string[] = []) {
      // A second process with a live node's id is refused; a crashed one (SIGKILL) is no-op here.
      await cluster.nodes.get(nodeId)?.stop();
      await cluster.spawn(nodeId, [...gatewayArgs(nodeId), ...args], opts.nodeEnv?.[nodeId]);
    },
    sdk(uid: string, did: string, node: string, extra: Partial<ImClientOptions> = {}) {
      const client = new ImClient({ endpoints: [gateways.get(node)!], token: signToken({ sub: uid, did, ttlSec: 3600 }, DEV_TOKEN_SECRET), WebSocket: WebSocket as never, ...extra });
      clients.push(client);
      return client;
    },
    async online<E extends keyof ImClientEvents>(uid: string, did: string, node: string, events: readonly E[], opts: Partial<ImClientOptions> = {}) {
      const client = this.sdk(uid, did, node, opts);
      const got = {} as { [K in E]: ImClientEvents[K][] };
      for (const e of events) {
        const list: ImClientEvents[E][] = (got[e] = []);
        client.on(e, (x) => list.push(x));
      }
      await client.connect();
      return { client, got };
    },
    async collect<T>(subject: string) {
      const out: T[] = [];
      cluster.nc.subscribe(subject, {
        callback: (err, msg) => {
          if (!err) out.push(...msg.json<T[]>());
        },
      });
      await cluster.nc.flush();
      return out;
    },
    async stop() {
      for (const x of clients) x.close();
      await stopCluster();
    },
  });
}

async function startTestClusterWithGateways(opts: ChatClusterOptions, gatewayArgs: (n: string) => string[]): Promise<TestCluster> {
  const [first, ...rest] = opts.nodes;
  const cluster = await startTestCluster({
    nodes: [],
    firstNode: { id: first!, args: gatewayArgs(first!), ...(opts.nodeEnv?.[first!] && { env: opts.nodeEnv[first!] }) },
    shards: opts.shards ?? 32,
    kinds: ['connector', 'chatter'],
    args: ['--heartbeat-ms', '150', '--lease-ms', '900', ...(opts.args ?? [])],
  });
  try {
    await Promise.all(rest.map((n) => cluster.spawn(n, gatewayArgs(n), opts.nodeEnv?.[n])));
    // Tests start once the start-up rebalance is over: a shard moving under a test's feet would make it flaky.
    await cluster.settle();
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}
