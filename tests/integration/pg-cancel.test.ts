import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';

/**
 * postgres.js' Query.cancel() returned null instead of the promise of the cancel it starts, so a failed cancel (its
 * own connection refused: Postgres' host down while a statement waits) was an unhandled rejection, which ends a
 * Node process. scripts/patch-deps.mjs makes it return the promise; storage/pg-errors.ts `bounded` catches it.
 */
describe('postgres.js – cancelling a statement', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase({ migrate: false, poolSize: 2 });
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('postgres.js – cancel() hands back its promise, which settles, and the statement fails as cancelled', async () => {
    const q = db.sql`SELECT pg_sleep(10)`;
    const outcome = q.then(
      () => 'done',
      (err: { code?: string }) => err.code,
    );
    await new Promise((r) => setTimeout(r, 200));
    const cancelled = q.cancel() as unknown;
    expect(cancelled).toBeInstanceOf(Promise);
    await cancelled;
    expect(await outcome).toBe('57014');
  });
});
