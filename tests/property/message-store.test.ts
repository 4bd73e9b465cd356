import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../protocol/errors.js';
import { MessageStore, type NewMessage } from '../../storage/message-store.js';
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
        const stored = await db.sql<{ sender_did: string; client_msg_id: number; seq: number }[]>`SELECT sender_did, client_msg_id, seq FROM messages WHERE conv_id = ${conv}`;
        const key = (d: string, c: number) => `${d}/${c}`;
        const storedByKey = new Map(stored.map((r) => [key(r.sender_did, r.client_msg_id), r.seq]));
        const distinct = new Set(batches.flat().map((s) => key(s.did, s.cid)));
        expect(stored.length).toBe(distinct.size);
        results.flat().forEach((r) => {
          expect(r.seq).toBe(storedByKey.get(key(r.senderDid, r.clientMsgId)));
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
    expect(await store.lastSeq('bad')).toBe(0);
  });
});
