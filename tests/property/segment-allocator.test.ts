import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../protocol/errors.js';
import { SegmentAllocator } from '../../storage/segment-allocator.js';
import { ShardMapStore } from '../../storage/shard-map-store.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';

describe('segment allocator – real Postgres', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase({ poolSize: 12 });
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('segment allocator – ids are unique and strictly increasing per allocator under random allocate / restart / racing allocators', async () => {
    let run = 0;
    const action = fc.oneof(
      fc.record({ t: fc.constant('alloc' as const), who: fc.nat(2), n: fc.integer({ min: 1, max: 40 }) }),
      fc.record({ t: fc.constant('burst' as const), who: fc.nat(2), n: fc.integer({ min: 2, max: 30 }) }),
      fc.record({ t: fc.constant('restart' as const), who: fc.nat(2) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(action, { minLength: 1, maxLength: 25 }), fc.integer({ min: 1, max: 30 }), async (actions, step) => {
        const name = `prop-${run++}`;
        const make = () => new SegmentAllocator(db.sql, { name, step });
        const allocators = [make(), make(), make()];
        const lastOf = [0, 0, 0];
        const all: number[] = [];
        // Each action runs on all its allocators concurrently with the other allocators' work.
        await Promise.all(
          [0, 1, 2].map(async (who) => {
            for (const a of actions.filter((x) => x.who === who)) {
              if (a.t === 'restart') {
                // A crash: the old allocator is dropped without close, its unused ids are lost for good.
                allocators[who] = make();
                continue;
              }
              if (a.t === 'burst') {
                // Many callers of one allocator at once, some from memory, some waiting on one shared grab.
                const ids = await Promise.all(Array.from({ length: a.n }, (_, i) => (i % 2 ? allocators[who]!.next() : Promise.resolve(allocators[who]!.tryNext()))));
                const got = ids.filter((x): x is number => x !== undefined);
                expect(new Set(got).size).toBe(got.length);
                got.forEach((id) => expect(id).toBeGreaterThan(lastOf[who]!));
                lastOf[who] = Math.max(lastOf[who]!, ...got);
                all.push(...got);
                continue;
              }
              for (let i = 0; i < a.n; i++) {
                const id = await allocators[who]!.next();
                expect(id).toBeGreaterThan(lastOf[who]!);
                lastOf[who] = id;
                all.push(id);
              }
            }
          }),
        );
        expect(new Set(all).size).toBe(all.length);
      }),
      { numRuns: 40 },
    );
  });

  it('segment allocator – after warm-up ids come from memory without waiting, and a restart never goes back', async () => {
    const step = 1000;
    // A fixed segment size here (minSegmentMs 0): the test steps through segments by their known size.
    const a = new SegmentAllocator(db.sql, { name: 'hot', step, minSegmentMs: 0 });
    await a.warm();
    let last = 0;
    const takeSync = (n: number): void => {
      for (let i = 0; i < n; i++) {
        const id = a.tryNext();
        expect(id).toBeDefined();
        expect(id!).toBeGreaterThan(last);
        last = id!;
      }
    };
    for (let segment = 0; segment < 5; segment++) {
      // Using 10% of a segment starts the background fetch of the next one …
      takeSync(step * 0.1 + 1);
      for (let waited = 0; !a.prefetched && waited < 5000; waited += 5) await new Promise((r) => setTimeout(r, 5));
      expect(a.prefetched).toBe(true);
      // … so the rest of it, and the switch to the next one, never wait on Postgres.
      takeSync(step - step * 0.1 - 1);
    }
    const b = new SegmentAllocator(db.sql, { name: 'hot', step });
    expect(await b.next()).toBeGreaterThan(last);
  });

  it('segment allocator – ids taken fast make the next segments bigger (up to maxStep), taken slowly back to step', async () => {
    let t = 0;
    // Prefetch at half a segment: 5 ids at step 10. The clock is fake so the rates are exact on any box.
    const a = new SegmentAllocator(db.sql, { name: 'rate', step: 10, maxStep: 80, minSegmentMs: 100, prefetchRatio: 0.5, now: () => t });
    await a.warm();
    let last = 0;
    const sizes: number[] = [];
    const take = async (n: number, msPerId: number): Promise<void> => {
      for (let i = 0; i < n; i++) {
        t += msPerId;
        const id = await a.next();
        expect(id).toBeGreaterThan(last);
        last = id;
        if (sizes.at(-1) !== a.segmentSize) sizes.push(a.segmentSize);
      }
    };
    // A burst: the first segment's 5 ids in no time; 10 ids would last 0 ms, so the next grab is the largest.
    await take(11, 0);
    expect(sizes).toEqual([10, 80]);
    // 4 ms an id: 20 ids would last 80 ms, 40 last 160; the window (burst included) gives 3.6 ms an id → 40.
    await take(79 + 40, 4);
    expect(sizes).toEqual([10, 80, 40]);
    // 50 ms an id: the smallest segment already lasts 500 ms.
    await take(60, 50);
    expect(sizes).toEqual([10, 80, 40, 10]);
    // The database row advanced by exactly the segments grabbed.
    const [row] = await db.sql<{ max_id: number }[]>`SELECT max_id FROM seq_segments WHERE name = 'rate'`;
    expect(row!.max_id).toBeGreaterThanOrEqual(last);
  });

  it('segment allocator – a prefetch retried after a failed grab keeps the size the rate gave, not one measured over a single id', async () => {
    let t = 0;
    const a = new SegmentAllocator(db.sql, { name: 'retry-size', step: 10, maxStep: 80, minSegmentMs: 100, prefetchRatio: 0.5, timeoutMs: 150, now: () => t });
    await a.warm();
    const holder = await db.sql.reserve();
    try {
      await holder`BEGIN`;
      await holder`SELECT * FROM seq_segments WHERE name = 'retry-size' FOR UPDATE`;
      // 50 ms an id: the smallest segment lasts 500 ms, so the grab started at the 5th id asks for 10 ids ...
      for (let i = 0; i < 5; i++) {
        t += 50;
        expect(a.tryNext()).toBeDefined();
      }
      // ... and runs into its deadline behind the lock.
      await new Promise((r) => setTimeout(r, 400));
      expect(a.prefetched).toBe(false);
      await holder`COMMIT`;
    } finally {
      holder.release();
    }
    // The 6th id, at once, starts the grab again: one id in no time says nothing of the rate.
    expect(a.tryNext()).toBeDefined();
    for (let i = 0; !a.prefetched && i < 500; i++) await new Promise((r) => setTimeout(r, 5));
    for (let i = 0; i < 5; i++) await a.next();
    expect(a.segmentSize).toBe(10);
  });

  it('segment allocator – a stale shard epoch is refused with FENCED and hands out nothing new', async () => {
    const shards = new ShardMapStore(db.sql);
    await shards.ensureKind('chatter', 4);
    const row = (await shards.assign('chatter', 1, 0, 'n1'))!;
    // Fixed segment sizes (minSegmentMs 0): what may still come from memory is known.
    const a = new SegmentAllocator(db.sql, { name: 'fenced', step: 5, minSegmentMs: 0, fence: { kind: 'chatter', shard: 1, epoch: row.epoch } });
    const first = await a.next();
    expect(first).toBe(1);
    await shards.assign('chatter', 1, row.epoch, 'n2');
    const got: number[] = [];
    let error: unknown;
    try {
      for (let i = 0; i < 20; i++) got.push(await a.next());
    } catch (err) {
      error = err;
    }
    expect((error as { code?: string }).code).toBe(ErrorCode.FENCED);
    // Only what was already in memory (the first segment, maybe the prefetched second) came out.
    expect(Math.max(...got, first)).toBeLessThanOrEqual(10);
  });

  it('segment allocator – a failed grab rejects every waiting caller with one coded error and is retried on the next call', async () => {
    // Fixed segment sizes (minSegmentMs 0): the test checks exact ids.
    const first = new SegmentAllocator(db.sql, { name: 'flaky', step: 10, prefetchRatio: 1, minSegmentMs: 0 });
    expect(await first.nextMany(10)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    for (let i = 0; !first.prefetched && i < 500; i++) await new Promise((r) => setTimeout(r, 5));
    // Another session holds the segment row, so a grab runs into its deadline.
    const a = new SegmentAllocator(db.sql, { name: 'flaky', step: 10, prefetchRatio: 1, timeoutMs: 150, minSegmentMs: 0 });
    const holder = await db.sql.reserve();
    try {
      await holder`BEGIN`;
      await holder`SELECT * FROM seq_segments WHERE name = 'flaky' FOR UPDATE`;
      const outcomes = await Promise.allSettled([a.next(), a.next(), a.next()]);
      for (const o of outcomes) {
        expect(o.status).toBe('rejected');
        expect((o as PromiseRejectedResult).reason).toMatchObject({ name: 'ImError', code: ErrorCode.TIMEOUT });
      }
      // The deadline also cancelled the statement on the server: nothing waits on the row any more.
      for (let i = 0; i < 200; i++) {
        const waiting = await db.sql`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%seq_segments%'`;
        if (waiting.length === 0) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      await holder`COMMIT`;
    } finally {
      holder.release();
    }
    const ids = await a.nextMany(15);
    expect(ids).toEqual([21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35]);
    // The timed-out grab advanced nothing: it was cancelled, not left to commit later.
    const [row] = await db.sql<{ max_id: number }[]>`SELECT max_id FROM seq_segments WHERE name = 'flaky'`;
    expect(row!.max_id).toBe(40);
    a.close();
    expect(a.tryNext()).toBeUndefined();
    await expect(a.next()).rejects.toMatchObject({ code: ErrorCode.CLOSED });
  });

  it('segment allocator – an unreachable database is UNAVAILABLE, not a crash', async () => {
    const { connect } = await import('../../storage/db.js');
    const dead = connect('postgres://postgres:postgres@127.0.0.1:1/none', { max: 1, connectTimeoutSec: 2 });
    try {
      const a = new SegmentAllocator(dead, { name: 'nowhere', step: 10 });
      await expect(a.next()).rejects.toMatchObject({ code: ErrorCode.UNAVAILABLE });
    } finally {
      await dead.end({ timeout: 1 });
    }
  });

  it('segment allocator – bad names and steps are refused with a coded error', () => {
    expect(() => new SegmentAllocator(db.sql, { name: '' })).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_FIELD }));
    expect(() => new SegmentAllocator(db.sql, { name: 'x', step: 0 })).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_FIELD }));
    expect(() => new SegmentAllocator(db.sql, { name: 'x', step: 1.5 })).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_FIELD }));
    expect(() => new SegmentAllocator(db.sql, { name: 'x', prefetchRatio: 2 })).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_FIELD }));
    expect(() => new SegmentAllocator(db.sql, { name: 'x', fence: { kind: '', shard: 0, epoch: 0 } })).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_FIELD }));
    expect(() => new SegmentAllocator(db.sql, { name: 'x', step: 10, maxStep: 5 })).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_FIELD }));
    expect(() => new SegmentAllocator(db.sql, { name: 'x', minSegmentMs: -1 })).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_FIELD }));
  });
});
