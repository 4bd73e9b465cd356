import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCode, ImError } from '../protocol/errors.js';
import { connect, type Sql } from './db.js';
import { bounded } from './pg-errors.js';

/** How long `settle` waits for the group commit's backend to be gone, and `ready` for its first answer. */
export const DEFAULT_SETTLE_TIMEOUT_MS = 5_000;
/**
 * Connect timeout of these pools, under the deadlines above: a connect slower than them is given up and made again
 * rather than waited for. (postgres.js, unpatched, never opened a connection whose first query was cancelled while
 * it connected: scripts/patch-deps.mjs.)
 */
const CONNECT_TIMEOUT_SEC = 3;
const SETTLE_POLL_MS = 20;
/** The longest application_name Postgres keeps (NAMEDATALEN − 1). */
const MAX_NAME_BYTES = 63;

/**
 * The group commit's own connection, named so that its backend can be found. A statement whose answer never came (a
 * deadline passed, the link dropped) may still be running in that backend, or sit unread in its socket, and could
 * commit after its chatters reloaded: the next message would then follow the same one as the late row, and fork
 * the conversation's chain. `settle` drops the pool, ends every backend of that name and waits until they are gone:
 * what they committed is visible then, and nothing of theirs can land later. One connection is all the group commit
 * uses (one statement at a time), and nothing else runs on it. Needs a direct connection to Postgres: behind a
 * transaction pooler the backend that runs a statement is not the one found by name (`ready` refuses to start).
 */
export class CommitConnection {
  /** The connection's application_name; the random part keeps an earlier process of the same node apart. */
  readonly name: string;
  /** The name of the short-lived connections that end and look for it. */
  private readonly adminName: string;
  private pool: Sql;
  private warm: Promise<void> | undefined;
  private readonly url: string;

  constructor(url: string, nodeId: string) {
    // Postgres keeps 63 printable ASCII bytes of it, and the name must match what it keeps: the random part first.
    const id = `${randomBytes(6).toString('hex')}-${nodeId.replace(/[^A-Za-z0-9_.-]/g, '_')}`;
    this.name = `natsim-commit-${id}`.slice(0, MAX_NAME_BYTES);
    this.adminName = `natsim-settle-${id}`.slice(0, MAX_NAME_BYTES);
    this.url = withoutApplicationName(url);
    this.pool = this.open(this.name);
  }

  /** The pool the group commit writes on (a new one after each `settle`, or after a failed `ready`). */
  get sql(): Sql {
    return this.pool;
  }

  /**
   * Resolves once the connection has answered once and Postgres shows it under our name. postgres.js learns the array
   * types on its first connect and types the array parameters of a query built before that as their element type
   * (the group commit's first statement failed with "cannot cast type bytea to bytea[]"); and a connection Postgres
   * does not show under our name (a pooler in between, another server) could never be settled. A failure drops the
   * pool: the next try starts on a new one.
   */
  ready(timeoutMs = DEFAULT_SETTLE_TIMEOUT_MS): Promise<void> {
    this.warm ??= this.check(timeoutMs).catch(async (err: unknown) => {
      this.warm = undefined;
      await this.replace();
      throw err;
    });
    return this.warm;
  }

  /**
   * Drops the pool (nothing it holds can be sent any more), ends every backend by our name and resolves once none is
   * left; TIMEOUT past `timeoutMs`. The next statement opens a new connection.
   */
  async settle(timeoutMs = DEFAULT_SETTLE_TIMEOUT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    // A socket that died without a word would otherwise hold every later statement until TCP gives up on it.
    await this.replace();
    // A connection of its own each time, for the same reason: one left behind a dead socket would fail every settle.
    await this.withAdmin(async (admin) => {
      await bounded('end the group commit backend', admin`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = ${this.name}`, timeoutMs);
      for (;;) {
        const left = await bounded('look for the group commit backend', admin`SELECT pid FROM pg_stat_activity WHERE application_name = ${this.name}`, timeoutMs);
        if (left.length === 0) return;
        if (Date.now() > deadline) throw new ImError(ErrorCode.TIMEOUT, `the group commit backend (${this.name}) was still there after ${timeoutMs} ms`);
        await sleep(SETTLE_POLL_MS);
      }
    });
  }

  async close(): Promise<void> {
    await this.pool.end({ timeout: 5 });
  }

  private open(name: string): Sql {
    return connect(this.url, { max: 1, applicationName: name, connectTimeoutSec: CONNECT_TIMEOUT_SEC });
  }

  private async replace(): Promise<void> {
    const old = this.pool;
    this.pool = this.open(this.name);
    this.warm = undefined;
    await old.end({ timeout: 0 }).catch(() => undefined);
  }

  private async withAdmin<T>(fn: (admin: Sql) => Promise<T>): Promise<T> {
    const admin = this.open(this.adminName);
    try {
      return await fn(admin);
    } finally {
      await admin.end({ timeout: 0 }).catch(() => undefined);
    }
  }

  private async check(timeoutMs: number): Promise<void> {
    const [me] = await bounded('open the group commit connection', this.pool<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`, timeoutMs);
    const seen = await this.withAdmin((admin) => bounded('check the group commit connection', admin<{ name: string }[]>`SELECT application_name AS name FROM pg_stat_activity WHERE pid = ${me!.pid}`, timeoutMs));
    if (seen[0]?.name !== this.name) {
      throw new ImError(ErrorCode.STORAGE, `Postgres does not show the group commit connection as ${this.name} (${seen[0]?.name ?? 'not at all'}): a pooler between node and Postgres? The group commit needs a direct connection`);
    }
  }
}

/**
 * `url` without an `application_name` parameter, which would take the place of ours (postgres.js applies the URL's
 * parameters last). By hand, not with URL: postgres.js takes multi-host URLs (`h1:5432,h2:5432`) that URL refuses.
 */
export function withoutApplicationName(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const kept = url
    .slice(q + 1)
    .split('&')
    .filter((p) => p !== '' && decodeURIComponent(p.split('=')[0]!) !== 'application_name');
  return kept.length > 0 ? `${url.slice(0, q)}?${kept.join('&')}` : url.slice(0, q);
}
