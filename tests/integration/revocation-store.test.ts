import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RevocationStore } from '../../storage/revocation-store.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';

describe('revocation store – real Postgres', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('revocations – a later sign-out of the same target wins; pruning forgets only the ones below the cutoff', async () => {
    const store = new RevocationStore(db.sql);
    await store.revoke('old', 'phone', 1_000);
    await store.revoke('old', undefined, 2_000);
    await store.revoke('new', 'phone', 5_000);
    await store.revoke('new', 'phone', 4_000); // an earlier time never moves a revocation back
    expect(await store.prune(2_000)).toBe(1);
    expect((await store.all()).sort((a, b) => a.beforeMs - b.beforeMs)).toEqual([
      { uid: 'old', beforeMs: 2_000 },
      { uid: 'new', did: 'phone', beforeMs: 5_000 },
    ]);
    expect(await store.prune(10_000)).toBe(2);
    expect(await store.all()).toEqual([]);
  });
});
