import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LastSeenStore } from '../../storage/last-seen-store.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';

describe('last seen store – real Postgres', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase({ poolSize: 2 });
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('last seen – times recorded in one turn are written together; a later time wins, an earlier one changes nothing', async () => {
    const errors: unknown[] = [];
    const store = new LastSeenStore(db.sql, 5_000, (err) => errors.push(err));
    store.record('ann', 1_800_000_000_123);
    store.record('bob', 1_800_000_000_456);
    store.record('ann', 1_700_000_000_000); // an older time for ann in the same turn
    await store.flush();
    expect(await store.of(['ann', 'bob', 'cy'])).toEqual(new Map([['ann', 1_800_000_000_123], ['bob', 1_800_000_000_456]]));
    store.record('bob', 1_700_000_000_000); // older than the stored one
    store.record('ann', 1_900_000_000_001);
    await store.flush();
    expect(await store.of(['ann', 'bob'])).toEqual(new Map([['ann', 1_900_000_000_001], ['bob', 1_800_000_000_456]]));
    // Thousands going offline at once (a gateway dying), in statements of 5,000 rows.
    for (let i = 0; i < 12_000; i++) store.record(`u${i}`, 1_800_000_000_000 + i);
    await store.flush();
    const stored = await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM user_last_seen WHERE uid LIKE 'u%'`;
    expect(stored[0]!.n).toBe(12_000);
    expect(errors).toEqual([]);
  });
});
