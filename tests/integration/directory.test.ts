import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeDirectory } from '../../actors/gateway/directory.js';
import { shardOf } from '../../protocol/shard-hash.js';
import { silentLogger } from '../../runtime/logger.js';
import { NodeStore } from '../../storage/node-store.js';
import { ShardMapStore } from '../../storage/shard-map-store.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';

const SHARDS = 4;
const LEASE_MS = 60_000;

/** A user id whose connector lives on `shard`. */
function userOn(shard: number): string {
  for (let i = 0; ; i++) if (shardOf(`u${i}`, SHARDS) === shard) return `u${i}`;
}

/**
 * The gateway's directory reads the nodes and the connector shard map from Postgres: it sends clients to the
 * node that holds their connector, and it is the gateway's second way to hear of a moved connector shard (the
 * first is the new owner's announcement on NATS, which is at-most-once).
 */
describe('directory – real Postgres', () => {
  let db: TestDatabase;
  let dir: NodeDirectory;
  let shards: ShardMapStore;
  let nodes: NodeStore;
  const moves: number[][] = [];
  beforeAll(async () => {
    db = await createTestDatabase();
    nodes = new NodeStore(db.sql);
    shards = new ShardMapStore(db.sql);
    await shards.ensureKind('connector', SHARDS);
    for (const [id, n] of [['g1', 1], ['g2', 2]] as const) {
      await nodes.register(id, [`ws://127.0.0.1:900${n}/ws`], LEASE_MS, `inc-${id}`);
      await nodes.renew(id, `inc-${id}`, LEASE_MS, { connections: n * 10, accepting: true });
    }
    for (let s = 0; s < SHARDS; s++) await shards.assign('connector', s, 0, s % 2 === 0 ? 'g1' : 'g2');
    dir = new NodeDirectory('g1', nodes, shards, silentLogger());
    dir.onConnectorMoves((m) => moves.push(m));
  });
  afterAll(async () => {
    dir?.close();
    await db?.drop();
  });

  it('directory – a user is sent to the gateway of the node holding their connector first, then the least loaded', async () => {
    await dir.refresh();
    expect(await dir.endpointsFor(userOn(1))).toEqual(['ws://127.0.0.1:9002/ws', 'ws://127.0.0.1:9001/ws']);
    expect(await dir.endpointsFor(userOn(2))).toEqual(['ws://127.0.0.1:9001/ws', 'ws://127.0.0.1:9002/ws']);
    expect(dir.others()).toEqual(['ws://127.0.0.1:9002/ws']);
    expect(moves).toEqual([]);
  });

  it('directory – a connector shard that changed owner in the shard map is reported at the next read, and users follow it', async () => {
    const row = (await shards.get('connector', 1))!;
    await shards.assign('connector', 1, row.epoch, 'g1');
    await dir.refresh();
    expect(moves).toEqual([[1]]);
    expect((await dir.endpointsFor(userOn(1)))[0]).toBe('ws://127.0.0.1:9001/ws');
    // Nothing changed since: nothing more is reported.
    await dir.refresh();
    expect(moves).toEqual([[1]]);
  });

  it('directory – a node whose heartbeat says its NATS connection is down gets no clients until it is back', async () => {
    await nodes.renew('g2', 'inc-g2', LEASE_MS, { connections: 20, accepting: true, nats: false });
    await dir.refresh();
    expect(await dir.endpointsFor(userOn(3))).toEqual(['ws://127.0.0.1:9001/ws']);
    expect(dir.others()).toEqual([]);
    await nodes.renew('g2', 'inc-g2', LEASE_MS, { connections: 20, accepting: true, nats: true });
    await dir.refresh();
    expect(await dir.endpointsFor(userOn(3))).toEqual(['ws://127.0.0.1:9002/ws', 'ws://127.0.0.1:9001/ws']);
  });
});
