import { connect, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeControl } from '../../protocol/control.js';
import { ErrorCode } from '../../protocol/errors.js';
import { nodeControlSubject } from '../../protocol/subjects.js';
import { ShardMover } from '../../runtime/handoff.js';
import { silentLogger } from '../../runtime/logger.js';
import { NodeStore } from '../../storage/node-store.js';
import { ShardMapStore } from '../../storage/shard-map-store.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { startTestNats, type TestNats } from '../helpers/nats.js';
import { waitUntil } from '../helpers/wait.js';

/**
 * Two movers at once (the coordinator rebalancing while an operator runs `imctl rebalance`): a move that lost
 * the race to a move with the same destination has still got what it asked for, and must not report a failure.
 * No node answers the release and acquire requests here; the mover goes on after its phase timeout, as it does
 * when an old owner is silent.
 */
describe('shard moves – racing movers (real Postgres and nats-server)', () => {
  let db: TestDatabase;
  let nats: TestNats;
  let nc: NatsConnection;
  let shards: ShardMapStore;
  /** The nodes' rows, as placement reads them: every node takes shards but `z`, which an operator drained. */
  let nodes: NodeStore;
  const mover = (): ShardMover => new ShardMover({ nc, shardMap: shards, nodes, log: silentLogger(), phaseTimeoutMs: 200, notify: () => {} });

  beforeAll(async () => {
    db = await createTestDatabase();
    nats = await startTestNats();
    nc = await connect({ servers: nats.url });
    shards = new ShardMapStore(db.sql);
    await shards.ensureKind('echo', 4);
    nodes = new NodeStore(db.sql);
    // Leases longer than the file runs: no node here renews one.
    for (const id of ['a', 'b', 'c', 'z']) await nodes.register(id, [], 600_000, `i-${id}`);
    await nodes.holdOut('z', true);
  });
  afterAll(async () => {
    await nc?.close();
    await nats?.stop();
    await db?.drop();
  });

  it('shard moves – two moves of one shard to the same node both succeed, and the shard ends there once', async () => {
    const start = (await shards.assign('echo', 1, 0, 'a'))!;
    // The old owner takes its time to release (it finishes what it accepted), as a loaded node does.
    const oldOwner = nc.subscribe(nodeControlSubject('a'), {
      callback: (_e, m) => setTimeout(() => m.respond(encodeControl({ type: 'released', kind: 'echo', shard: 1, ok: true, tookMs: 300 })), 300),
    });
    const first = mover().move('echo', 1, 'b');
    // The second starts while the first is under way (the shard is marked moving, its old owner being asked).
    // Polled often: the window lasts one release phase (200 ms).
    await waitUntil(async () => (await shards.get('echo', 1))!.state === 'moving', 'the first move marking the shard moving', 5_000, 5);
    expect((await shards.get('echo', 1))!.owner).toBe('a');
    const [x, y] = await Promise.all([first, mover().move('echo', 1, 'b')]);
    oldOwner.unsubscribe();
    const row = (await shards.get('echo', 1))!;
    expect(row).toMatchObject({ owner: 'b', state: 'active' });
    // One of them did the move; the epoch moved on once per move that happened.
    expect([x.noop, y.noop].sort()).toEqual([false, true]);
    expect(row.epoch).toBeGreaterThan(start.epoch);
  });

  it('shard moves – a move whose completion fails after the old owner released is rolled back at once, not left moving', async () => {
    const start = (await shards.assign('echo', 3, 0, 'a'))!;
    // Postgres refuses the epoch bump (as after a failover or past a deadline): the old owner has released and will not
    // serve that epoch again. A trigger refuses the UPDATE that hands this shard to another owner; the rollback, which
    // keeps the owner, goes through.
    await db.sql.unsafe(`
      CREATE FUNCTION refuse_handover_for_test() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'handover refused for the test'; END $$;
      CREATE TRIGGER refuse_handover BEFORE UPDATE ON shards FOR EACH ROW
        WHEN (OLD.kind = 'echo' AND OLD.shard = 3 AND OLD.state = 'moving' AND NEW.owner IS DISTINCT FROM OLD.owner) EXECUTE FUNCTION refuse_handover_for_test();`);
    try {
      const notified: number[] = [];
      const m = new ShardMover({ nc, shardMap: shards, nodes, log: silentLogger(), phaseTimeoutMs: 200, notify: (_k, s) => notified.push(...s) });
      await expect(m.move('echo', 3, 'b')).rejects.toMatchObject({ code: ErrorCode.STORAGE, message: expect.stringContaining('handover refused for the test') });
      // Back on its owner at a new epoch, which that owner takes again; nothing waits for the stuck-move timeout.
      const row = (await shards.get('echo', 3))!;
      expect(row).toMatchObject({ owner: 'a', state: 'active', target: null });
      expect(row.epoch).toBeGreaterThan(start.epoch);
      expect(notified).toEqual([3]);
    } finally {
      await db.sql.unsafe(`DROP TRIGGER refuse_handover ON shards; DROP FUNCTION refuse_handover_for_test()`);
    }
  });

  it('shard moves – moves of one shard to different nodes: one wins, the other is a conflict naming where the shard is', async () => {
    await shards.assign('echo', 2, 0, 'a');
    const results = await Promise.allSettled([mover().move('echo', 2, 'b'), mover().move('echo', 2, 'c')]);
    const ok = results.filter((r) => r.status === 'fulfilled');
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(ok).toHaveLength(1);
    expect(failed).toHaveLength(1);
    expect(failed[0]!.reason).toMatchObject({ code: ErrorCode.CONFLICT });
    const winner = (ok[0] as PromiseFulfilledResult<{ to: string }>).value.to;
    expect((await shards.get('echo', 2))!.owner).toBe(winner);
  });

  it('shard moves – a move to a node that takes no shards (draining) is a conflict, and the shard stays where it was', async () => {
    const start = (await shards.assign('echo', 0, 0, 'a'))!;
    await expect(mover().move('echo', 0, 'z')).rejects.toMatchObject({ code: ErrorCode.CONFLICT });
    expect(await shards.get('echo', 0)).toMatchObject({ owner: 'a', state: 'active', epoch: start.epoch, target: null });
  });
});
