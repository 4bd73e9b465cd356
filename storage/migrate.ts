import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import type { Sql } from './db.js';

const MIGRATIONS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations');
/** Any constant works; it only has to be the same for every process that migrates. */
const MIGRATION_LOCK_KEY = 7_346_501;
/** How often a process waiting for another's migrations tries the lock again. */
const LOCK_POLL_MS = 250;
/**
 * How long a plain migration's statement waits for a table's lock before its run is rolled back and tried again.
 * A statement waiting for a lock that a long transaction holds makes every later statement on that table wait
 * behind it: without a bound, a rolling upgrade's DDL would stop the cluster's chat traffic for as long.
 */
export const DEFAULT_MIGRATION_LOCK_TIMEOUT_MS = 2_000;
/** Tries of a run whose statements keep timing out on a lock before the start fails (about a minute and a half). */
export const DEFAULT_MIGRATION_LOCK_TRIES = 30;
/** Pause between two tries of a run, jittered, so that the statements queued behind it go through meanwhile. */
const LOCK_RETRY_PAUSE_MS = 1_000;
const LOCK_NOT_AVAILABLE = '55P03';

export interface MigrateOptions {
  /** See DEFAULT_MIGRATION_LOCK_TIMEOUT_MS. */
  lockTimeoutMs?: number;
  /** See DEFAULT_MIGRATION_LOCK_TRIES. */
  lockTries?: number;
}

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
 * to do). Each plain migration runs in a transaction of its own, so that the locks it takes (an ALTER TABLE's) are
 * held for it alone, not until the last of an upgrade's migrations commits. A concurrent one runs alone,
 * outside any transaction, so that writers keep going while it builds; an index a failed build left invalid is
 * dropped first, so that its `IF NOT EXISTS` builds it again. A plain run waits at most `lockTimeoutMs` for a lock
 * at a time (see DEFAULT_MIGRATION_LOCK_TIMEOUT_MS). Returns the versions it applied.
 */
export async function migrate(sql: Sql, dir = MIGRATIONS_DIR, options: MigrateOptions = {}): Promise<number[]> {
  const lockTimeoutMs = Math.max(1, Math.floor(options.lockTimeoutMs ?? DEFAULT_MIGRATION_LOCK_TIMEOUT_MS));
  const lockTries = Math.max(1, options.lockTries ?? DEFAULT_MIGRATION_LOCK_TRIES);
  const migrations = await loadMigrations(dir);
  const applied: number[] = [];
  const conn = await sql.reserve();
  try {
    await takeLock(conn);
    try {
      await conn`CREATE TABLE IF NOT EXISTS schema_migrations (
        version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`;
      const done = new Set((await conn<{ version: number }[]>`SELECT version FROM schema_migrations`).map((r) => r.version));
      const pending = migrations.filter((m) => !done.has(m.version));
      for (const m of pending) {
        if (m.concurrent) {
          await dropInvalidIndex(conn, m);
          await conn.unsafe(m.sql);
          await conn`INSERT INTO schema_migrations (version, name) VALUES (${m.version}, ${m.name})`;
        } else await applyPlain(conn, m, lockTimeoutMs, lockTries);
        applied.push(m.version);
      }
    } finally {
      await conn`SELECT pg_advisory_unlock(${MIGRATION_LOCK_KEY})`.catch(() => undefined);
    }
  } finally {
    conn.release();
  }
  return applied;
}

/**
 * Applies plain migration `m` and records it in one transaction, waiting at most `lockTimeoutMs` for a lock at a time;
 * a lock still taken is tried again up to `lockTries` times, then the start fails naming the migration.
 */
async function applyPlain(conn: Sql, m: Migration, lockTimeoutMs: number, lockTries: number): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    await conn.unsafe('BEGIN');
    try {
      await conn.unsafe(`SET LOCAL lock_timeout = ${lockTimeoutMs}`);
      await conn.unsafe(m.sql);
      await conn`INSERT INTO schema_migrations (version, name) VALUES (${m.version}, ${m.name})`;
      await conn.unsafe('COMMIT');
      return;
    } catch (err) {
      await conn.unsafe('ROLLBACK').catch(() => undefined);
      if ((err as { code?: unknown }).code !== LOCK_NOT_AVAILABLE) throw err;
      if (attempt >= lockTries) {
        throw new Error(`migration ${m.name}: a table's lock stayed taken through ${lockTries} tries of ${lockTimeoutMs} ms (a long transaction? see pg_locks and pg_stat_activity)`, { cause: err });
      }
      await new Promise((r) => setTimeout(r, LOCK_RETRY_PAUSE_MS * (0.5 + Math.random())));
    }
  }
}

/**
 * Takes the migration lock, trying again every LOCK_POLL_MS: a session blocked in `pg_advisory_lock` is a running
 * statement with a snapshot, which the holder's `CREATE INDEX CONCURRENTLY` waits out, so two nodes starting at once
 * would deadlock (Postgres cancels one of them: a failed start, or a build that leaves its index invalid).
 */
async function takeLock(conn: Sql): Promise<void> {
  while (!(await conn<{ ok: boolean }[]>`SELECT pg_try_advisory_lock(${MIGRATION_LOCK_KEY}) AS ok`)[0]!.ok) {
    await new Promise((r) => setTimeout(r, LOCK_POLL_MS));
  }
}

/**
 * Only a failed concurrent build leaves an index invalid (it is kept up to date, never used): the index this
 * migration builds is dropped before trying again, if a build of it failed. Others are left alone: an invalid index
 * may be an operator's build under way (`REINDEX CONCURRENTLY`).
 */
async function dropInvalidIndex(conn: Sql, m: Migration): Promise<void> {
  // `[schema.]name`, as Postgres stores it: a quoted name as written, an unquoted one in lower case.
  const found = /CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+IF\s+NOT\s+EXISTS\s+(?:"?[A-Za-z_][\w$]*"?\.)?(?:"([^"]+)"|([A-Za-z_][\w$]*))/i.exec(m.sql);
  // Without its name, an invalid index a failed build left would be skipped by IF NOT EXISTS and recorded as built.
  if (found === null) throw new Error(`${m.name}: a concurrent migration must be one CREATE [UNIQUE] INDEX CONCURRENTLY IF NOT EXISTS <name> statement`);
  const name = found[1] ?? found[2]!.toLowerCase();
  const invalid = await conn<{ name: string }[]>`
    SELECT format('%I.%I', n.nspname, c.relname) AS name FROM pg_index i
    JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE NOT i.indisvalid AND n.nspname = current_schema() AND c.relname = ${name}`;
  for (const { name: n } of invalid) await conn.unsafe(`DROP INDEX CONCURRENTLY IF EXISTS ${n}`);
}
