import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../storage/migrate.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { waitUntil } from '../helpers/wait.js';

/** The migration runner against a real Postgres, with migrations of its own in a scratch folder. */
describe('migrate – real Postgres', () => {
  let db: TestDatabase;
  let dir: string;
  beforeAll(async () => {
    db = await createTestDatabase({ migrate: false });
    dir = await mkdtemp(path.join(os.tmpdir(), 'natsim-migrations-'));
  });
  afterAll(async () => {
    await db?.drop();
    await rm(dir, { recursive: true, force: true });
  });

  const write = (file: string, sql: string) => writeFile(path.join(dir, file), sql);
  const indexState = async (name: string) =>
    (await db.sql<{ valid: boolean }[]>`SELECT i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = ${name}`).map((r) => r.valid);

  it('migrate – plain migrations go in in order, each in a transaction, a concurrent one alone outside any; nodes starting at once apply each once; a failed concurrent build is built again on the next start', async () => {
    await write('001_t.sql', 'CREATE TABLE t (x int NOT NULL); INSERT INTO t VALUES (1), (1), (2);');
    // Unique on duplicate values: the concurrent build fails and leaves an invalid index behind.
    await write('002_t_x.concurrent.sql', 'CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS t_x ON t (x)');
    await write('003_u.sql', 'CREATE TABLE u (y int);');
    const starts = await Promise.allSettled([migrate(db.sql, dir), migrate(db.sql, dir)]);
    // One start applied the first migration and failed on the second; the other then found only the second to do, and failed on it too.
    expect(starts.map((s) => s.status)).toEqual(['rejected', 'rejected']);
    expect((await db.sql`SELECT version FROM schema_migrations ORDER BY version`).map((r) => r['version'])).toEqual([1]);
    expect(await indexState('t_x')).toEqual([false]);
    expect((await db.sql`SELECT to_regclass('u') AS u`)[0]!['u']).toBeNull();

    // The data is put right (by hand, or a later fix): the next start drops the invalid index and builds it again.
    await db.sql`DELETE FROM t WHERE ctid = (SELECT ctid FROM t WHERE x = 1 LIMIT 1)`;
    expect(await migrate(db.sql, dir)).toEqual([2, 3]);
    expect(await indexState('t_x')).toEqual([true]);
    expect((await db.sql`SELECT to_regclass('u') AS u`)[0]!['u']).toBe('u');
    // Several starts at once when everything is applied: nothing to do for any.
    expect(await Promise.all([migrate(db.sql, dir), migrate(db.sql, dir)])).toEqual([[], []]);
  });

  it('migrate – each plain migration commits on its own: a table one changed is not held locked while the next ones run', async () => {
    const own = await mkdtemp(path.join(os.tmpdir(), 'natsim-migrations-'));
    const fresh = await createTestDatabase({ migrate: false });
    try {
      await writeFile(path.join(own, '001_a.sql'), 'CREATE TABLE a (x int); INSERT INTO a VALUES (1);');
      await writeFile(path.join(own, '002_a_y.sql'), 'ALTER TABLE a ADD COLUMN y int;');
      await writeFile(path.join(own, '003_slow.sql'), 'SELECT pg_sleep(3);');
      const run = migrate(fresh.sql, own);
      await waitUntil(async () => (await fresh.sql`SELECT 1 FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(3)%'`).length > 0, 'the slow migration running');
      // In one transaction with 003, 002's ALTER would hold the table (access exclusive) until 003 ended.
      const read = await fresh.sql.begin(async (tx) => {
        await tx`SET LOCAL lock_timeout = '500ms'`;
        return tx`SELECT x, y FROM a`;
      });
      expect([...read]).toEqual([{ x: 1, y: null }]);
      expect(await run).toEqual([1, 2, 3]);
    } finally {
      await fresh.drop();
      await rm(own, { recursive: true, force: true });
    }
  });

  it('migrate – nodes starting at once while a concurrent index builds both finish; an invalid index not its own is left alone', async () => {
    const own = await mkdtemp(path.join(os.tmpdir(), 'natsim-migrations-'));
    const fresh = await createTestDatabase({ migrate: false });
    try {
      // An operator's index whose concurrent build failed (or is under way): not the migration's to drop.
      await fresh.sql`CREATE TABLE op (x int)`;
      await fresh.sql`INSERT INTO op VALUES (1), (1)`;
      await expect(fresh.sql`CREATE UNIQUE INDEX CONCURRENTLY op_x ON op (x)`).rejects.toThrow();
      await writeFile(path.join(own, '001_w.sql'), 'CREATE TABLE w (x int NOT NULL); INSERT INTO w SELECT g FROM generate_series(1, 200000) AS g;');
      await writeFile(path.join(own, '002_w_x.concurrent.sql'), 'CREATE INDEX CONCURRENTLY IF NOT EXISTS w_x ON w (x)');
      // The second start waits for the first's lock while the first builds the index, which waits out open snapshots.
      const starts = await Promise.all([migrate(fresh.sql, own), migrate(fresh.sql, own)]);
      expect(starts.flat().sort()).toEqual([1, 2]);
      const state = async (name: string) => (await fresh.sql<{ valid: boolean }[]>`SELECT i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = ${name}`).map((r) => r.valid);
      expect(await state('w_x')).toEqual([true]);
      expect(await state('op_x')).toEqual([false]);
    } finally {
      await fresh.drop();
      await rm(own, { recursive: true, force: true });
    }
  });

  it("migrate – a migration waiting for a table a long transaction holds does not stall the table's other statements, and goes in once the transaction ends; past its tries it fails naming the cause", async () => {
    const fresh = await createTestDatabase({ migrate: false, poolSize: 4 });
    const own = await mkdtemp(path.join(os.tmpdir(), 'natsim-migrations-'));
    const holder = await fresh.sql.reserve();
    try {
      await writeFile(path.join(own, '001_t.sql'), 'CREATE TABLE chat_rows (x int); INSERT INTO chat_rows VALUES (1);');
      expect(await migrate(fresh.sql, own)).toEqual([1]);
      await writeFile(path.join(own, '002_t_y.sql'), 'ALTER TABLE chat_rows ADD COLUMN y int;');
      // A long transaction that read the table: the ALTER's lock waits for it.
      await holder`BEGIN`;
      await holder`SELECT * FROM chat_rows`;
      await expect(migrate(fresh.sql, own, { lockTimeoutMs: 200, lockTries: 2 })).rejects.toThrow(/002_t_y: a table's lock stayed taken through 2 tries of 200 ms/);
      const upgrade = migrate(fresh.sql, own, { lockTimeoutMs: 200, lockTries: 100 });
      await new Promise((r) => setTimeout(r, 300));
      // Chat traffic on the table meanwhile: it waits at most one lock timeout behind the migration, not for the transaction.
      const started = Date.now();
      expect(await fresh.sql`SELECT x FROM chat_rows`).toEqual([{ x: 1 }]);
      expect(Date.now() - started).toBeLessThan(1_500);
      await new Promise((r) => setTimeout(r, 1_500));
      await holder`COMMIT`;
      expect(await upgrade).toEqual([2]);
      expect(await fresh.sql`SELECT x, y FROM chat_rows`).toEqual([{ x: 1, y: null }]);
    } finally {
      holder.release();
      await fresh.drop();
      await rm(own, { recursive: true, force: true });
    }
  }, 30_000);

  it('migrate – a plain migration that fails leaves nothing of itself applied; those before it stay, and the next start goes on from it', async () => {
    await write('004_v.sql', 'CREATE TABLE v (z int);');
    await write('005_bad.sql', 'CREATE TABLE w5 (z int); CREATE TABLE v (z int);');
    await expect(migrate(db.sql, dir)).rejects.toThrow(/already exists/);
    expect((await db.sql`SELECT to_regclass('v') AS v, to_regclass('w5') AS w`)[0]).toEqual({ v: 'v', w: null });
    expect((await db.sql`SELECT max(version)::int AS v FROM schema_migrations`)[0]!['v']).toBe(4);
    // Put right (a fixed release): the next start applies it alone.
    await write('005_bad.sql', 'CREATE TABLE w5 (z int);');
    expect(await migrate(db.sql, dir)).toEqual([5]);
  });

  it('migrate – the project’s own migrations apply to an empty database, their concurrent index valid', async () => {
    const fresh = await createTestDatabase({ migrate: false });
    try {
      const applied = await migrate(fresh.sql);
      expect(applied).toContain(255);
      const [idx] = await fresh.sql<{ valid: boolean }[]>`SELECT i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'mentions_by_conv'`;
      expect(idx?.valid).toBe(true);
      expect(await migrate(fresh.sql)).toEqual([]);
    } finally {
      await fresh.drop();
    }
  });
});
