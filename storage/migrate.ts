import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import type { Sql } from './db.js';

const MIGRATIONS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations');
/** Any constant works; it only has to be the same for every process that migrates. */
const MIGRATION_LOCK_KEY = 7_346_501;

export interface Migration {
  version: number;
  name: string;
  sql: string;
  /**
   * `NNN_name.concurrent.sql`: one statement that must not run inside a transaction and must not hold a table's
   * writers for its whole length — `CREATE INDEX CONCURRENTLY IF NOT EXISTS …` on a big table. It runs on its own.
   */
  concurrent: boolean;
}

const CONCURRENT_SUFFIX = '.concurrent.sql';

/** Reads `NNN_name.sql` (and `NNN_name.concurrent.sql`) files in version order. */
export async function loadMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => /^\d+_.+\.sql$/.test(f)).sort();
  return Promise.all(
    files.map(async (file) => ({
      version: Number.parseInt(file, 10),
      name: file.replace(/\.sql$/, ''),
      sql: await readFile(path.join(dir, file), 'utf8'),
      concurrent: file.endsWith(CONCURRENT_SUFFIX),
    })),
  );
}

/**
 * Applies every migration not yet applied, in version order, under an advisory lock held by one connection for
 * the whole run, so that several nodes starting at once migrate exactly once (the others wait, then find nothing
 * to do). Consecutive plain migrations run in one transaction, all of them or none. A concurrent one runs alone,
 * outside any transaction, so that writers keep going while it builds; an index a failed build left invalid is
 * dropped first, so that its `IF NOT EXISTS` builds it again. Returns the versions it applied.
 */
export async function migrate(sql: Sql, dir = MIGRATIONS_DIR): Promise<number[]> {
  const migrations = await loadMigrations(dir);
  const applied: number[] = [];
  const conn = await sql.reserve();
  try {
    await conn`SELECT pg_advisory_lock(${MIGRATION_LOCK_KEY})`;
    try {
      await conn`CREATE TABLE IF NOT EXISTS schema_migrations (
        version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`;
      const done = new Set((await conn<{ version: number }[]>`SELECT version FROM schema_migrations`).map((r) => r.version));
      const pending = migrations.filter((m) => !done.has(m.version));
      for (let i = 0; i < pending.length; ) {
        if (pending[i]!.concurrent) {
          const m = pending[i++]!;
          await dropInvalidIndexes(conn);
          await conn.unsafe(m.sql);
          await conn`INSERT INTO schema_migrations (version, name) VALUES (${m.version}, ${m.name})`;
          applied.push(m.version);
          continue;
        }
        const run: Migration[] = [];
        while (i < pending.length && !pending[i]!.concurrent) run.push(pending[i++]!);
        await conn.unsafe('BEGIN');
        try {
          for (const m of run) {
            await conn.unsafe(m.sql);
            await conn`INSERT INTO schema_migrations (version, name) VALUES (${m.version}, ${m.name})`;
          }
          await conn.unsafe('COMMIT');
        } catch (err) {
          await conn.unsafe('ROLLBACK').catch(() => undefined);
          throw err;
        }
        applied.push(...run.map((m) => m.version));
      }
    } finally {
      await conn`SELECT pg_advisory_unlock(${MIGRATION_LOCK_KEY})`.catch(() => undefined);
    }
  } finally {
    conn.release();
  }
  return applied;
}

/** Only a failed concurrent build leaves an index invalid (it is kept up to date, never used): dropped before trying again. */
async function dropInvalidIndexes(conn: Sql): Promise<void> {
  const invalid = await conn<{ name: string }[]>`
    SELECT format('%I.%I', n.nspname, c.relname) AS name FROM pg_index i
    JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE NOT i.indisvalid AND n.nspname = current_schema()`;
  for (const { name } of invalid) await conn.unsafe(`DROP INDEX CONCURRENTLY IF EXISTS ${name}`);
}
