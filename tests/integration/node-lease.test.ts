import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, type NodeConfig } from '../../runtime/config.js';
import { silentLogger } from '../../runtime/logger.js';
import { ClusterNode } from '../../runtime/node.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { startTestNats, type TestNats } from '../helpers/nats.js';

const SHARDS = 8;

/** Keeps this thread (and so the node's main thread) busy for `ms`, as a long turn of the event loop would. */
function busyFor(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

async function waitFor(cond: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
}

/**
 * A node under load must keep its lease: when the renewal queued behind the node's own chat statements in one
 * pool, a node busy with a burst of slow queries (5,000 clients coming online at once) stopped serving every
 * shard it owned, again and again; and when it was sent from the main thread, long turns of the event loop under
 * a connect storm of 20,000 clients cost a loss or two per storm.
 */
describe('node lease – real Postgres and nats-server, one node in-process', () => {
  let db: TestDatabase;
  let nats: TestNats;
  let node: ClusterNode | undefined;
  let config: NodeConfig;

  beforeAll(async () => {
    db = await createTestDatabase({ migrate: false });
    nats = await startTestNats();
    config = parseConfig(['--node-id', 'busy', '--nats', nats.url, '--database-url', db.url, '--kinds', 'echo', '--shards', String(SHARDS), '--log-level', 'silent'], {});
    node = await ClusterNode.start({ config, log: silentLogger(), kinds: () => [{ kind: 'echo', create: () => ({ handle: (_op, p) => p }) }] });
    await waitFor(() => node!.shards.list().length === SHARDS, 15_000);
  });
  afterAll(async () => {
    await node?.close();
    await nats?.stop();
    await db?.drop();
  });

  it('node lease – a pool full of slow statements does not make the node give its shards up', async () => {
    expect(node!.shards.list()).toHaveLength(SHARDS);
    // Twice the pool's connections, each held for three leases' time: every statement of the main pool waits.
    const served: number[] = [];
    const sample = setInterval(() => served.push(node!.shards.list().length), 50);
    await Promise.all(Array.from({ length: config.dbPoolSize * 2 }, () => node!.sql`SELECT pg_sleep(${(3 * config.leaseMs) / 1000})`));
    clearInterval(sample);
    expect(Math.min(...served)).toBe(SHARDS);
    expect(node!.leaseLosses).toBe(0);
  });

  it('node lease – a main thread busy for longer than the lease keeps the lease and every shard', async () => {
    expect(node!.shards.list()).toHaveLength(SHARDS);
    // Renewed from the main thread, the lease ran out 1.2 s after the last renewal sent before the turn began.
    busyFor(config.leaseMs + 500);
    expect(node!.leaseValid).toBe(true);
    await new Promise((r) => setTimeout(r, config.heartbeatMs));
    expect(node!.leaseLosses).toBe(0);
    expect(node!.shards.list()).toHaveLength(SHARDS);
  });

  it('node lease – a main thread wedged past its stall limit loses the lease like a dead node, and takes it back once it runs', async () => {
    // The lease thread renews for one lease's time after the main thread's last turn; the last renewal is good for
    // one more lease less a heartbeat. Past that the node must not count itself a member.
    busyFor(2 * config.leaseMs + 1_000);
    expect(node!.leaseValid).toBe(false);
    await waitFor(() => node!.leaseValid && node!.shards.list().length === SHARDS, 15_000);
    expect(node!.leaseLosses).toBe(1);
    expect(node!.shards.list()).toHaveLength(SHARDS);
  });
});
