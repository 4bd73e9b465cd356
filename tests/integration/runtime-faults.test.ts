import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CounterReply } from '../../actors/counter.actor.js';
import { startTestCluster, type TestCluster } from '../helpers/cluster.js';
import { verifyCounters } from '../helpers/counter-verify.js';

const SHARDS = 32;
const KEYS = Array.from({ length: 24 }, (_, i) => `c${i}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('runtime – faults and planned moves (3 node processes, real NATS and Postgres)', () => {
  let cluster: TestCluster;

  beforeAll(async () => {
    cluster = await startTestCluster({ nodes: ['n1', 'n2', 'n3'], shards: SHARDS, args: ['--heartbeat-ms', '150', '--lease-ms', '900'] });
  }, 120_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  it('runtime – every acknowledged operation is applied exactly once through SIGKILL, rebalance and drain', async () => {
    const acked = new Map<string, number>();
    const failed: string[] = [];
    let next = 0;
    let stop = false;
    const MAX_OPS = 6000;
    const worker = async (): Promise<void> => {
      while (!stop && next < MAX_OPS) {
        const n = next++;
        const key = KEYS[n % KEYS.length]!;
        const opId = `${key}:${n}`;
        try {
          const r = (await cluster.callWithRetry('counter', key, 'inc', { opId }, 15_000)) as CounterReply;
          acked.set(opId, r.value);
        } catch (err) {
          failed.push(`${opId}: ${(err as Error).message}`);
        }
      }
    };
    const load = Promise.all(Array.from({ length: 16 }, worker));
    const steps: string[] = [];

    await sleep(1000);
    cluster.nodes.get('n2')!.signal('SIGKILL');
    steps.push('SIGKILL n2');
    await sleep(2500);
    await cluster.spawn('n2');
    steps.push('restarted n2');
    await sleep(2500);
    const rebalance = await cluster.imctl('rebalance', '--wave', '8');
    steps.push(`rebalance: ${rebalance.stdout.trim()}`);
    expect(rebalance.code, rebalance.stderr).toBe(0);
    await sleep(1000);
    const drain = await cluster.imctl('drain', 'n1');
    steps.push(`drain: ${drain.stdout.trim()}`);
    expect(drain.code, drain.stderr).toBe(0);
    await sleep(1000);
    stop = true;
    await load;

    const owners = await cluster.db.sql<{ owner: string; n: number }[]>`SELECT owner, count(*)::int AS n FROM shards WHERE kind = 'counter' GROUP BY owner`;
    expect(owners.find((o) => o.owner === 'n1')).toBeUndefined();
    expect(acked.size).toBeGreaterThan(500);
    if (failed.length > 0) console.log(`steps: ${steps.join(' | ')}\nnode warnings:\n${await cluster.warnings()}`);
    expect(failed).toEqual([]);
    const report = await verifyCounters(cluster.db.sql, acked);
    expect(report.ackedMissing).toEqual([]);
    expect(report.ackedValueMismatch).toEqual([]);
    expect(report.valueGapsOrDuplicates).toEqual([]);
    expect(report.epochRegressions).toEqual([]);
    // Every applied op was acknowledged: none applied twice behind a retry.
    expect(report.rows).toBe(acked.size);
  }, 120_000);

  it('imctl – nodes, shards and status show the cluster as a readable table', async () => {
    const nodes = await cluster.imctl('nodes');
    expect(nodes.code, nodes.stderr).toBe(0);
    expect(nodes.stdout).toMatch(/node\s+state\s+live\s+lease\s+shards/);
    for (const n of ['n2', 'n3']) expect(nodes.stdout).toContain(n);
    const shards = await cluster.imctl('shards', '--kind', 'counter');
    expect(shards.code).toBe(0);
    expect(shards.stdout).toMatch(/owner\s+shards\s+moving/);
    expect(shards.stdout.split('\n').filter((l) => /^counter\s+\d+\s/.test(l))).toHaveLength(SHARDS);
    const status = await cluster.imctl('status');
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/coordinator: n\d/);
    expect(status.stdout).toContain(`shards: ${SHARDS}`);
    const json = JSON.parse((await cluster.imctl('shards', '--json')).stdout) as { shards: unknown[] };
    expect(json.shards).toHaveLength(SHARDS);
    const dry = await cluster.imctl('rebalance', '--dry-run');
    expect(dry.code).toBe(0);
    // n1 was drained by the first test: undrain puts it back, and a rebalance gives it its share again —
    // except a pinned shard, which stays where it is.
    const pinnedRow = (await cluster.db.sql<{ shard: number; owner: string }[]>`SELECT shard, owner FROM shards WHERE kind = 'counter' ORDER BY shard LIMIT 1`)[0]!;
    const pin = await cluster.imctl('pin', 'counter', String(pinnedRow.shard));
    expect(pin.code, pin.stderr).toBe(0);
    const undrain = await cluster.imctl('undrain', 'n1');
    expect(undrain.code, undrain.stderr).toBe(0);
    // Ctrl-C after the first move: the moves in flight finish and no more start; no shard is left moving, unserved.
    const cut = cluster.spawnImctl('rebalance', '--wave', '1');
    const said = { out: '', err: '', interrupted: false };
    cut.stdout.on('data', (d: Buffer) => (said.out += d.toString()));
    cut.stderr.on('data', (d: Buffer) => {
      said.err += d.toString();
      if (said.interrupted || !said.err.includes('planned, in waves')) return;
      said.interrupted = true;
      // To its whole process group, as a terminal's Ctrl-C: tsx and the script under it.
      process.kill(-cut.pid!, 'SIGINT');
    });
    const cutCode = await new Promise<number | null>((resolve) => cut.on('exit', (code) => resolve(code)));
    expect(cutCode, `${said.err}\n${said.out}`).toBe(1);
    expect(said.out).toMatch(/rebalance: \d+ moved.*, \d+ failed, \d+ not started \(interrupted\)/);
    // Within moments (the coordinator may be moving shards to n1 too): a move cut after its release would stay
    // `moving`, unserved, until the coordinator's stuck-move timeout rolled it back.
    const allActive = async (): Promise<boolean> => (await cluster.db.sql`SELECT 1 FROM shards WHERE state <> 'active'`).length === 0;
    let active = await allActive();
    for (let i = 0; i < 30 && !active; i++) (await sleep(100), (active = await allActive()));
    expect(active).toBe(true);
    const back = await cluster.imctl('rebalance');
    expect(back.code, back.stderr + back.stdout).toBe(0);
    const after = (await cluster.db.sql<{ owner: string; pinned: boolean }[]>`SELECT owner, pinned FROM shards WHERE kind = 'counter' AND shard = ${pinnedRow.shard}`)[0]!;
    expect(after).toEqual({ owner: pinnedRow.owner, pinned: true });
    expect((await cluster.imctl('unpin', 'counter', String(pinnedRow.shard))).code).toBe(0);
    const owned = await cluster.db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM shards WHERE kind = 'counter' AND owner = 'n1'`;
    expect(owned[0]!.n).toBeGreaterThanOrEqual(Math.floor(SHARDS / 3));
    // A drain's dry run lists the moves that would empty n1 and changes nothing: n1 stays in placement.
    const preview = await cluster.imctl('drain', 'n1', '--dry-run', '--json');
    expect(preview.code, preview.stderr).toBe(0);
    const planned = (JSON.parse(preview.stdout) as { moves: { from: string | null }[]; dryRun: boolean }).moves;
    expect(planned.length).toBeGreaterThanOrEqual(owned[0]!.n);
    expect(planned.every((m) => m.from === 'n1')).toBe(true);
    const state = await cluster.db.sql<{ state: string }[]>`SELECT state FROM nodes WHERE node_id = 'n1'`;
    expect(state[0]!.state).toBe('alive');
    const still = await cluster.db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM shards WHERE kind = 'counter' AND owner = 'n1'`;
    expect(still[0]!.n).toBe(owned[0]!.n);
  }, 60_000);

  it('imctl – unknown nodes, kinds and shard numbers, bad usage and an unreachable cluster get clear errors', async () => {
    const unknownNode = await cluster.imctl('move', 'counter', '1', 'nope');
    expect(unknownNode.code).toBe(2);
    expect(unknownNode.stderr).toContain('unknown node "nope"');
    // Forgetting takes a dead node only: an unknown one is bad usage, a live one a refusal that changes nothing.
    expect(await cluster.imctl('forget', 'nope')).toMatchObject({ code: 2, stderr: expect.stringContaining('unknown node "nope"') });
    expect(await cluster.imctl('forget', 'n2')).toMatchObject({ code: 1, stderr: expect.stringContaining('node n2 is live') });
    expect((await cluster.db.sql`SELECT 1 FROM nodes WHERE node_id = 'n2'`).length).toBe(1);
    const badShard = await cluster.imctl('move', 'counter', '999', 'n2');
    expect(badShard.code).toBe(2);
    expect(badShard.stderr).toContain(`shard must be an integer from 0 to ${SHARDS - 1}`);
    const notNumber = await cluster.imctl('move', 'counter', 'x', 'n2');
    expect(notNumber.stderr).toContain('bad shard number');
    const badKind = await cluster.imctl('move', 'nokind', '1', 'n2');
    expect(badKind.stderr).toContain('unknown actor kind');
    // A misspelt kind is not "balanced already".
    const badRebalance = await cluster.imctl('rebalance', '--kind', 'countr', '--dry-run');
    expect(badRebalance.code).toBe(2);
    expect(badRebalance.stderr).toContain('unknown actor kind "countr"');
    // What a command does not take is refused before it does anything: an ignored --dry-run would move the shard.
    const ownerBefore = (await cluster.db.sql<{ owner: string }[]>`SELECT owner FROM shards WHERE kind = 'counter' AND shard = 1`)[0]!.owner;
    const dryMove = await cluster.imctl('move', 'counter', '1', ownerBefore === 'n2' ? 'n3' : 'n2', '--dry-run');
    expect(dryMove.code).toBe(2);
    expect(dryMove.stderr).toContain('move takes no --dry-run');
    expect((await cluster.db.sql<{ owner: string }[]>`SELECT owner FROM shards WHERE kind = 'counter' AND shard = 1`)[0]!.owner).toBe(ownerBefore);
    const twoNodes = await cluster.imctl('drain', 'n2', 'n3');
    expect(twoNodes.code).toBe(2);
    expect(twoNodes.stderr).toContain('drain takes 1 argument(s), got 2: n2 n3');
    expect((await cluster.db.sql<{ state: string }[]>`SELECT state FROM nodes WHERE node_id = 'n2'`)[0]!.state).toBe('alive');
    // A bad option value is refused before the node leaves placement, and an empty one is no "unlimited" or "every kind".
    const badWave = await cluster.imctl('drain', 'n2', '--wave', '0');
    expect(badWave.code).toBe(2);
    expect(badWave.stderr).toContain('--wave must be a positive integer');
    expect((await cluster.db.sql<{ state: string }[]>`SELECT state FROM nodes WHERE node_id = 'n2'`)[0]!.state).toBe('alive');
    const emptyMax = await cluster.imctl('rebalance', '--max-moves=', '--dry-run');
    expect(emptyMax.code).toBe(2);
    expect(emptyMax.stderr).toContain('--max-moves needs a value');
    const twice = await cluster.imctl('shards', '--kind', 'counter', '--kind', 'other');
    expect(twice.code).toBe(2);
    expect(twice.stderr).toContain('--kind given more than once');
    const badCommand = await cluster.imctl('frobnicate');
    expect(badCommand.code).toBe(2);
    expect(badCommand.stderr).toContain('usage: imctl');
    const down = await new Promise<{ code: number; stderr: string }>((resolve) => {
      import('node:child_process').then(({ execFile }) =>
        execFile('sh', ['scripts/imctl.sh', 'nodes', '--database-url', 'postgres://x:y@127.0.0.1:1/none', '--timeout', '2000'], (err, _o, stderr) => resolve({ code: Number((err as { code?: number } | null)?.code ?? 0), stderr })),
      );
    });
    expect(down.code).toBe(3);
    expect(down.stderr).toContain("cannot reach the cluster's Postgres");
  }, 60_000);

  it('imctl – Ctrl-C during a single move finishes the move first: the shard is never left moving, served by nobody', async () => {
    // Every node back in placement after the tests before (their leases are short: under load one may lapse a moment).
    await cluster.settle();
    const row = (await cluster.db.sql<{ shard: number; owner: string }[]>`SELECT shard, owner FROM shards WHERE kind = 'counter' AND state = 'active' AND owner IS NOT NULL AND NOT pinned ORDER BY shard DESC LIMIT 1`)[0]!;
    const live = await cluster.db.sql<{ node_id: string }[]>`SELECT node_id FROM nodes WHERE state = 'alive' AND lease_until > now() AND node_id <> ${row.owner} ORDER BY node_id`;
    const to = live[0]!.node_id;
    // The shard's row held meanwhile: the move waits on it, so the signal surely comes while it is under way.
    const lock = await cluster.db.sql.reserve();
    await lock`BEGIN`;
    await lock`SELECT 1 FROM shards WHERE kind = 'counter' AND shard = ${row.shard} FOR UPDATE`;
    let released = false;
    const release = async (): Promise<void> => {
      if (released) return;
      released = true;
      await lock`COMMIT`;
      lock.release();
    };
    const cut = cluster.spawnImctl('move', 'counter', String(row.shard), to);
    const said = { out: '', err: '', interrupted: false };
    cut.stdout.on('data', (d: Buffer) => (said.out += d.toString()));
    cut.stderr.on('data', (d: Buffer) => {
      said.err += d.toString();
      if (said.err.includes('SIGINT: finishing the move')) void release();
      if (said.interrupted || !said.err.includes(': moving')) return;
      said.interrupted = true;
      // To its whole process group, as a terminal's Ctrl-C: the shell, tsx and the script under it.
      process.kill(-cut.pid!, 'SIGINT');
    });
    const code = await new Promise<number | null>((resolve) => cut.on('exit', (c) => resolve(c)));
    await release();
    expect(said.interrupted).toBe(true);
    expect(code, `${said.err}\n${said.out}`).toBe(0);
    expect(said.out).toContain(`moved counter/${row.shard} ${row.owner} → ${to}`);
    expect(said.err).toContain('SIGINT: finishing the move');
    const after = (await cluster.db.sql<{ owner: string; state: string }[]>`SELECT owner, state FROM shards WHERE kind = 'counter' AND shard = ${row.shard}`)[0]!;
    expect(after).toEqual({ owner: to, state: 'active' });
  });
});

