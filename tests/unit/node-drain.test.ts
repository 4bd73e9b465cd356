import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ShardMover } from '../../runtime/handoff.js';
import { silentLogger } from '../../runtime/logger.js';
import { DRAIN_RETRY_MS, drainShards } from '../../runtime/node-drain.js';
import type { NodeRow, NodeStore } from '../../storage/node-store.js';
import type { ShardMapStore, ShardRow } from '../../storage/shard-map-store.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

const row = (shard: number, owner: string): ShardRow => ({ kind: 'chatter', shard, owner, epoch: 1, state: 'active', target: null, pinned: false, updatedAt: 0 }) as ShardRow;
const node = (nodeId: string): NodeRow => ({ nodeId, state: 'alive', load: { nats: true } }) as unknown as NodeRow;

/** A map of four chatter shards, two on `me`, whose stores fail the first `failures` statements of `failing`. */
function world(failing: 'markClosing' | 'ownedBy', failures: number) {
  const owners = ['me', 'me', 'other', 'other'];
  const calls = { markClosing: 0, ownedBy: 0 };
  const fail = (what: 'markClosing' | 'ownedBy'): void => {
    calls[what]++;
    if (what === failing && calls[what] <= failures) throw new Error('Postgres is failing over');
  };
  const nodes = {
    markClosing: async () => (fail('markClosing'), true),
    live: async () => [node('me'), node('other')],
  } as unknown as NodeStore;
  const shardMap = {
    ownedBy: async (n: string) => (fail('ownedBy'), owners.flatMap((o, s) => (o === n ? [row(s, o)] : []))),
    list: async () => owners.map((o, s) => row(s, o)),
  } as unknown as ShardMapStore;
  const mover = { move: async (_kind: string, shard: number, to: string) => void (owners[shard] = to) } as unknown as ShardMover;
  const lease = { valid: true };
  return { calls, owners, lease, deps: { nodeId: 'me', incarnation: 'me#1', member: () => lease.valid, nodes, shardMap, mover, log: silentLogger() } };
}

describe('node drain – a failed statement is tried again, not the drain given up', () => {
  it('node drain – marking the node closing fails once (a failover): the next round marks it and moves its shards off', async () => {
    const w = world('markClosing', 1);
    const done = drainShards(w.deps);
    await vi.advanceTimersByTimeAsync(DRAIN_RETRY_MS);
    await done;
    expect(w.calls.markClosing).toBe(2);
    expect(w.owners).toEqual(['other', 'other', 'other', 'other']);
  });

  it('node drain – reading what the node owns fails once: it is read again and the shards still move', async () => {
    const w = world('ownedBy', 1);
    const done = drainShards(w.deps);
    await vi.advanceTimersByTimeAsync(DRAIN_RETRY_MS);
    await done;
    expect(w.calls.markClosing).toBe(1);
    expect(w.owners).toEqual(['other', 'other', 'other', 'other']);
  });

  it('node drain – with its lease lapsed (the database out of reach) it asks nothing and returns at once, rather than use up the stop\'s grace', async () => {
    const w = world('markClosing', 0);
    w.lease.valid = false;
    await drainShards(w.deps);
    expect(w.calls).toEqual({ markClosing: 0, ownedBy: 0 });
    expect(w.owners).toEqual(['me', 'me', 'other', 'other']);
  });
});
