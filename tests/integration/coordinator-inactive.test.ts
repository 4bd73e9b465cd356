import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Coordinator, COORDINATOR_LEASE } from '../../runtime/coordinator.js';
import type { ShardMover } from '../../runtime/handoff.js';
import { silentLogger } from '../../runtime/logger.js';
import { LeaseStore } from '../../storage/lease-store.js';
import { NodeStore } from '../../storage/node-store.js';
import { ShardMapStore } from '../../storage/shard-map-store.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';

describe('coordinator – only a node with a valid lease coordinates (real Postgres, rounds in process)', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('coordinator – a coordinator whose node lost its lease (cut off from NATS, say) gives the coordinator lease up at its next round, and another node takes it', async () => {
    const leases = new LeaseStore(db.sql);
    let aValid = true;
    const make = (nodeId: string, active: () => boolean): Coordinator =>
      new Coordinator({
        nodeId,
        holder: `${nodeId}#test`,
        kinds: [],
        leases,
        nodes: new NodeStore(db.sql),
        shardMap: new ShardMapStore(db.sql),
        mover: {} as ShardMover,
        log: silentLogger(),
        tickMs: 60_000,
        leaseMs: 60_000,
        stuckMoveMs: 60_000,
        autoRebalanceMoves: 0,
        settleMs: 0,
        notify: () => {},
        active,
      });
    const a = make('a', () => aValid);
    const b = make('b', () => true);
    const holder = async () => (await db.sql<{ holder: string }[]>`SELECT holder FROM leases WHERE name = ${COORDINATOR_LEASE}`)[0]?.holder;
    await a.tick();
    await b.tick();
    expect([a.isLeader, b.isLeader, await holder()]).toEqual([true, false, 'a#test']);
    aValid = false;
    await a.tick();
    expect([a.isLeader, await holder()]).toEqual([false, undefined]);
    // Not taken back while its lease is still not valid; the live node takes it at its next round.
    await a.tick();
    await b.tick();
    expect([a.isLeader, b.isLeader, await holder()]).toEqual([false, true, 'b#test']);
    await a.stop();
    await b.stop();
  });
});
