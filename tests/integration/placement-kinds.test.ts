import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, ImError } from '../../protocol/errors.js';
import { Admin } from '../../runtime/admin.js';
import { Coordinator, COORDINATOR_LEASE } from '../../runtime/coordinator.js';
import type { MoveOutcome, ShardMover } from '../../runtime/handoff.js';
import { silentLogger } from '../../runtime/logger.js';
import { LeaseStore } from '../../storage/lease-store.js';
import { NodeStore } from '../../storage/node-store.js';
import { ShardMapStore } from '../../storage/shard-map-store.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A mover that records what it was asked (these rounds plan moves; what a real move does is tested elsewhere). */
function recordingMover(onMove: (calls: number) => Promise<void> = async () => {}): { mover: ShardMover; calls: { kind: string; shard: number; to: string }[] } {
  const calls: { kind: string; shard: number; to: string }[] = [];
  const mover = {
    async move(kind: string, shard: number, to: string): Promise<MoveOutcome> {
      calls.push({ kind, shard, to });
      await onMove(calls.length);
      return { kind, shard, from: null, to, epoch: 1, releasedCleanly: true, acquiredCleanly: true, pauseMs: 0, noop: false };
    },
  } as unknown as ShardMover;
  return { mover, calls };
}

describe('placement – which nodes take shards (real Postgres, coordinator rounds in process)', () => {
  let db: TestDatabase;
  let nodes: NodeStore;
  let shardMap: ShardMapStore;
  let leases: LeaseStore;
  beforeAll(async () => {
    db = await createTestDatabase();
    nodes = new NodeStore(db.sql);
    shardMap = new ShardMapStore(db.sql);
    leases = new LeaseStore(db.sql);
  });
  afterAll(async () => {
    await db?.drop();
  });

  const coordinator = (nodeId: string, kinds: string[], mover: ShardMover, extra: { leaseMs?: number; autoRebalanceMoves?: number } = {}): Coordinator =>
    new Coordinator({
      nodeId,
      holder: `${nodeId}#test`,
      kinds,
      leases,
      nodes,
      shardMap,
      mover,
      log: silentLogger(),
      tickMs: 1_000,
      leaseMs: extra.leaseMs ?? 5_000,
      stuckMoveMs: 10_000,
      autoRebalanceMoves: extra.autoRebalanceMoves ?? 0,
      settleMs: 0,
      notify: () => {},
    });

  it('placement – a node started with --kinds gets no shards of a kind it does not host, and one it had goes to a node that does', async () => {
    await nodes.register('a', [], 5_000, 'ia', undefined, ['counter', 'chatter']);
    await nodes.register('b', [], 5_000, 'ib', undefined, ['counter']);
    await shardMap.ensureKind('counter', 8);
    await shardMap.ensureKind('chatter', 8);
    // Given to b before placement knew what b hosts: b never serves it.
    expect(await shardMap.assign('chatter', 0, 0, 'b')).toBeDefined();
    const { mover, calls } = recordingMover();
    const c = coordinator('a', ['counter', 'chatter'], mover);
    await c.tick();
    await c.stop();
    const chatter = await shardMap.list('chatter');
    expect(chatter.map((r) => r.owner)).toEqual(Array(8).fill('a'));
    const counterOwners = new Set((await shardMap.list('counter')).map((r) => r.owner));
    expect(counterOwners).toEqual(new Set(['a', 'b']));
    expect(calls).toEqual([]);
    // Moves an operator asks for, and those a rebalance plans, keep to the hosting nodes as well.
    expect(await nodes.takesShards('b', 'chatter')).toBe(false);
    expect(await nodes.takesShards('b', 'counter')).toBe(true);
    const admin = new Admin(db.sql, undefined, silentLogger(), 2_000);
    expect((await admin.plan(['chatter'])).filter((m) => m.to === 'b')).toEqual([]);
    await expect(admin.move('chatter', 1, 'b')).rejects.toMatchObject({ code: ErrorCode.INVALID_FIELD, message: expect.stringContaining('does not host chatter') });
  });

  it('placement – a node imctl drained stays out of placement when it registers again, and with no node in placement a dead node\'s shards go to a drained one', async () => {
    await nodes.register('held', [], 5_000, 'ih1', undefined, ['k2']);
    expect(await nodes.holdOut('held', true)).toBe(true);
    // A restart (a new process of the same node id) does not undo the operator's drain.
    await nodes.register('held', [], 5_000, 'ih1');
    expect((await nodes.live()).find((n) => n.nodeId === 'held')).toMatchObject({ state: 'draining', heldOut: true });
    // Undrain puts back only what a drain took out: a node that drains by itself (shutting down) stays out.
    await nodes.register('closing', [], 5_000, 'ic', undefined, ['other']);
    expect(await nodes.markClosing('closing', 'ic')).toBe(true);
    expect(await nodes.holdOut('closing', false)).toBe(false);
    // Drained by imctl as well while it stops: still never put back, nor given a dead node's shards.
    expect(await nodes.holdOut('closing', true)).toBe(true);
    expect(await nodes.holdOut('closing', false)).toBe(false);
    expect(await nodes.holdOut('nobody', false)).toBeUndefined();
    // Held out too, but stopping: it would refuse what the fallback gave it.
    await nodes.register('stopping', [], 5_000, 'is', undefined, ['k2']);
    await nodes.holdOut('stopping', true);
    await nodes.markClosing('stopping', 'is');
    await nodes.register('gone', [], 200, 'ig', undefined, ['k2']);
    await shardMap.ensureKind('k2', 4);
    for (let s = 0; s < 4; s++) await shardMap.assign('k2', s, 0, 'gone');
    await sleep(400);
    const c = coordinator('held', ['k2'], recordingMover().mover);
    await c.tick();
    await c.stop();
    expect((await shardMap.list('k2')).map((r) => r.owner)).toEqual(Array(4).fill('held'));
    const admin = new Admin(db.sql, undefined, silentLogger(), 2_000);
    await expect(admin.undrain('closing')).rejects.toMatchObject({ code: ErrorCode.CONFLICT });
    await admin.undrain('held');
    expect((await nodes.live()).find((n) => n.nodeId === 'held')).toMatchObject({ state: 'alive', heldOut: false });
  });

  it('coordinator – a round of moves that outlasts its lease stops once another node holds the lease', async () => {
    const LEASE_MS = 300;
    for (const id of ['e', 'f']) {
      await nodes.register(id, [], 5_000, `i${id}`, undefined, ['k3']);
    }
    await shardMap.ensureKind('k3', 8);
    for (let s = 0; s < 8; s++) await shardMap.assign('k3', s, 0, 'e');
    // The first move is slow; meanwhile the lease runs out and another node's coordinator takes it.
    const { mover, calls } = recordingMover(async (n) => {
      if (n !== 1) return;
      await sleep(LEASE_MS + 100);
      expect(await leases.acquire(COORDINATOR_LEASE, 'other#x', 5_000)).toBe(true);
    });
    const c = coordinator('e', ['k3'], mover, { leaseMs: LEASE_MS, autoRebalanceMoves: 16 });
    await c.tick();
    expect(c.isLeader).toBe(false);
    await c.stop();
    // Balancing e and f plans four moves to f: only the one under way when the lease was lost was made.
    expect(calls).toHaveLength(1);
    expect(calls[0]!.to).toBe('f');
  });

  it('coordinator – a rebalance move a target refuses (conflict: cut off from NATS, say) holds back none of the others', async () => {
    // The test before left the coordinator lease with another holder.
    await leases.release(COORDINATOR_LEASE, 'other#x');
    for (const id of ['g', 'h', 'i']) await nodes.register(id, [], 5_000, `i${id}`, undefined, ['k4']);
    await shardMap.ensureKind('k4', 9);
    for (let s = 0; s < 9; s++) await shardMap.assign('k4', s, 0, 'g');
    const tried: string[] = [];
    const mover = {
      async move(kind: string, shard: number, to: string): Promise<MoveOutcome> {
        tried.push(to);
        if (to === 'h') throw new ImError(ErrorCode.CONFLICT, 'node h takes no k4 shards now');
        await shardMap.assign(kind, shard, (await shardMap.list(kind))[shard]!.epoch, to);
        return { kind, shard, from: 'g', to, epoch: 1, releasedCleanly: true, acquiredCleanly: true, pauseMs: 0, noop: false };
      },
    } as unknown as ShardMover;
    const c = coordinator('g', ['k4'], mover, { autoRebalanceMoves: 16 });
    await c.tick();
    await c.stop();
    const owners = (await shardMap.list('k4')).map((r) => r.owner);
    expect(owners.filter((o) => o === 'i')).toHaveLength(3);
    expect(owners.filter((o) => o === 'h')).toHaveLength(0);
    expect(tried.filter((t) => t === 'h')).toHaveLength(3);
  });

  it("coordinator – a node whose heartbeat says it is cut off from NATS is given none of a dead node's shards nor rebalance moves, and keeps its own; imctl plans nothing to it", async () => {
    for (const id of ['j', 'k', 'l']) await nodes.register(id, [], 5_000, `i${id}`, undefined, ['k5']);
    await nodes.register('dead5', [], 200, 'idead5', undefined, ['k5']);
    expect(await nodes.renew('j', 'ij', 5_000, { nats: false })).toBeDefined();
    await shardMap.ensureKind('k5', 12);
    // j holds two, the rest were the dead node's.
    for (let s = 0; s < 12; s++) await shardMap.assign('k5', s, 0, s < 2 ? 'j' : 'dead5');
    await sleep(400);
    const { mover, calls } = recordingMover();
    const c = coordinator('k', ['k5'], mover, { autoRebalanceMoves: 16 });
    await c.tick();
    await c.tick();
    await c.stop();
    const owners = (await shardMap.list('k5')).map((r) => r.owner);
    expect(owners.slice(0, 2)).toEqual(['j', 'j']);
    expect(owners.filter((o) => o === 'k')).toHaveLength(5);
    expect(owners.filter((o) => o === 'l')).toHaveLength(5);
    expect(calls.filter((m) => m.to === 'j')).toEqual([]);
    const admin = new Admin(db.sql, undefined, silentLogger(), 2_000);
    expect((await admin.plan(['k5'])).filter((m) => m.to === 'j')).toEqual([]);
    // Its link back, it is given its share again.
    await nodes.renew('j', 'ij', 5_000, { nats: true });
    expect((await admin.plan(['k5'])).filter((m) => m.to === 'j')).toHaveLength(2);
  });

  it('imctl – a drain whose every other node hosting a kind is cut off from NATS is refused (conflict), and the node stays in placement, serving its shards', async () => {
    for (const id of ['p6', 'q6']) await nodes.register(id, [], 5_000, `i${id}`, undefined, ['k6']);
    expect(await nodes.renew('q6', 'iq6', 5_000, { nats: false })).toBeDefined();
    await shardMap.ensureKind('k6', 4);
    for (let s = 0; s < 4; s++) await shardMap.assign('k6', s, 0, 'p6');
    const admin = new Admin(db.sql, undefined, silentLogger(), 2_000);
    const refused = await admin.planDrain('p6').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ImError);
    expect(refused).toMatchObject({ code: ErrorCode.CONFLICT, message: expect.stringContaining('cut off from NATS') });
    expect((await nodes.live()).find((n) => n.nodeId === 'p6')?.state).toBe('alive');
    expect((await shardMap.list('k6')).map((r) => r.owner)).toEqual(['p6', 'p6', 'p6', 'p6']);
    // Its link back, the drain goes ahead.
    await nodes.renew('q6', 'iq6', 5_000, { nats: true });
    expect((await admin.planDrain('p6')).map((m) => m.to)).toEqual(['q6', 'q6', 'q6', 'q6']);
  });

  it('imctl – a drain waits for a move to the node begun before it (the coordinator\'s) and plans that shard off too', async () => {
    for (const id of ['r7', 's7']) await nodes.register(id, [], 5_000, `i${id}`, undefined, ['k7']);
    await shardMap.ensureKind('k7', 4);
    for (let s = 0; s < 3; s++) await shardMap.assign('k7', s, 0, 'r7');
    const incoming = (await shardMap.assign('k7', 3, 0, 's7'))!;
    await shardMap.beginMove('k7', 3, incoming.epoch, 's7', 'r7');
    const admin = new Admin(db.sql, undefined, silentLogger(), 5_000);
    const plan = admin.planDrain('r7');
    await sleep(500);
    expect(await admin.stillOn('r7')).toBe(4);
    await shardMap.completeMove('k7', 3, incoming.epoch, 'r7');
    expect((await plan).map((m) => [m.shard, m.to])).toEqual([[0, 's7'], [1, 's7'], [2, 's7'], [3, 's7']]);
    await nodes.holdOut('r7', false);
  });

  it('imctl – forget removes a dead node from the registry; never a live one, nor one that still owns a shard; an unknown one is not found', async () => {
    await nodes.register('f9', [], 200, 'if9', undefined, ['k9']);
    await nodes.register('g9', [], 5_000, 'ig9', undefined, ['k9']);
    await shardMap.ensureKind('k9', 2);
    const row = (await shardMap.assign('k9', 0, 0, 'f9'))!;
    await sleep(400);
    const admin = new Admin(db.sql, undefined, silentLogger(), 2_000);
    await expect(admin.forget('f9')).rejects.toMatchObject({ code: ErrorCode.CONFLICT, message: expect.stringContaining('still owns shards') });
    await shardMap.assign('k9', 0, row.epoch, 'g9');
    await admin.forget('f9');
    expect((await nodes.all()).map((n) => n.nodeId)).not.toContain('f9');
    await expect(admin.forget('g9')).rejects.toMatchObject({ code: ErrorCode.CONFLICT, message: expect.stringContaining('is live') });
    await expect(admin.forget('f9')).rejects.toMatchObject({ code: ErrorCode.NOT_FOUND });
  });
});
