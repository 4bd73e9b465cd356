import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CounterReply } from '../../actors/counter.actor.js';
import { shardOf } from '../../protocol/shard-hash.js';
import { servedShards, startTestCluster, type TestCluster } from '../helpers/cluster.js';
import { verifyCounters } from '../helpers/counter-verify.js';
import { waitUntil } from '../helpers/wait.js';

const SHARDS = 8;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A key whose shard `node` owns now. */
async function keyOwnedBy(cluster: TestCluster, node: string): Promise<{ key: string; shard: number; epoch: number }> {
  const rows = await cluster.db.sql<{ shard: number; epoch: number }[]>`SELECT shard, epoch FROM shards WHERE kind = 'counter' AND owner = ${node} AND state = 'active' ORDER BY shard`;
  expect(rows.length).toBeGreaterThan(0);
  // Keys hash evenly over 8 shards: a few dozen find any one of them; 10,000 failing means the hash is broken.
  for (let i = 0; i < 10_000; i++) {
    const key = `k${i}`;
    const row = rows.find((r) => r.shard === shardOf(key, SHARDS));
    if (row) return { key, shard: row.shard, epoch: row.epoch };
  }
  expect.fail(`no key among k0…k9999 hashes to a shard of ${node} (${rows.map((r) => r.shard).join(', ')})`);
}

