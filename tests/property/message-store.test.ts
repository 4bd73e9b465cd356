import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../protocol/errors.js';
import { MessageStore, type NewMessage } from '../../storage/message-store.js';
import { isRetryableStorageError, toStorageError } from '../../storage/pg-errors.js';
import { ShardMapStore } from '../../storage/shard-map-store.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';

describe('message store – real Postgres', () => {
  let db: TestDatabase;
  let store: MessageStore;
  beforeAll(async () => {
    db = await createTestDatabase({ poolSize: 8 });
    store = new MessageStore(db.sql);
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('message store – repeated (device, client msg id) never makes a second row and always returns the first seq', async () => {
    let run = 0;
    const send = fc.record({ did: fc.constantFrom('d1', 'd2', 'd3'), cid: fc.integer({ min: 1, max: 12 }) });
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(send, { minLength: 1, maxLength: 15 }), { minLength: 1, maxLength: 6 }), fc.boolean(), async (batches, concurrent) => {
        const conv = `conv-${run++}`;
        let seq = 0;
        // Seqs are assigned to every attempt, as a chatter would; a duplicate's new seq must be discarded.
        const toRows = (b: { did: string; cid: number }[]): NewMessage[] =>
          b.map((s) => {
            seq += 3;
            return { convId: conv, seq, prevSeq: seq - 3, senderUid: `u-${s.did}`, senderDid: s.did, clientMsgId: s.cid, body: Buffer.from(`${s.did}:${s.cid}`) };
          });
        const rowBatches = batches.map(toRows);
        const results = concurrent ? await Promise.all(rowBatches.map((b) => store.appendBatch(b))) : [];
        if (!concurrent) for (const b of rowBatches) results.push(await store.appendBatch(b));
        const stored = await db.sql<{ sender_did: string; client_msg_id: number; seq: number; prev_seq: number }[]>`SELECT sender_did, client_msg_id, seq, prev_seq FROM messages WHERE conv_id = ${conv}`;
        const key = (d: string, c: number) => `${d}/${c}`;
        const storedByKey = new Map(stored.map((r) => [key(r.sender_did, r.client_msg_id), r.seq]));
        const prevByKey = new Map(stored.map((r) => [key(r.sender_did, r.client_msg_id), r.prev_seq]));
        // Results come back in input order.
        results.forEach((res, b) => expect(res.map((r) => key(r.senderDid, r.clientMsgId))).toEqual(batches[b]!.map((x) => key(x.did, x.cid))));
        const distinct = new Set(batches.flat().map((s) => key(s.did, s.cid)));
        expect(stored.length).toBe(distinct.size);
        results.flat().forEach((r) => {
          expect(r.seq).toBe(storedByKey.get(key(r.senderDid, r.clientMsgId)));
          expect(r.prevSeq).toBe(prevByKey.get(key(r.senderDid, r.clientMsgId)));
          expect(r.createdAt).toBeGreaterThan(Date.now() - 60_000);
        });
        // Exactly one result per distinct key is the original; every other is flagged duplicate.
        expect(results.flat().filter((r) => !r.duplicate).length).toBe(distinct.size);
      }),
      { numRuns: 50 },
    );
  });

  it('message store – range reads return ascending seqs with nothing skipped', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(fc.integer({ min: 1, max: 10_000 }), { minLength: 1, maxLength: 60 }), fc.nat(10_000), fc.integer({ min: 1, max: 30 }), async (seqs, after, limit) => {
        const conv = `range-${Math.random().toString(36).slice(2)}`;
        const sorted = [...seqs].sort((a, b) => a - b);
        await store.appendBatch(sorted.map((s, i) => ({ convId: conv, seq: s, prevSeq: sorted[i - 1] ?? 0, senderUid: 'u', senderDid: 'd', clientMsgId: i + 1, body: new Uint8Array([i & 255]) })));
        const got = (await store.readAfter(conv, after, limit)).map((m) => m.seq);
        expect(got).toEqual(sorted.filter((s) => s > after).slice(0, limit));
        const before = (await store.readBefore(conv, after + 1, limit)).map((m) => m.seq);
        expect(before).toEqual(sorted.filter((s) => s <= after).slice(-limit));
        expect(await store.lastSeq(conv)).toBe(sorted.at(-1));
        expect(await store.countAfter(conv, after)).toBe(sorted.filter((s) => s > after).length);
      }),
      { numRuns: 30 },
    );
  });

  it('message store – a stale fence stores nothing and says FENCED', async () => {
    const shards = new ShardMapStore(db.sql);
    await shards.ensureKind('chatter', 4);
    const row = (await shards.assign('chatter', 2, 0, 'n1'))!;
    const m: NewMessage = { convId: 'fenced', seq: 1, prevSeq: 0, senderUid: 'u', senderDid: 'd', clientMsgId: 1, body: Buffer.from('x') };
    expect((await store.appendBatch([m], { kind: 'chatter', shard: 2, epoch: row.epoch }))[0]!.seq).toBe(1);
    await shards.assign('chatter', 2, row.epoch, 'n2');
    await expect(store.appendBatch([{ ...m, seq: 2, prevSeq: 1, clientMsgId: 2 }], { kind: 'chatter', shard: 2, epoch: row.epoch })).rejects.toMatchObject({ code: ErrorCode.FENCED });
    expect(await store.lastSeq('fenced')).toBe(1);
  });

  it('message store – invalid rows and oversized bodies are refused with a coded error and nothing is written', async () => {
    const ok: NewMessage = { convId: 'bad', seq: 1, prevSeq: 0, senderUid: 'u', senderDid: 'd', clientMsgId: 1, body: Buffer.from('x') };
    const cases: [Partial<NewMessage>, string][] = [
      [{ seq: 1.5 }, ErrorCode.INVALID_FIELD],
      [{ seq: 0 }, ErrorCode.INVALID_FIELD],
      [{ convId: '' }, ErrorCode.INVALID_FIELD],
      [{ prevSeq: 5 }, ErrorCode.INVALID_FIELD],
      [{ clientMsgId: -1 }, ErrorCode.INVALID_FIELD],
      [{ body: 'text' as unknown as Uint8Array }, ErrorCode.INVALID_FIELD],
      [{ body: new Uint8Array(64 * 1024 + 1) }, ErrorCode.FRAME_TOO_LARGE],
    ];
    for (const [patch, code] of cases) {
      await expect(store.appendBatch([{ ...ok, clientMsgId: 2, seq: 2, prevSeq: 1 }, { ...ok, ...patch }])).rejects.toMatchObject({ code });
    }
    // A configurable body limit, a seq used twice in one batch, an oversized batch, bad read arguments.
    const small = new MessageStore(db.sql, { maxBodyBytes: 10, maxBatchRows: 3 });
    await expect(small.appendBatch([{ ...ok, body: new Uint8Array(11) }])).rejects.toMatchObject({ code: ErrorCode.FRAME_TOO_LARGE });
    await expect(small.appendBatch([ok, { ...ok, clientMsgId: 2 }])).rejects.toMatchObject({ code: ErrorCode.INVALID_FIELD });
    await expect(small.appendBatch([1, 2, 3, 4].map((i) => ({ ...ok, seq: i, prevSeq: i - 1, clientMsgId: i })))).rejects.toMatchObject({ code: ErrorCode.INVALID_FIELD });
    await expect(store.appendBatch([null as unknown as NewMessage])).rejects.toMatchObject({ code: ErrorCode.INVALID_FIELD });
    await expect(store.readAfter('', 0, 10)).rejects.toMatchObject({ code: ErrorCode.INVALID_FIELD });
    await expect(store.readAfter('bad', 1.5, 10)).rejects.toMatchObject({ code: ErrorCode.INVALID_FIELD });
    await expect(store.readBefore('bad', 10, 0)).rejects.toMatchObject({ code: ErrorCode.INVALID_FIELD });
    await expect(store.countAfter('bad', -1)).rejects.toMatchObject({ code: ErrorCode.INVALID_FIELD });
    await expect(store.lastSeqs(['ok', ''])).rejects.toMatchObject({ code: ErrorCode.INVALID_FIELD });
    expect(await store.lastSeq('bad')).toBe(0);
  });

  it('message store – a seq taken by another message is a CONFLICT and the whole batch stores nothing', async () => {
    const m = (seq: number, cid: number): NewMessage => ({ convId: 'taken', seq, prevSeq: seq - 1, senderUid: 'u', senderDid: 'd', clientMsgId: cid, body: Buffer.from('x') });
    await store.appendBatch([m(1, 1)]);
    await expect(store.appendBatch([m(2, 2), m(1, 3)])).rejects.toMatchObject({ name: 'ImError', code: ErrorCode.CONFLICT });
    expect((await store.readAfter('taken', 0, 10)).map((r) => r.seq)).toEqual([1]);
    expect(await store.lastSeqs(['taken', 'none'])).toEqual(new Map([['taken', 1], ['none', 0]]));
    expect((await store.findByClientId('taken', 'u', 'd', 1))?.seq).toBe(1);
    expect(await store.findByClientId('taken', 'u', 'd', 3)).toBeUndefined();
  });

  it('message store – a duplicate committed by another writer while the batch waited is found and returned, one rolled back is stored', async () => {
    const m = (seq: number, cid: number): NewMessage => ({ convId: 'race', seq, prevSeq: seq - 1, senderUid: 'u', senderDid: 'd', clientMsgId: cid, body: Buffer.from('x') });
    for (const outcome of ['COMMIT', 'ROLLBACK'] as const) {
      const cid = outcome === 'COMMIT' ? 1 : 2;
      const other = await db.sql.reserve();
      try {
        await other`BEGIN`;
        await other`INSERT INTO messages (conv_id, seq, prev_seq, sender_uid, sender_did, client_msg_id, body) VALUES ('race', ${cid * 100}, ${cid * 100 - 1}, 'u', 'd', ${cid}, '\\x00')`;
        const pending = store.appendBatch([m(cid * 100 + 1, cid), m(cid * 100 + 2, cid + 10)]);
        for (let i = 0; i < 200; i++) {
          const w = await db.sql`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%INSERT INTO messages%unnest%'`;
          if (w.length) break;
          await new Promise((r) => setTimeout(r, 10));
        }
        await other.unsafe(outcome);
        const [dup, fresh] = await pending;
        if (outcome === 'COMMIT') expect(dup).toMatchObject({ seq: 100, prevSeq: 99, duplicate: true });
        else expect(dup).toMatchObject({ seq: 201, prevSeq: 200, duplicate: false });
        expect(fresh).toMatchObject({ seq: cid * 100 + 2, duplicate: false });
      } finally {
        other.release();
      }
    }
    expect((await store.readAfter('race', 0, 10)).map((r) => r.seq)).toEqual([100, 102, 201, 202]);
  });

  it('storage errors – a lost serialization race is a retryable CONFLICT, a unique violation a final one', async () => {
    await db.sql`INSERT INTO seq_segments (name, max_id, step) VALUES ('ser', 0, 1)`;
    const tx = await db.sql.reserve();
    let raced: unknown;
    try {
      await tx`BEGIN ISOLATION LEVEL REPEATABLE READ`;
      await tx`SELECT max_id FROM seq_segments WHERE name = 'ser'`;
      await db.sql`UPDATE seq_segments SET max_id = max_id + 1 WHERE name = 'ser'`;
      raced = await tx`UPDATE seq_segments SET max_id = max_id + 1 WHERE name = 'ser'`.then(
        () => undefined,
        (err: unknown) => toStorageError(err, 'race'),
      );
    } finally {
      await tx`ROLLBACK`.catch(() => {});
      tx.release();
    }
    expect(raced).toMatchObject({ name: 'ImError', code: ErrorCode.UNAVAILABLE });
    expect((raced as Error).cause).toMatchObject({ code: '40001' });
    expect(isRetryableStorageError(raced)).toBe(true);

    const m: NewMessage = { convId: 'final', seq: 1, prevSeq: 0, senderUid: 'u', senderDid: 'd', clientMsgId: 1, body: Buffer.from('x') };
    await store.appendBatch([m]);
    const unique = await store.appendBatch([{ ...m, clientMsgId: 2 }]).catch((err: unknown) => err);
    expect(unique).toMatchObject({ name: 'ImError', code: ErrorCode.CONFLICT });
    expect(isRetryableStorageError(unique)).toBe(false);
  });

  it('message store – an unreachable database is UNAVAILABLE', async () => {
    const { connect } = await import('../../storage/db.js');
    const dead = connect('postgres://postgres:postgres@127.0.0.1:1/none', { max: 1, connectTimeoutSec: 2 });
    try {
      await expect(new MessageStore(dead).lastSeq('x')).rejects.toMatchObject({ name: 'ImError', code: ErrorCode.UNAVAILABLE });
    } finally {
      await dead.end({ timeout: 1 });
    }
  });
});
