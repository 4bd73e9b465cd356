import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../protocol/errors.js';
import { connect } from '../../storage/db.js';
import { guard } from '../../storage/pg-errors.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A backend that ends under a transaction (Postgres restarting, an operator's pg_terminate_backend, our own
 * idle_in_transaction_session_timeout). postgres.js crashed the process from a setImmediate and could run the
 * transaction's later statements on the reconnected backend (scripts/patch-deps.mjs). A crash shows here as an
 * unhandled error, which fails the run.
 */
describe('postgres.js – a connection lost under a transaction', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase({ migrate: false, poolSize: 2 });
    await db.sql`CREATE TABLE loss_probe (n int)`;
  });
  afterAll(async () => {
    await db?.drop();
  });

  const endBackend = (app: string) => db.sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = ${app}`;

  it('postgres.js – a transaction whose backend ends mid-statement fails retryably and the pool serves the next statement', async () => {
    const sql = connect(db.url, { max: 1, applicationName: 'loss-mid-statement' });
    try {
      // Settled into a value at once: it fails while endBackend is still awaited, and a rejection with no handler
      // yet is reported as unhandled.
      const tx = guard('probe', () =>
        sql.begin(async (t) => {
          await t`INSERT INTO loss_probe VALUES (1)`;
          await t`SELECT pg_sleep(5)`;
        }),
      ).then(
        () => 'committed',
        (e: unknown) => e,
      );
      await sleep(200);
      await endBackend('loss-mid-statement');
      expect(await tx).toMatchObject({ code: ErrorCode.UNAVAILABLE });
      // The reconnected connection's first statement used to fail with the ended backend's error.
      expect(await sql<{ x: number }[]>`SELECT 2 AS x`).toEqual([{ x: 2 }]);
      await sleep(100);
      expect(await db.sql`SELECT n FROM loss_probe`).toEqual([]);
    } finally {
      await sql.end({ timeout: 1 });
    }
  });

  it("postgres.js – a transaction's statement after its backend ended is refused, not run on the reconnected one", async () => {
    const sql = connect(db.url, { max: 1, applicationName: 'loss-between-statements' });
    try {
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      let inserted!: () => void;
      const first = new Promise<void>((r) => (inserted = r));
      let later: Promise<unknown> | undefined;
      const tx = sql.begin(async (t) => {
        await t`INSERT INTO loss_probe VALUES (10)`;
        inserted();
        await gate;
        later = t`INSERT INTO loss_probe VALUES (11)`.then(() => 'ran', (e: { code?: string }) => e.code);
        await later;
      });
      const outcome = tx.then(() => 'committed', (e: { code?: string }) => e.code);
      await first;
      await endBackend('loss-between-statements');
      expect(await outcome).toBe('CONNECTION_CLOSED');
      // The pool reconnects the same connection for another caller; then the first transaction's callback goes on.
      expect(await sql<{ x: number }[]>`SELECT 3 AS x`).toEqual([{ x: 3 }]);
      release();
      await sleep(200);
      expect(await later).toBe('CONNECTION_CLOSED');
      expect(await sql<{ x: number }[]>`SELECT 4 AS x`).toEqual([{ x: 4 }]);
      expect(await db.sql`SELECT n FROM loss_probe`).toEqual([]);
    } finally {
      await sql.end({ timeout: 1 });
    }
  });
});