describe('runtime – fencing (G6) with frozen node processes', () => {
  let cluster: TestCluster;
  const acked = new Map<string, number>();
  let seq = 0;
  const inc = async (key: string): Promise<CounterReply> => {
    const opId = `${key}:${seq++}`;
    const r = (await cluster.callWithRetry('counter', key, 'inc', { opId }, 20_000)) as CounterReply;
    acked.set(opId, r.value);
    return r;
  };

  /** A key whose shard `node` owns, pinned there (the coordinator moves it no more), with its epoch once pinned. */
  const pinnedKeyOf = async (node: string): Promise<{ key: string; shard: number; epoch: number }> => {
    for (let tries = 0; tries < 20; tries++) {
      const k = await keyOwnedBy(cluster, node);
      expect((await cluster.imctl('pin', 'counter', String(k.shard))).code).toBe(0);
      const [row] = await cluster.db.sql<{ owner: string; epoch: number; state: string }[]>`SELECT owner, epoch, state FROM shards WHERE kind = 'counter' AND shard = ${k.shard}`;
      if (row!.owner === node && row!.state === 'active') return { ...k, epoch: row!.epoch };
      // Moved between the read and the pin: another one.
      expect((await cluster.imctl('unpin', 'counter', String(k.shard))).code).toBe(0);
      await sleep(200);
    }
    return expect.fail(`no shard of ${node} stayed there long enough to be pinned`);
  };

  beforeAll(async () => {
    // n3 gets a lease far longer than the test's freezes, so only the epoch in Postgres can stop it.
    cluster = await startTestCluster({ nodes: ['n1', 'n2'], shards: SHARDS, args: ['--heartbeat-ms', '150', '--lease-ms', '900'] });
    await cluster.spawn('n3', ['--heartbeat-ms', '200', '--lease-ms', '30000']);
    await sleep(3000); // the coordinator gives n3 its share
  }, 120_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  it('imctl – a move whose new owner does not confirm (frozen) says so and exits 1; the node serves the shard once it wakes', async () => {
    // First, while every node is up: the shards spread evenly, n3 with its share.
    await cluster.settle();
    const { key, shard } = await keyOwnedBy(cluster, 'n1');
    // n3's lease (30 s) outlives the freeze: it stays a valid target, it just cannot answer.
    cluster.nodes.get('n3')!.signal('SIGSTOP');
    let moved: { code: number | null; stdout: string; stderr: string };
    try {
      moved = await cluster.imctl('move', 'counter', String(shard), 'n3');
    } finally {
      cluster.nodes.get('n3')!.signal('SIGCONT');
    }
    expect(moved.code, moved.stderr).toBe(1);
    expect(moved.stdout).toContain(`moved counter/${shard} n1 → n3`);
    expect(moved.stdout).toContain('new owner did not confirm serving it');
    await waitUntil(async () => (await inc(key)).node === 'n3', 'n3 serving the shard once awake', 20_000);
  }, 60_000);

  it('fencing – a node frozen past its lease loses its shards and serves them again only at a newer epoch', async () => {
    const { key, shard, epoch } = await keyOwnedBy(cluster, 'n1');
    const before = await inc(key);
    expect(before.node).toBe('n1');
    cluster.nodes.get('n1')!.signal('SIGSTOP');
    const during = await inc(key); // served by the new owner once the lease ran out
    expect(during.node).not.toBe('n1');
    expect(during.epoch).toBeGreaterThan(epoch);
    const pending = inc(key); // also lands in the frozen node's socket buffer
    await sleep(300);
    cluster.nodes.get('n1')!.signal('SIGCONT');
    await pending;
    await sleep(1000);
    // Woken, n1 serves the shard at no epoch up to its successor's: not at all (its successor has it).
    const n1Epochs = async (): Promise<number[]> => (await servedShards(cluster, 'n1')).filter((s) => s.shard === shard).map((s) => s.epoch);
    expect(await n1Epochs(), `n1 serving shard ${shard} after waking`).toEqual([]);
    // Handed back to n1, it serves the shard again, at a newer epoch than its successor's.
    await waitUntil(async () => (await cluster.db.sql`SELECT 1 FROM nodes WHERE node_id = 'n1' AND lease_until > now()`).length === 1, 'n1 live again', 10_000);
    const back = await cluster.imctl('move', 'counter', String(shard), 'n1');
    expect(back.code, back.stderr).toBe(0);
    await waitUntil(async () => (await n1Epochs()).length > 0, `n1 serving shard ${shard} again`);
    const again = await n1Epochs();
    expect(again).toHaveLength(1);
    expect(again[0]).toBeGreaterThan(during.epoch);
    expect((await inc(key)).node).toBe('n1');
    const stale = await cluster.db.sql`SELECT 1 FROM counter_ops WHERE key = ${key} AND node_id = 'n1' AND epoch = ${epoch} AND value > ${before.value}`;
    expect(stale.length).toBe(0);
  }, 60_000);

  it('fencing – a frozen owner whose shard was moved cannot persist the call it held, and stops serving the shard', async () => {
    // The test before froze n1 past its lease and handed it a shard back: the coordinator's rebalance may still be
    // moving shards (for a minute if n3, with its long lease, coordinates), and would move this test's shard before
    // its own move, which then finds it there already. Pinned, the coordinator leaves it; an imctl move still goes.
    const { key, shard, epoch } = await pinnedKeyOf('n3');
    const first = await inc(key);
    expect(first.node).toBe('n3');
    cluster.nodes.get('n3')!.signal('SIGSTOP');
    const held = inc(key); // delivered to frozen n3 only
    await sleep(200);
    const target = (await cluster.db.sql<{ node_id: string }[]>`SELECT node_id FROM nodes WHERE node_id <> 'n3' AND state = 'alive' ORDER BY node_id LIMIT 1`)[0]!.node_id;
    const move = await cluster.imctl('move', 'counter', String(shard), target, '--timeout', '1000');
    expect(move.code, move.stderr).toBe(0);
    expect(move.stdout).toContain('fenced'); // n3 could not confirm the release
    cluster.nodes.get('n3')!.signal('SIGCONT');
    const r = await held; // n3's attempt is refused by Postgres; the retry lands on the new owner
    expect(r.node).toBe(target);
    expect(r.epoch).toBeGreaterThan(epoch);
    await sleep(500);
    expect((await servedShards(cluster, 'n3')).some((s) => s.shard === shard && s.epoch <= epoch)).toBe(false);
    const stale = await cluster.db.sql`SELECT 1 FROM counter_ops WHERE key = ${key} AND node_id = 'n3' AND epoch = ${epoch} AND value > ${first.value}`;
    expect(stale.length).toBe(0);
    expect((await cluster.imctl('unpin', 'counter', String(shard))).code).toBe(0);
  }, 60_000);

  it('failover – a shard whose owner dies in the middle of a move is served again within seconds', async () => {
    const { key, shard } = await keyOwnedBy(cluster, 'n2');
    await inc(key);
    cluster.nodes.get('n2')!.signal('SIGSTOP');
    // The move waits up to 20 s for the frozen owner to release; the coordinator must not wait for it.
    const move = cluster.imctl('move', 'counter', String(shard), 'n1', '--timeout', '20000');
    const t0 = Date.now();
    let owner = 'n2';
    while (owner === 'n2' && Date.now() - t0 < 15_000) {
      await sleep(50);
      owner = (await cluster.db.sql<{ owner: string }[]>`SELECT owner FROM shards WHERE kind = 'counter' AND shard = ${shard}`)[0]!.owner;
    }
    // Lease (900 ms) plus a coordinator tick, not the 10 s stuck-move timeout.
    expect(Date.now() - t0).toBeLessThan(8_000);
    expect(owner).not.toBe('n2');
    // Served by a live node (automatic rebalancing may move it on again once membership settles).
    expect((await inc(key)).node).not.toBe('n2');
    cluster.nodes.get('n2')!.signal('SIGCONT');
    const m = await move;
    // The mover lost its compare-and-set to the coordinator's reassignment, and says so.
    expect([0, 2]).toContain(m.code);
  }, 60_000);

  it('fencing – afterwards every counter holds each acknowledged op exactly once', async () => {
    // The tests before really acknowledged ops (alone, this one would check an empty table).
    expect(acked.size).toBeGreaterThan(0);
    const report = await verifyCounters(cluster.db.sql, acked);
    // Ops whose callers timed out during the freezes may have been applied too, never fewer.
    expect(report.rows).toBeGreaterThanOrEqual(acked.size);
    expect(report.ackedMissing).toEqual([]);
    expect(report.ackedValueMismatch).toEqual([]);
    expect(report.valueGapsOrDuplicates).toEqual([]);
    expect(report.epochRegressions).toEqual([]);
  });
});
