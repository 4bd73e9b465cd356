import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MessageStore } from '../../storage/message-store.js';
import { MessageRetentionStore, RETENTION_LOCK_KEY, RETENTION_ROWS_PER_BATCH, RETENTION_ROWS_PER_CONV, type RetentionBatch } from '../../storage/message-retention-store.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';

/** The retention sweep's batches against a real Postgres: what goes, what stays, and how a backlog is split up. */
describe('message retention store – real Postgres', () => {
  let db: TestDatabase;
  let store: MessageRetentionStore;
  beforeAll(async () => {
    db = await createTestDatabase();
    store = new MessageRetentionStore(db.sql);
  });
  afterAll(async () => {
    await db?.drop();
  });

  /** Messages first..last (seqs, contiguous) in `conv`, committed `ageSec` ago. */
  const fill = async (conv: string, first: number, last: number, ageSec: number) => {
    await db.sql`INSERT INTO conversations (conv_id, kind) VALUES (${conv}, 'group') ON CONFLICT DO NOTHING`;
    await db.sql`
      INSERT INTO messages (conv_id, seq, prev_seq, sender_uid, sender_did, client_msg_id, body, created_at)
      SELECT ${conv}, i, i - 1, 'u', 'd', i, convert_to('m' || i, 'UTF8'), now() - ${ageSec} * interval '1 second' FROM generate_series(${first}::int8, ${last}::int8) i`;
  };
  const seqs = async (conv: string) => (await db.sql<{ seq: number; body: Buffer }[]>`SELECT seq, body FROM messages WHERE conv_id = ${conv} ORDER BY seq`).map((r) => (r.body.length === 0 ? `${r.seq}:` : r.seq));
  const expiredSeq = async (conv: string) => (await db.sql<{ e: number }[]>`SELECT expired_seq AS e FROM conversations WHERE conv_id = ${conv}`)[0]!.e;
  /** Batches from the start until a pass ends; what each returned. */
  const pass = async (retentionSec: number) => {
    const out: RetentionBatch[] = [];
    let after = '';
    for (let i = 0; i < 100; i++) {
      const b = await store.sweep(after, retentionSec);
      out.push(b);
      if (b.busy || b.next === undefined) break;
      after = b.next;
    }
    return out;
  };

  it('retention store – a pass expires what is older than the retention, a long backlog over several batches, keeps each conversation’s last row emptied, and drops the mention and hidden-message rows', async () => {
    await fill('a-big', 1, 2_500, 3_600);
    await fill('b-mixed', 1, 3, 3_600);
    await fill('b-mixed', 4, 5, 0);
    await fill('c-new', 1, 2, 0);
    await db.sql`INSERT INTO mentions (uid, conv_id, seq) VALUES ('u1', 'a-big', 5), ('u1', 'b-mixed', 2), ('u1', 'b-mixed', 4)`;
    await db.sql`INSERT INTO hidden_messages (uid, conv_id, seq) VALUES ('u1', 'a-big', 7), ('u1', 'b-mixed', 3), ('u1', 'b-mixed', 5)`;

    const batches = await pass(600);
    // The big one loses RETENTION_ROWS_PER_CONV a batch and is looked at again until it is done.
    expect(batches.map((b) => b.deleted)).toEqual([RETENTION_ROWS_PER_CONV, RETENTION_ROWS_PER_CONV, 499 + 3]);
    expect(batches.map((b) => b.next)).toEqual(['', '', undefined]);
    // Each batch names what expired where (for telling the members online).
    expect(batches.map((b) => b.expired)).toEqual([[{ conv: 'a-big', upto: 1_000 }], [{ conv: 'a-big', upto: 2_000 }], [{ conv: 'a-big', upto: 2_500 }, { conv: 'b-mixed', upto: 3 }]]);
    expect(await seqs('a-big')).toEqual(['2500:']);
    expect(await seqs('b-mixed')).toEqual([4, 5]);
    expect(await seqs('c-new')).toEqual([1, 2]);
    expect([await expiredSeq('a-big'), await expiredSeq('b-mixed'), await expiredSeq('c-new')]).toEqual([2_500, 3, 0]);
    expect((await db.sql`SELECT conv_id, seq FROM mentions ORDER BY conv_id, seq`).map((r) => `${r['conv_id']}:${r['seq']}`)).toEqual(['b-mixed:4']);
    expect((await db.sql`SELECT conv_id, seq FROM hidden_messages ORDER BY conv_id, seq`).map((r) => `${r['conv_id']}:${r['seq']}`)).toEqual(['b-mixed:5']);
    // Nothing more to do: a pass changes nothing.
    expect(await pass(600)).toEqual([{ busy: false, conversations: 0, deleted: 0, expired: [] }]);
    // A newer last message lets the old anchor go at last.
    await fill('a-big', 2_501, 2_501, 3_600);
    await fill('a-big', 2_502, 2_502, 0);
    await pass(600);
    expect(await seqs('a-big')).toEqual([2_502]);
    expect(await expiredSeq('a-big')).toBe(2_501);
    await db.sql`DELETE FROM messages; DELETE FROM mentions; DELETE FROM hidden_messages; DELETE FROM members; DELETE FROM conversations`.simple();
  });

  it('retention store – a device whose messages all expired resumes its sender order from its last cid, not from 0', async () => {
    await fill('k-cids', 1, 3, 3_600);
    // Someone else spoke since: the device's messages are not the anchor, and all of them go.
    await db.sql`INSERT INTO messages (conv_id, seq, prev_seq, sender_uid, sender_did, client_msg_id, body) VALUES ('k-cids', 4, 3, 'v', 'd2', 1, convert_to('hi', 'UTF8'))`;
    const messages = new MessageStore(db.sql);
    expect(await messages.lastClientMsgId('k-cids', 'u', 'd')).toBe(3);
    await pass(600);
    expect(await seqs('k-cids')).toEqual([4]);
    // Its next send names cid 3 as `after`: that must read as stored, or it is refused out_of_order for good.
    expect(await messages.lastClientMsgId('k-cids', 'u', 'd')).toBe(3);
    expect(await messages.lastClientMsgId('k-cids', 'v', 'd2')).toBe(1);
    expect(await messages.lastClientMsgId('k-cids', 'u', 'other')).toBe(0);
    await db.sql`DELETE FROM messages; DELETE FROM conversations`.simple();
  });

  it('retention store – a batch stops near RETENTION_ROWS_PER_BATCH messages and the next one goes on from there', async () => {
    const per = 900;
    const convs = Math.ceil(RETENTION_ROWS_PER_BATCH / per) + 2;
    for (let i = 0; i < convs; i++) await fill(`r-${String(i).padStart(3, '0')}`, 1, per + 1, 3_600);
    const batches = await pass(600);
    const fit = Math.floor(RETENTION_ROWS_PER_BATCH / per);
    expect(batches.map((b) => b.conversations)).toEqual([fit, convs - fit]);
    expect(batches[0]!.next).toBe(`r-${String(fit - 1).padStart(3, '0')}`);
    expect(batches.reduce((n, b) => n + b.deleted, 0)).toBe(convs * per);
    expect((await db.sql`SELECT count(*)::int AS n FROM messages`)[0]!['n']).toBe(convs);
    await db.sql`DELETE FROM messages; DELETE FROM conversations`.simple();
  });

  it('retention store – a conversation’s own retention applies alone when the cluster keeps messages for good, and the shorter one when both are set', async () => {
    await fill('own-short', 1, 2, 600);
    await fill('own-short', 3, 3, 0);
    await fill('no-own', 1, 2, 600);
    await db.sql`UPDATE conversations SET retention_sec = 60 WHERE conv_id = 'own-short'`;
    // The cluster keeps messages for good: only the conversation with its own retention is walked.
    expect(await pass(0)).toEqual([{ busy: false, conversations: 1, deleted: 2, expired: [{ conv: 'own-short', upto: 2 }] }]);
    expect([await seqs('own-short'), await seqs('no-own')]).toEqual([[3], [1, 2]]);
    // Both set: the shorter (the conversation's 60 s against the cluster's day) — and the cluster's for the other.
    // (Commit times grow with seqs: the sweep reads a conversation's oldest first.)
    await db.sql`UPDATE messages SET created_at = now() - interval '5 minutes' WHERE conv_id = 'own-short' AND seq = 3`;
    await fill('own-short', 4, 4, 0);
    await db.sql`UPDATE messages SET created_at = now() - interval '2 days' WHERE conv_id = 'no-own' AND seq = 1`;
    // The walk of conversations with their own retention alone, under a cluster retention: the other waits for the
    // walk of every conversation.
    await fill('own-short', 5, 5, 0);
    await db.sql`UPDATE messages SET created_at = now() - interval '5 minutes' WHERE conv_id = 'own-short' AND seq = 4`;
    expect(await store.sweep('', 86_400, true)).toEqual({ busy: false, conversations: 1, deleted: 2, expired: [{ conv: 'own-short', upto: 4 }] });
    expect([await seqs('own-short'), await seqs('no-own')]).toEqual([[5], [1, 2]]);
    await pass(86_400);
    expect([await seqs('own-short'), await seqs('no-own')]).toEqual([[5], [2]]);
    await db.sql`DELETE FROM messages; DELETE FROM conversations`.simple();
  });

  it('retention store – while another node holds the sweep, a batch does nothing and says so', async () => {
    await fill('held', 1, 3, 3_600);
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let locked!: () => void;
    const isLocked = new Promise<void>((r) => (locked = r));
    const other = db.sql.begin(async (tx) => {
      await tx`SELECT pg_advisory_xact_lock(${RETENTION_LOCK_KEY})`;
      locked();
      await held;
    });
    await isLocked;
    expect(await store.sweep('', 600)).toEqual({ busy: true, conversations: 0, deleted: 0, expired: [] });
    expect(await seqs('held')).toEqual([1, 2, 3]);
    release();
    await other;
    expect(await store.sweep('', 600)).toMatchObject({ busy: false, conversations: 1, deleted: 2 });
  });
});
