import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConversationStore } from '../../storage/conversation-store.js';
import { DeliveredMarkStore } from '../../storage/delivered-mark-store.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';

describe('delivered mark store – real Postgres', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase({ poolSize: 3 });
  });
  afterAll(async () => {
    await db?.drop();
  });

  const marks = async (conv: string): Promise<Record<string, number>> =>
    Object.fromEntries((await new ConversationStore(db.sql).members(conv)).map((m) => [m.uid, m.deliveredSeq]));

  it('delivery marks – recorded marks are written together, never moved back, and skip members who left', async () => {
    const convs = new ConversationStore(db.sql);
    await convs.createGroup({ convId: 'dm-a', owner: 'ann', members: ['bob', 'cy'] });
    const errors: unknown[] = [];
    const store = new DeliveredMarkStore(db.sql, { flushMs: 60_000, onError: (err) => errors.push(err) });
    store.record('dm-a', 'ann', 5);
    store.record('dm-a', 'bob', 7);
    store.record('dm-a', 'ann', 3); // an older ack in the same batch
    store.record('dm-a', 'zed', 9); // not a member: no row to write
    await store.flush();
    expect(await marks('dm-a')).toEqual({ ann: 5, bob: 7, cy: 0 });
    store.record('dm-a', 'bob', 6); // older than the stored mark
    store.record('dm-a', 'cy', 2);
    await store.flush();
    expect(await marks('dm-a')).toEqual({ ann: 5, bob: 7, cy: 2 });
    expect(errors).toEqual([]);
    await store.close();
  });

  it('delivery marks – a batch that fails is written with the next one; after close nothing more is taken', async () => {
    const convs = new ConversationStore(db.sql);
    await convs.createGroup({ convId: 'dm-b', owner: 'dan', members: ['eve'] });
    const errors: unknown[] = [];
    const store = new DeliveredMarkStore(db.sql, { flushMs: 60_000, onError: (err) => errors.push(err) });
    // The table is away for a moment (a statement that fails for sure: a timed-out one may still land later).
    await db.sql`ALTER TABLE members RENAME TO members_away`;
    try {
      store.record('dm-b', 'dan', 4);
      store.record('dm-b', 'eve', 2);
      await store.flush();
      expect(errors).toHaveLength(1);
    } finally {
      await db.sql`ALTER TABLE members_away RENAME TO members`;
    }
    expect(await marks('dm-b')).toEqual({ dan: 0, eve: 0 });
    // The failed marks went back into the next batch, merged with what came since.
    store.record('dm-b', 'eve', 3);
    await store.flush();
    expect(await marks('dm-b')).toEqual({ dan: 4, eve: 3 });
    await store.close();
    store.record('dm-b', 'dan', 9);
    await store.flush();
    expect(await marks('dm-b')).toEqual({ dan: 4, eve: 3 });
  });
});
