import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../runtime/config.js';
import { silentLogger } from '../../runtime/logger.js';
import { ClusterNode } from '../../runtime/node.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { startTestNats, type TestNats } from '../helpers/nats.js';

const SHARDS = 8;

/**
 * A node under load must keep its lease: when the renewal queued behind the node's own chat statements in one
 * pool, a node busy with a burst of slow queries (5,000 clients coming online at once) stopped serving every
 * shard it owned, again and again.
 */
describe('node lease – real Postgres and nats-server, one node in-process', () => {
  let db: TestDatabase;
  let nats: TestNats;
  let node: ClusterNode | undefined;

  beforeAll(async () => {
    db = await createTestDatabase({ migrate: false });
    nats = await startTestNats();
  });
  afterAll(async () => {
    await node?.close();
    await nats?.stop();
    await db?.drop();
  });

  it('node lease – a pool full of slow statements does not make the node give its shards up', async () => {
    const config = parseConfig(['--node-id', 'busy', '--nats', nats.url, '--database-url', db.url, '--kinds', 'echo', '--shards', String(SHARDS), '--log-level', 'silent'], {});
    node = await ClusterNode.start({ config, log: silentLogger(), kinds: () => [{ kind: 'echo', create: () => ({ handle: (_op, p) => p }) }] });
    const deadline = Date.now() + 15_000;
    while (node.shards.list().length < SHARDS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(node.shards.list()).toHaveLength(SHARDS);

    // Twice the pool's connections, each held for three leases' time: every statement of the main pool waits.
    const served: number[] = [];
    const sample = setInterval(() => served.push(node!.shards.list().length), 50);
    await Promise.all(Array.from({ length: config.dbPoolSize * 2 }, () => node!.sql`SELECT pg_sleep(${(3 * config.leaseMs) / 1000})`));
    clearInterval(sample);
    expect(Math.min(...served)).toBe(SHARDS);
  });
});
