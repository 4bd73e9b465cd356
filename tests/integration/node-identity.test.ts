import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CounterReply } from '../../actors/counter.actor.js';
import { shardOf } from '../../protocol/shard-hash.js';
import { spawnNodeProcess } from '../../scripts/lib/node-process.js';
import { servedShards, startTestCluster, type TestCluster } from '../helpers/cluster.js';

const SHARDS = 8;
const ARGS = ['--heartbeat-ms', '150', '--lease-ms', '900'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What `node` serves now: epoch by shard. */
async function served(cluster: TestCluster, node: string): Promise<Map<number, number>> {
  return new Map((await servedShards(cluster, node)).map((s) => [s.shard, s.epoch]));
}

/** A counter key on `shard`. */
function keyOn(shard: number): string {
  // Keys hash evenly over 8 shards: a few dozen find any one; 10,000 failing means the hash is broken.
  for (let i = 0; i < 10_000; i++) if (shardOf(`k${i}`, SHARDS) === shard) return `k${i}`;
  throw new Error(`no key among k0…k9999 hashes to shard ${shard}`);
}

/** The shard map's epoch of every counter shard. */
async function mapEpochs(cluster: TestCluster): Promise<Map<number, number>> {
  return new Map((await cluster.db.sql<{ shard: number; epoch: number }[]>`SELECT shard, epoch FROM shards WHERE kind = 'counter'`).map((r) => [r.shard, r.epoch]));
}

/**
 * Two processes with one node id would serve the same shards at the same epochs, and fencing (which compares
 * epochs) could not tell their writes apart: each would take calls the other also took.
 */
describe('node identity – one live process per node id (real nats-server, Postgres, node processes)', () => {
  let cluster: TestCluster;
  let op = 0;
  const inc = async (key: string): Promise<CounterReply> => (await cluster.callWithRetry('counter', key, 'inc', { opId: `${key}:${op++}` }, 20_000)) as CounterReply;

  beforeAll(async () => {
    cluster = await startTestCluster({ nodes: ['n1', 'n2'], shards: SHARDS, args: ARGS });
    await cluster.settle();
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  }, 30_000);

  it('node identity – a second process started with the id of a live node exits with a clear error; the first keeps serving at the same epochs', async () => {
    const before = await served(cluster, 'n1');
    expect(before.size).toBeGreaterThan(0);
    const logDir = path.join(cluster.logDir, 'twin');
    const twin = await spawnNodeProcess({ nodeId: 'n1', natsUrl: cluster.nats.url, databaseUrl: cluster.db.url, kinds: ['counter'], args: ['--shards', String(SHARDS), ...ARGS], logDir }).then(
      async (p) => {
        await p.stop(2000); // a regression must not leave it running
        return 'it started';
      },
      (err: Error) => err.message,
    );
    expect(twin).toMatch(/exited \(1\) before it was ready/);
    const log = await readFile(path.join(logDir, 'n1.log'), 'utf8');
    expect(log).toContain('node id n1 is held by another live process');
    expect(await served(cluster, 'n1')).toEqual(before);
    const [shard] = [...before.keys()];
    expect(await inc(keyOn(shard!))).toMatchObject({ node: 'n1', epoch: before.get(shard!) });
  }, 30_000);

  it('node identity – a process frozen past its lease whose id a new process took over exits when it wakes; the new one serves at higher epochs', async () => {
    const old = cluster.nodes.get('n2')!;
    const oldEpochs = await served(cluster, 'n2');
    expect(oldEpochs.size).toBeGreaterThan(0);
    const atFreeze = await mapEpochs(cluster);
    old.signal('SIGSTOP');
    try {
      await sleep(1200); // past the frozen process's lease
      await cluster.spawn('n2');
      await cluster.settle();
      // Which shards the new process ends up with is placement's choice, so it may or may not hold one the old process
      // held. Whatever it holds, it holds at a newer epoch than the map had at the freeze: the old process's shards
      // were taken over or reassigned, the others moved to it, and each of those raises the epoch.
      const now = await served(cluster, 'n2');
      expect(now.size).toBeGreaterThan(0);
      for (const [shard, epoch] of now) expect(epoch, `new n2's epoch of shard ${shard}`).toBeGreaterThan(atFreeze.get(shard)!);
      // And every shard the old process served is at a newer epoch now, wherever it is: its writes are fenced.
      const after = await mapEpochs(cluster);
      for (const [shard, epoch] of oldEpochs) expect(after.get(shard)!, `epoch of shard ${shard}, served by the frozen process at ${epoch}`).toBeGreaterThan(epoch);
    } finally {
      old.signal('SIGCONT');
    }
    // It learns on its next heartbeat that the id is taken, stops serving and exits, rather than serving beside it.
    const ended = await Promise.race([old.exited, sleep(10_000).then(() => 'still running')]);
    if (ended !== 1) old.signal('SIGKILL'); // a regression must not leave it running
    expect(ended).toBe(1);
    const log = await readFile(old.logFile, 'utf8');
    expect(log).toContain('another process took this node id over');
    // Every shard is served by exactly one process: calls to all of them answer, from the owner the map names.
    const owners = new Map((await cluster.db.sql<{ shard: number; owner: string; epoch: number }[]>`SELECT shard, owner, epoch FROM shards WHERE kind = 'counter'`).map((r) => [r.shard, r]));
    for (let s = 0; s < SHARDS; s++) expect(await inc(keyOn(s))).toMatchObject({ node: owners.get(s)!.owner, epoch: owners.get(s)!.epoch });
  }, 60_000);
});
