import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../protocol/errors.js';
import { ConversationStore } from '../../storage/conversation-store.js';
import { connect, type Sql } from '../../storage/db.js';
import { withFence } from '../../storage/fence.js';
import { GroupAdminStore } from '../../storage/group-admin-store.js';
import { PinnedMessageStore } from '../../storage/pinned-message-store.js';
import { MessageStore, type NewMessage } from '../../storage/message-store.js';
import { SegmentAllocator } from '../../storage/segment-allocator.js';
import { ShardMapStore } from '../../storage/shard-map-store.js';
import type { Fence } from '../../storage/types.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('fencing – real Postgres', () => {
  let db: TestDatabase;
  /** A second pool: the coordinator's side of the races. */
  let other: Sql;
  let shards: ShardMapStore;
  let msgs: MessageStore;
  let convs: ConversationStore;
  let nextShard = 0;

  beforeAll(async () => {
    db = await createTestDatabase({ poolSize: 6 });
    other = connect(db.url, { max: 3, applicationName: 'fencing-test-other' });
    shards = new ShardMapStore(db.sql);
    msgs = new MessageStore(db.sql);
    convs = new ConversationStore(db.sql);
    await shards.ensureKind('chatter', 64);
  });
  afterAll(async () => {
    await other?.end({ timeout: 5 });
    await db?.drop();
  });

  /** A freshly owned shard and its fence. */
  async function owned(): Promise<Fence> {
    const shard = nextShard++;
    const row = (await shards.assign('chatter', shard, 0, 'old-owner'))!;
    return { kind: 'chatter', shard, epoch: row.epoch };
  }

  /** The coordinator's epoch bump, as a plain compare-and-set UPDATE on the other pool. */
  const bump = (f: Fence) => other<{ epoch: number }[]>`
    UPDATE shards SET epoch = epoch + 1, owner = 'new-owner' WHERE kind = ${f.kind} AND shard = ${f.shard} AND epoch = ${f.epoch} RETURNING epoch`;

  /** Waits until a statement matching `like` waits on a lock in pg_stat_activity. */
  async function waitUntilBlocked(like: string): Promise<void> {
    for (let i = 0; i < 200; i++) {
      const rows = await other`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE ${like}`;
      if (rows.length > 0) return;
      await sleep(10);
    }
    throw new Error(`no statement like ${like} ever waited on a lock`);
  }

  const msg = (convId: string, seq: number, cid = seq): NewMessage => ({ convId, seq, prevSeq: seq - 1, senderUid: 'u', senderDid: 'd', clientMsgId: cid, body: Buffer.from('x') });

  it('fencing – every fenced write with a stale epoch is refused with FENCED and writes nothing', async () => {
    const f = await owned();
    await convs.createGroup({ convId: 'stale', owner: 'u' });
    expect((await msgs.appendBatch([msg('stale', 1)], f))[0]!.seq).toBe(1);
    expect((await convs.setReadMark('u', 'stale', 1, f)).readSeq).toBe(1);
    await bump(f);

    await expect(msgs.appendBatch([msg('stale', 2), msg('stale', 3)], f)).rejects.toMatchObject({ code: ErrorCode.FENCED });
    // A stale owner re-sending a stored message is refused too: it must not learn answers it cannot own.
    await expect(msgs.appendBatch([msg('stale', 1)], f)).rejects.toMatchObject({ code: ErrorCode.FENCED });
    await msgs.appendBatch([msg('stale', 2)], f).catch(() => {});
    expect(await msgs.lastSeq('stale')).toBe(1);

    await expect(convs.setReadMark('u', 'stale', 1, f)).rejects.toMatchObject({ code: ErrorCode.FENCED });
    const alloc = new SegmentAllocator(db.sql, { name: 'stale-seg', step: 10, fence: f });
    await expect(alloc.next()).rejects.toMatchObject({ code: ErrorCode.FENCED });
    expect(alloc.tryNext()).toBeUndefined();
    expect((await db.sql`SELECT 1 FROM seq_segments WHERE name = 'stale-seg'`).length).toBe(0);

    let ran = false;
    await expect(
      withFence(db.sql, f, 'multi-statement write', async (tx) => {
        ran = true;
        await tx`INSERT INTO messages (conv_id, seq, prev_seq, sender_uid, sender_did, client_msg_id, body) VALUES ('stale', 9, 1, 'u', 'd', 9, '\\x00')`;
      }),
    ).rejects.toMatchObject({ code: ErrorCode.FENCED });
    expect(ran).toBe(false);

    // The new epoch works, and a malformed fence is an input error, not a stale one.
    const current = { ...f, epoch: f.epoch + 1 };
    expect((await msgs.appendBatch([msg('stale', 5)], current))[0]).toMatchObject({ seq: 5, duplicate: false });
    await expect(msgs.appendBatch([msg('stale', 6)], { ...f, epoch: 1.5 })).rejects.toMatchObject({ code: ErrorCode.INVALID_FIELD });
    await expect(msgs.appendBatch([msg('stale', 6)], { kind: 'chatter', shard: 9999, epoch: 0 })).rejects.toMatchObject({ code: ErrorCode.FENCED });
  });

  it("fencing – a chatter's group writes (members, creation, profile, rules, roles, pins, dissolve) with a stale epoch are refused and change nothing", async () => {
    const groups = new GroupAdminStore(db.sql);
    const pins = new PinnedMessageStore(db.sql);
    const f = await owned();
    await convs.createGroup({ convId: 'g-stale', owner: 'own', members: ['mem'] }, f);
    await msgs.appendBatch([msg('g-stale', 1)], f);
    await bump(f);
    const refused = { code: ErrorCode.FENCED };
    await expect(convs.addMembers('g-stale', ['new'], 'member', f)).rejects.toMatchObject(refused);
    await expect(convs.removeMembers('g-stale', ['mem'], f)).rejects.toMatchObject(refused);
    await expect(convs.createGroup({ convId: 'g-stale', owner: 'own', members: ['new'] }, f)).rejects.toMatchObject(refused);
    await expect(convs.createGroup({ convId: 'g-stale-2', owner: 'own' }, f)).rejects.toMatchObject(refused);
    await expect(groups.setProfile('g-stale', { title: 'stale' }, f)).rejects.toMatchObject(refused);
    await expect(groups.setRules('g-stale', { posting: 'admins' as never }, f)).rejects.toMatchObject(refused);
    await expect(groups.setRoles('g-stale', { mem: 'admin' }, f)).rejects.toMatchObject(refused);
    await expect(pins.set('g-stale', 1, true, 'own', undefined, f)).rejects.toMatchObject(refused);
    await expect(groups.dissolve('g-stale', f)).rejects.toMatchObject(refused);
    // Nothing of it landed.
    expect((await convs.members('g-stale')).map((m) => `${m.uid}:${m.role}`)).toEqual(['mem:member', 'own:owner']);
    expect(await convs.get('g-stale')).toMatchObject({ title: null, posting: 'all' });
    expect(await convs.get('g-stale')).not.toHaveProperty('dissolvedAt');
    expect(await convs.get('g-stale-2')).toBeUndefined();
    expect(await pins.list('g-stale')).toEqual([]);
    // The new owner's writes go through.
    const current = { ...f, epoch: f.epoch + 1 };
    expect((await convs.addMembers('g-stale', ['new'], 'member', current)).map((a) => a.uid)).toEqual(['new']);
    expect(await groups.dissolve('g-stale', current)).toEqual(['mem', 'new', 'own']);
  });

  it('fencing – an epoch bump waits for a fenced transaction in flight, and the old owner is fenced after it', async () => {
    const f = await owned();
    const order: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let locked!: () => void;
    const holding = new Promise<void>((r) => (locked = r));
    const write = withFence(db.sql, f, 'held write', async (tx) => {
      locked();
      await gate;
      await tx`INSERT INTO messages (conv_id, seq, prev_seq, sender_uid, sender_did, client_msg_id, body) VALUES ('held', 1, 0, 'u', 'd', 1, '\\x01')`;
      order.push('write committing');
    }).then(() => order.push('write committed'));
    await holding;

    const bumped = bump(f).then((rows) => {
      order.push('bump done');
      return rows;
    });
    await waitUntilBlocked('%UPDATE shards SET epoch%');
    await sleep(50);
    expect(order).toEqual([]);

    release();
    await write;
    const rows = await bumped;
    expect(rows).toHaveLength(1);
    // The bump finished only after the transaction reached its commit ('write committed' and 'bump done' arrive
    // on two sockets and may be read in either order once the lock is gone).
    expect(order[0]).toBe('write committing');
    expect([...order].sort()).toEqual(['bump done', 'write committed', 'write committing']);
    expect(await msgs.lastSeq('held')).toBe(1);
    await expect(msgs.appendBatch([msg('held', 2)], f)).rejects.toMatchObject({ code: ErrorCode.FENCED });
  });

  it('fencing – an epoch bump waits for a single-statement fenced batch in flight', async () => {
    // Another transaction holds an uncommitted row with one of the batch's keys: the fenced batch takes its
    // FOR SHARE lock on the shard row, then waits on that key inside the same statement — a batch "in flight".
    // ROLLBACK: the batch goes through under the old epoch and only then does the bump proceed.
    // COMMIT: the batch meets a stored repeat; its plain INSERT fails and gives the lock up, the bump goes
    // first, and the idempotent retry is fenced — nothing of the batch is stored after the bump either way.
    for (const outcome of ['ROLLBACK', 'COMMIT'] as const) {
      const f = await owned();
      const conv = `inflight-${outcome}`;
      const blocker = await other.reserve();
      try {
        await blocker`BEGIN`;
        await blocker`INSERT INTO messages (conv_id, seq, prev_seq, sender_uid, sender_did, client_msg_id, body) VALUES (${conv}, 1, 0, 'u', 'd', 1, '\\x01')`;
        const order: string[] = [];
        const batch = msgs.appendBatch([msg(conv, 5, 1), msg(conv, 6, 2)], f).then(
          (r) => (order.push('batch done'), r),
          (err: unknown) => (order.push('batch failed'), err),
        );
        await waitUntilBlocked('%INSERT INTO messages%unnest%');
        const bumped = bump(f).then((r) => (order.push('bump done'), r));
        await waitUntilBlocked('%UPDATE shards SET epoch%');
        await sleep(50);
        expect(order).toEqual([]);

        await blocker.unsafe(outcome);
        const result = await batch;
        expect((await bumped).length).toBe(1);
        if (outcome === 'ROLLBACK') {
          // Both were blocked together above; the rows carry the old epoch's writes, so the bump waited for them.
          expect([...order].sort()).toEqual(['batch done', 'bump done']);
          expect((result as { seq: number }[]).map((r) => r.seq)).toEqual([5, 6]);
          expect((await msgs.readAfter(conv, 0, 10)).map((m) => m.seq)).toEqual([5, 6]);
        } else {
          const stored = (await msgs.readAfter(conv, 0, 10)).map((m) => m.seq);
          if (order.includes('batch failed')) {
            // The usual outcome: the bump won the lock between the two statements.
            expect(result).toMatchObject({ code: ErrorCode.FENCED });
            expect(stored).toEqual([1]);
          } else {
            // The idempotent retry got the lock first: then all of it ran under the old epoch, before the bump.
            expect((result as { seq: number; duplicate: boolean }[]).map((r) => [r.seq, r.duplicate])).toEqual([[1, true], [6, false]]);
            expect(stored).toEqual([1, 6]);
          }
        }
        await expect(msgs.appendBatch([msg(conv, 7, 3)], f)).rejects.toMatchObject({ code: ErrorCode.FENCED });
      } finally {
        await blocker`ROLLBACK`.catch(() => {});
        blocker.release();
      }
    }
  });

  it('fencing – a segment allocator hands out what it already held, then nothing after the bump', async () => {
    const f = await owned();
    // Fixed segment sizes (minSegmentMs 0): the test checks exact ids.
    const a = new SegmentAllocator(db.sql, { name: 'after-bump', step: 3, prefetchRatio: 1, minSegmentMs: 0, fence: f });
    expect([await a.next(), await a.next(), await a.next()]).toEqual([1, 2, 3]);
    for (let i = 0; !a.prefetched && i < 500; i++) await sleep(5);
    expect(a.prefetched).toBe(true);
    await bump(f);
    // Ids already in memory were granted under the old epoch (they stay unique); no new segment is.
    expect([await a.next(), await a.next(), await a.next()]).toEqual([4, 5, 6]);
    await expect(a.next()).rejects.toMatchObject({ code: ErrorCode.FENCED });
    await expect(a.next()).rejects.toMatchObject({ code: ErrorCode.FENCED });
    // The segment row is where the old owner left it: the new owner continues above every id handed out.
    const next = new SegmentAllocator(db.sql, { name: 'after-bump', step: 3, fence: { ...f, epoch: f.epoch + 1 } });
    expect(await next.next()).toBe(7);
  });
});
