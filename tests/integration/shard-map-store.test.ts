import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect as natsConnect } from 'nats';
import pino from 'pino';
import postgres from 'postgres';
import { ErrorCode } from '../../protocol/errors.js';
import { LeaseStore } from '../../storage/lease-store.js';
import { Admin } from '../../runtime/admin.js';
import { ShardMover } from '../../runtime/handoff.js';
import { silentLogger } from '../../runtime/logger.js';
import { Coordinator, COORDINATOR_LEASE, coordinatorHolder } from '../../runtime/coordinator.js';
import { NodeIdInUseError, NodeStore } from '../../storage/node-store.js';
import { connect, type Sql } from '../../storage/db.js';
import { ShardMapStore } from '../../storage/shard-map-store.js';
import { startTestNats } from '../helpers/nats.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('shard map, nodes and leases – real Postgres', () => {
  let db: TestDatabase;
  let shards: ShardMapStore;
  beforeAll(async () => {
    db = await createTestDatabase({ poolSize: 16 });
    shards = new ShardMapStore(db.sql);
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('shard map – a kind is created once and its shard count never changes', async () => {
    expect(await shards.shardCount('chatter')).toBeUndefined();
    const raced = await Promise.all([shards.ensureKind('chatter', 16), shards.ensureKind('chatter', 16), shards.ensureKind('chatter', 32)]);
    expect(new Set(raced).size).toBe(1);
    const count = raced[0]!;
    expect(await shards.ensureKind('chatter', 64)).toBe(count);
    expect(await shards.shardCount('chatter')).toBe(count);
    const rows = await shards.list('chatter');
    expect(rows.map((r) => r.shard)).toEqual(Array.from({ length: count }, (_, i) => i));
    expect(rows.every((r) => r.state === 'unassigned' && r.epoch === 0 && r.owner === null && !r.pinned)).toBe(true);
    expect(await shards.kinds()).toContain('chatter');
    await expect(shards.ensureKind('bad', 0)).rejects.toMatchObject({ code: ErrorCode.INVALID_FIELD });
  });

  it('shard map – of 10 racing assigns on one epoch exactly one wins', async () => {
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => shards.assign('chatter', 3, 0, `n${i}`)));
    const winners = results.filter((r) => r !== undefined);
    expect(winners).toHaveLength(1);
    const row = await shards.get('chatter', 3);
    expect(row).toMatchObject({ owner: winners[0]!.owner, epoch: 1, state: 'active', target: null });
    expect(await shards.assign('chatter', 3, 0, 'late')).toBeUndefined();
    expect(await shards.get('chatter', 99)).toBeUndefined();
  });

  it('shard map – moves are compare-and-sets and every ownership change raises the epoch', async () => {
    const epochs: number[] = [];
    const a = (await shards.assign('chatter', 7, 0, 'a'))!;
    epochs.push(a.epoch);
    // beginMove needs the right owner, state and epoch, and keeps the epoch.
    expect(await shards.beginMove('chatter', 7, a.epoch, 'zz', 'b')).toBeUndefined();
    expect(await shards.beginMove('chatter', 7, a.epoch + 1, 'a', 'b')).toBeUndefined();
    expect(await shards.completeMove('chatter', 7, a.epoch, 'b')).toBeUndefined();
    const moving = (await shards.beginMove('chatter', 7, a.epoch, 'a', 'b'))!;
    expect(moving).toMatchObject({ owner: 'a', target: 'b', state: 'moving', epoch: a.epoch });
    expect(await shards.beginMove('chatter', 7, a.epoch, 'a', 'c')).toBeUndefined();
    const racedCompletes = await Promise.all([shards.completeMove('chatter', 7, a.epoch, 'b'), shards.completeMove('chatter', 7, a.epoch, 'b')]);
    expect(racedCompletes.filter(Boolean)).toHaveLength(1);
    const b = (await shards.get('chatter', 7))!;
    expect(b).toMatchObject({ owner: 'b', state: 'active', target: null });
    epochs.push(b.epoch);
    await shards.beginMove('chatter', 7, b.epoch, 'b', 'c');
    // The coordinator's stuck-move rollback goes by Postgres' clock: a move begun just now is left alone.
    expect(await shards.abortMove('chatter', 7, b.epoch, 60_000)).toBeUndefined();
    await new Promise((r) => setTimeout(r, 300));
    expect(await shards.abortMove('chatter', 7, b.epoch, 10_000_000)).toBeUndefined();
    // Pinning the stuck shard does not put its rollback off: the move is as old as it was (300 ms), not new again.
    expect(await shards.setPinned('chatter', 7, true)).toBe(true);
    expect(await shards.setPinned('chatter', 7, false)).toBe(true);
    const back = (await shards.abortMove('chatter', 7, b.epoch, 200))!;
    expect(back).toMatchObject({ owner: 'b', state: 'active', target: null });
    epochs.push(back.epoch);
    expect(await shards.abortMove('chatter', 7, back.epoch)).toBeUndefined();
    // A dead owner's shard is reassigned straight from 'moving' too.
    await shards.beginMove('chatter', 7, back.epoch, 'b', 'c');
    const d = (await shards.assign('chatter', 7, back.epoch, 'd'))!;
    expect(d).toMatchObject({ owner: 'd', state: 'active', target: null });
    epochs.push(d.epoch);
    for (let i = 1; i < epochs.length; i++) expect(epochs[i]!).toBeGreaterThan(epochs[i - 1]!);
    expect((await shards.ownedBy('d')).map((r) => [r.kind, r.shard])).toEqual([['chatter', 7]]);
  });

  it('shard map – pins are set and cleared without touching the epoch', async () => {
    const before = (await shards.get('chatter', 8))!;
    expect(await shards.setPinned('chatter', 8, true)).toBe(true);
    expect(await shards.get('chatter', 8)).toMatchObject({ pinned: true, epoch: before.epoch });
    expect(await shards.setPinned('chatter', 8, false)).toBe(true);
    expect((await shards.get('chatter', 8))!.pinned).toBe(false);
    expect(await shards.setPinned('chatter', 999, true)).toBe(false);
  });

  it('shard map – assignMany reassigns 100 shards in one statement, returning only the winners', async () => {
    await shards.ensureKind('connector', 256);
    const rows = (await shards.list('connector')).slice(0, 100);
    // Two stale entries: their compare-and-set must lose without failing the rest.
    const list = rows.map((r, i) => ({ kind: 'connector', shard: r.shard, expectedEpoch: i % 50 === 49 ? r.epoch + 5 : r.epoch, owner: `n${i % 3}` }));
    // A store on a connection of its own that records each statement it sends: failover reassigns a dead node's
    // shards in one round trip, not one per shard.
    const statements: string[] = [];
    const counted = postgres(db.url, {
      max: 1,
      onnotice: () => {},
      debug: (_conn, query) => void statements.push(query),
      types: { bigint: { to: 20, from: [20], serialize: (x: number) => String(x), parse: (x: string) => Number(x) } },
    }) as unknown as Sql;
    try {
      // Connected (and its type lookups done) before counting starts.
      await counted`SELECT 1`;
      statements.length = 0;
      const won = await new ShardMapStore(counted).assignMany(list);
      expect(statements, 'statements sent for 100 shards').toHaveLength(1);
      expect(won).toHaveLength(98);
      expect(won.map((r) => r.shard)).toEqual(rows.map((r) => r.shard).filter((s) => s % 50 !== 49));
      expect(won.every((r) => r.epoch === 1 && r.state === 'active')).toBe(true);
      statements.length = 0;
      expect(await new ShardMapStore(counted).assignMany([])).toEqual([]);
      expect(statements, 'statements sent for an empty list').toHaveLength(0);
    } finally {
      await counted.end();
    }
    // The losers were left as they were; a second round on the current epochs takes all 100.
    expect((await shards.list('connector')).slice(0, 100).filter((r) => r.epoch === 0).map((r) => r.shard)).toEqual([49, 99]);
    const again = (await shards.list('connector')).slice(0, 100).map((r) => ({ kind: 'connector', shard: r.shard, expectedEpoch: r.epoch, owner: 'n9' }));
    expect(await shards.assignMany(again)).toHaveLength(100);
  });

  it('fencing – an epoch bump waits for a writer holding the shard row FOR SHARE, then fences it', async () => {
    const row = (await shards.assign('chatter', 6, 0, 'old'))!;
    const other = postgres(db.url, { max: 1, onnotice: () => {} });
    let bumped = false;
    try {
      const { pending } = await other.begin(async (tx) => {
        // A fenced writer: checks its epoch with a FOR SHARE read and keeps the row lock until it commits.
        const held = await tx`SELECT epoch FROM shards WHERE kind = 'chatter' AND shard = 6 AND epoch = ${row.epoch} FOR SHARE`;
        expect(held).toHaveLength(1);
        const pending = shards.assign('chatter', 6, row.epoch, 'new').then((r) => {
          bumped = true;
          return r;
        });
        await sleep(300);
        expect(bumped).toBe(false);
        const waiting = await db.sql<{ n: number }[]>`
          SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock' AND query ILIKE '%update shards%'`;
        expect(waiting[0]!.n).toBe(1);
        // Returned wrapped, not awaited: the transaction must commit to release the lock the bump waits on.
        return { pending };
      });
      const after = await pending;
      expect(bumped).toBe(true);
      expect(after).toMatchObject({ owner: 'new', epoch: row.epoch + 1 });
      // The old owner's next fenced write finds no row at its epoch, so it writes nothing.
      const stale = await other`SELECT epoch FROM shards WHERE kind = 'chatter' AND shard = 6 AND epoch = ${row.epoch} FOR SHARE`;
      expect(stale).toHaveLength(0);
    } finally {
      await other.end();
    }
  });

  it('leases – one holder at a time, renewals extend, expiry lets another take over', async () => {
    const leases = new LeaseStore(db.sql);
    const raced = await Promise.all(Array.from({ length: 8 }, (_, i) => leases.acquire('race', `h${i}`, 5000)));
    expect(raced.filter(Boolean)).toHaveLength(1);

    expect(await leases.acquire('coord', 'a', 600)).toBe(true);
    expect(await leases.acquire('coord', 'b', 600)).toBe(false);
    expect(await leases.holder('coord')).toBe('a');
    // Renewed at ~350 ms for another 600 ms: still held at ~700 ms, past the first expiry.
    await sleep(350);
    expect(await leases.acquire('coord', 'a', 600)).toBe(true);
    await sleep(350);
    expect(await leases.acquire('coord', 'b', 600)).toBe(false);
    expect(await leases.holder('coord')).toBe('a');
    await sleep(500);
    expect(await leases.holder('coord')).toBeUndefined();
    expect(await leases.acquire('coord', 'b', 400)).toBe(true);
    expect(await leases.release('coord', 'a')).toBe(false);
    expect(await leases.holder('coord')).toBe('b');
    expect(await leases.release('coord', 'b')).toBe(true);
    expect(await leases.holder('coord')).toBeUndefined();
    expect(await leases.acquire('coord', 'a', 400)).toBe(true);
    await expect(leases.acquire('coord', 'a', 0)).rejects.toMatchObject({ code: ErrorCode.INVALID_FIELD });
  });

  it("leases – a node's earlier process, frozen and woken, neither renews nor gives up the coordinator lease its successor took; imctl names the node", async () => {
    const leases = new LeaseStore(db.sql);
    const nodes = new NodeStore(db.sql);
    // Real stores and a real mover (on a real nats-server), so a round runs whole: a round never throws, and one that
    // failed on a stand-in would look the same as one that worked. Its failures are logged, and checked below.
    const nats = await startTestNats();
    const nc = await natsConnect({ servers: nats.url });
    const logged: string[] = [];
    const log = pino({ level: 'warn' }, { write: (line: string) => void logged.push(line) });
    try {
      const mover = new ShardMover({ nc, shardMap: shards, nodes, log, phaseTimeoutMs: 1_000, notify: () => {} });
      // No kinds: a round is the lease and the live-node read, and moves no shard of the other tests.
      const coordinator = (incarnation: string): Coordinator =>
        new Coordinator({ nodeId: 'n9', holder: coordinatorHolder('n9', incarnation), kinds: [], leases, nodes, shardMap: shards, mover, log, tickMs: 1_000, leaseMs: 300, stuckMoveMs: 1_000, autoRebalanceMoves: 0, settleMs: 1_000, notify: () => {} });
      const zombie = coordinator('first-life');
      const successor = coordinator('second-life');
      await zombie.tick();
      expect(zombie.isLeader).toBe(true);
      // Frozen past its lease: the node's new process takes the lease over.
      await sleep(400);
      await successor.tick();
      expect(successor.isLeader).toBe(true);
      // The zombie wakes and stops at once (it finds its node id taken over), still taking itself for the leader:
      // its release leaves the successor's lease. A round of a woken zombie takes nothing either.
      expect(zombie.isLeader).toBe(true);
      await zombie.stop();
      const another = coordinator('first-life');
      await another.tick();
      expect(another.isLeader).toBe(false);
      expect(await leases.holder(COORDINATOR_LEASE)).toBe(coordinatorHolder('n9', 'second-life'));
      expect(await new Admin(db.sql, undefined, silentLogger(), 5_000).coordinator()).toBe('n9');
      await successor.stop();
      expect(await leases.holder(COORDINATOR_LEASE)).toBeUndefined();
      expect(logged, 'coordinator warnings (a failed round)').toEqual([]);
    } finally {
      await nc.close();
      await nats.stop();
    }
  });

  it('nodes – a lease renewal, registration or coordinator-lease acquire that cannot finish within the lease fails with timeout instead of hanging', async () => {
    const nodes = new NodeStore(db.sql);
    const leases = new LeaseStore(db.sql);
    await nodes.register('stuck', [], 5000, 'inc-stuck');
    await leases.acquire('stuck-coord', 'stuck', 5000);
    // Another session holds both rows, so the statements wait on their locks for as long as it keeps them.
    const blocker = postgres(db.url, { max: 1, onnotice: () => {} });
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const tx = blocker.begin(async (t) => {
      await t`SELECT 1 FROM nodes WHERE node_id = 'stuck' FOR UPDATE`;
      await t`SELECT 1 FROM leases WHERE name = 'stuck-coord' FOR UPDATE`;
      await held;
    });
    try {
      await sleep(100);
      const t0 = Date.now();
      await expect(nodes.renew('stuck', 'inc-stuck', 400)).rejects.toMatchObject({ code: ErrorCode.TIMEOUT });
      await expect(nodes.register('stuck', [], 400, 'inc-stuck', 400)).rejects.toMatchObject({ code: ErrorCode.TIMEOUT });
      await expect(leases.acquire('stuck-coord', 'stuck', 400)).rejects.toMatchObject({ code: ErrorCode.TIMEOUT });
      expect(Date.now() - t0).toBeLessThan(3000);
    } finally {
      release();
      await tx;
      await blocker.end();
    }
    // Once the rows are free again, both work (the cancelled statements left nothing behind).
    expect(await nodes.renew('stuck', 'inc-stuck', 5000)).toBeGreaterThan(0);
    expect(await leases.acquire('stuck-coord', 'stuck', 5000)).toBe(true);
    await nodes.remove('stuck');
    await leases.release('stuck-coord', 'stuck');
  });

  it('nodes – a heartbeat registration on a link gone silent (no answer, no close) fails with timeout instead of hanging', async () => {
    // A relay to Postgres that stops passing bytes either way when frozen: a half-open link.
    const sockets = new Set<net.Socket>();
    let frozen = false;
    const relay = net.createServer((client) => {
      const upstream = net.connect(Number(new URL(db.url).port), '127.0.0.1');
      sockets.add(client).add(upstream);
      client.on('data', (b: Buffer) => void (frozen || upstream.write(b)));
      upstream.on('data', (b: Buffer) => void (frozen || client.write(b)));
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
    const url = new URL(db.url);
    url.hostname = '127.0.0.1';
    url.port = String((relay.address() as net.AddressInfo).port);
    const sql = connect(url.toString(), { max: 1 });
    try {
      const nodes = new NodeStore(sql);
      await nodes.register('silent', [], 5000, 'inc-silent');
      frozen = true;
      const t0 = Date.now();
      await expect(nodes.register('silent', [], 5000, 'inc-silent', 300)).rejects.toMatchObject({ code: ErrorCode.TIMEOUT });
      expect(Date.now() - t0).toBeLessThan(3000);
    } finally {
      for (const s of sockets) s.destroy();
      relay.close();
      await sql.end({ timeout: 0 });
    }
    await new NodeStore(db.sql).remove('silent');
  });

  it('nodes – liveness follows the lease on the database clock; draining is flagged, a node that left is not live', async () => {
    const nodes = new NodeStore(db.sql);
    const dbNow = await nodes.now();
    const n1 = await nodes.register('n1', ['ws://a'], 600, 'inc-n1');
    expect(n1).toMatchObject({ nodeId: 'n1', endpoints: ['ws://a'], state: 'alive', draining: false });
    expect(n1.leaseUntil - dbNow).toBeGreaterThanOrEqual(600);
    expect(n1.leaseUntil - dbNow).toBeLessThan(1500);
    await nodes.register('n2', [], 5000, 'inc-n2');
    expect((await nodes.live()).map((n) => n.nodeId)).toEqual(['n1', 'n2']);
    await sleep(700);
    expect((await nodes.live()).map((n) => n.nodeId)).toEqual(['n2']);
    const until = (await nodes.renew('n1', 'inc-n1', 5000, { actors: 3 }))!;
    expect(until - (await nodes.now())).toBeGreaterThan(4000);
    expect((await nodes.all()).find((n) => n.nodeId === 'n1')!.load).toEqual({ actors: 3 });
    // A renew without load keeps the last one.
    await nodes.renew('n1', 'inc-n1', 5000);
    expect((await nodes.all()).find((n) => n.nodeId === 'n1')!.load).toEqual({ actors: 3 });
    expect(await nodes.setState('n1', 'draining')).toBe(true);
    expect((await nodes.live()).map((n) => [n.nodeId, n.draining])).toEqual([
      ['n1', true],
      ['n2', false],
    ]);
    await nodes.setState('n2', 'left');
    expect(await nodes.renew('n2', 'inc-n2', 5000)).toBeUndefined();
    expect(await nodes.renew('ghost', 'inc-ghost', 5000)).toBeUndefined();
    expect((await nodes.live()).map((n) => n.nodeId)).toEqual(['n1']);
    // Re-registering after leaving makes the node alive again.
    await nodes.register('n2', ['ws://b'], 5000, 'inc-n2');
    expect((await nodes.live()).map((n) => n.nodeId)).toEqual(['n1', 'n2']);
    expect(await nodes.remove('n2')).toBe(true);
    expect(await nodes.remove('n2')).toBe(false);
    expect((await nodes.all()).map((n) => n.nodeId)).toEqual(['n1']);
  });
  it('nodes – nodes reaching NATS are the live ones in placement, hosting one of the asker\u2019s kinds, whose renewals said so for long enough; a new process of a node id starts from none', async () => {
    const nodes = new NodeStore(db.sql);
    await nodes.register('nr-a', [], 300, 'nr-a1');
    await nodes.register('nr-b', [], 5000, 'nr-b1');
    await nodes.register('nr-c', [], 5000, 'nr-c1');
    await nodes.renew('nr-a', 'nr-a1', 300, { natsUpMs: 60_000 });
    await nodes.renew('nr-b', 'nr-b1', 5000, { natsUpMs: 500 });
    await nodes.renew('nr-c', 'nr-c1', 5000, { natsUpMs: 60_000 });
    const reachers = async () => (await nodes.natsReachers('me', 1000)).filter((n) => n.startsWith('nr-'));
    expect(await reachers()).toEqual(['nr-a', 'nr-c']);
    // Draining: it takes no shards.
    await nodes.setState('nr-c', 'draining');
    expect(await reachers()).toEqual(['nr-a']);
    // Nor does a node hosting none of the asker's kinds; a gateway-only asker (no kinds) has no shards to hand over.
    await nodes.register('nr-d', [], 5000, 'nr-d1', undefined, ['counter']);
    await nodes.renew('nr-d', 'nr-d1', 5000, { natsUpMs: 60_000 });
    const of = async (kinds: string[]) => (await nodes.natsReachers('me', 1000, kinds)).filter((n) => n.startsWith('nr-'));
    expect([await of(['chatter']), await of(['counter', 'chatter']), await of([])]).toEqual([['nr-a'], ['nr-a', 'nr-d'], ['nr-a', 'nr-d']]);
    await nodes.remove('nr-d');
    // A process that took the id over has said nothing of its link yet.
    await sleep(350);
    await nodes.register('nr-a', [], 5000, 'nr-a2');
    expect(await reachers()).toEqual([]);
    for (const n of ['nr-a', 'nr-b', 'nr-c']) await nodes.remove(n);
  });
  it('nodes – a node whose last renewal said NATS was down takes no shards while another reaches NATS; with NATS down everywhere it does', async () => {
    const nodes = new NodeStore(db.sql);
    await nodes.register('td-a', [], 5000, 'td-a1');
    await nodes.register('td-b', [], 5000, 'td-b1');
    await nodes.renew('td-a', 'td-a1', 5000, { nats: false });
    await nodes.renew('td-b', 'td-b1', 5000, { nats: true });
    expect([await nodes.takesShards('td-a', 'chatter'), await nodes.takesShards('td-b', 'chatter')]).toEqual([false, true]);
    // The one that reaches NATS being drained still shows that NATS is up: the cut-off one is not its heir.
    await nodes.setState('td-b', 'draining');
    expect(await nodes.takesShards('td-a', 'chatter')).toBe(false);
    await nodes.setState('td-b', 'alive');
    // NATS down for every live node: nothing to choose between, moves go on as before.
    const others = await db.sql<{ node_id: string; load: Record<string, unknown> }[]>`SELECT node_id, load FROM nodes WHERE lease_until > now() AND node_id NOT LIKE 'td-%'`;
    await db.sql`UPDATE nodes SET load = load || '{"nats": false}'::jsonb WHERE lease_until > now()`;
    try {
      expect(await nodes.takesShards('td-a', 'chatter')).toBe(true);
    } finally {
      for (const o of others) await db.sql`UPDATE nodes SET load = ${db.sql.json(o.load as never)} WHERE node_id = ${o.node_id}`;
    }
    await nodes.renew('td-a', 'td-a1', 5000, { nats: true });
    expect(await nodes.takesShards('td-a', 'chatter')).toBe(true);
    for (const n of ['td-a', 'td-b']) await nodes.remove(n);
  });
  it('nodes – a node id held by a live process is refused to another; after its lease ran out it is taken over and the epochs of its shards go up', async () => {
    const nodes = new NodeStore(db.sql);
    await shards.ensureKind('idk', 4);
    const first = await nodes.register('twin', ['ws://a'], 400, 'proc-a');
    expect(first.tookOver).toBe(false);
    const owned = (await shards.assign('idk', 0, 0, 'twin'))!;
    // Two processes racing for one new id: exactly one gets it.
    const raced = await Promise.allSettled([nodes.register('fresh', [], 5000, 'x'), nodes.register('fresh', [], 5000, 'y')]);
    expect(raced.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(raced.find((r) => r.status === 'rejected')).toMatchObject({ reason: expect.any(NodeIdInUseError) });
    // A second process while the first's lease runs: refused with how long the lease still runs, nothing changed.
    const refused = await nodes.register('twin', ['ws://b'], 400, 'proc-b').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(NodeIdInUseError);
    expect(refused).toMatchObject({ code: ErrorCode.CONFLICT, nodeId: 'twin' });
    expect((refused as NodeIdInUseError).leaseLeftMs).toBeGreaterThan(0);
    expect((refused as NodeIdInUseError).leaseLeftMs).toBeLessThanOrEqual(400);
    expect((await shards.get('idk', 0))!.epoch).toBe(owned.epoch);
    // The same process registering again is no takeover.
    expect((await nodes.register('twin', ['ws://a'], 400, 'proc-a')).tookOver).toBe(false);
    await sleep(450);
    const second = await nodes.register('twin', ['ws://b'], 5000, 'proc-b');
    expect(second).toMatchObject({ tookOver: true, endpoints: ['ws://b'], state: 'alive' });
    expect((await shards.get('idk', 0))!).toMatchObject({ owner: 'twin', epoch: owned.epoch + 1 });
    // The replaced process renews nothing, cannot mark its successor as left, and cannot take the id back.
    expect(await nodes.renew('twin', 'proc-a', 5000)).toBeUndefined();
    expect(await nodes.setState('twin', 'left', 'proc-a')).toBe(false);
    await expect(nodes.register('twin', ['ws://a'], 5000, 'proc-a')).rejects.toBeInstanceOf(NodeIdInUseError);
    expect(await nodes.renew('twin', 'proc-b', 5000)).toBeGreaterThan(0);
    // A graceful leave frees the id at once.
    expect(await nodes.setState('twin', 'left', 'proc-b')).toBe(true);
    expect((await nodes.register('twin', [], 5000, 'proc-c')).tookOver).toBe(true);
    for (const n of ['twin', 'fresh']) await nodes.remove(n);
  });
});
