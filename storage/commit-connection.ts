import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCode, ImError } from '../protocol/errors.js';
import { connect, type Sql } from './db.js';
import { bounded } from './pg-errors.js';

/** How long `settle` waits for the group commit's backend to be gone. */
export const DEFAULT_SETTLE_TIMEOUT_MS = 5_000;
const SETTLE_POLL_MS = 20;
/** The longest application_name Postgres keeps (NAMEDATALEN − 1). */
const MAX_NAME_BYTES = 63;

/**
 * The group commit's own connection, named so that its backend can be found. A statement whose answer never came (a
 * deadline passed, the link dropped) may still be running in that backend, or sit unread in its socket, and could
 * commit after its chatters reloaded: the next message would then follow the same one as the late row, and fork
 * the conversation's chain. `settle` ends every backend of that name and waits until they are gone: what they
 * committed is visible then, and nothing of theirs can land later. One connection is all the group commit uses (one
 * statement at a time), and nothing else runs on it.
 */
export class CommitConnection {
  readonly sql: Sql;
  /** The connection's application_name; the random part keeps an earlier process of the same node apart. */
  readonly name: string;

  constructor(
    url: string,
    nodeId: string,
    /** Another pool, for the statements that end the commit's backend. */
    private readonly admin: Sql,
  ) {
    // Postgres keeps 63 printable ASCII bytes of it, and the name must match what it keeps: the random part first.
    this.name = `natsim-commit-${randomBytes(6).toString('hex')}-${nodeId.replace(/[^A-Za-z0-9_.-]/g, '_')}`.slice(0, MAX_NAME_BYTES);
    this.sql = connect(url, { max: 1, applicationName: this.name });
  }

  private warm: Promise<void> | undefined;

  /**
   * Resolves once the connection has been used once. postgres.js learns Postgres' array types on its first connect,
   * and types the array parameters of a query built before that as their element type: the group commit's first
   * statement on a fresh pool failed ("cannot cast type bytea to bytea[]").
   */
  ready(): Promise<void> {
    this.warm ??= this.sql`SELECT 1`.then(
      () => undefined,
      (err: unknown) => {
        this.warm = undefined;
        throw err;
      },
    );
    return this.warm;
  }

  /** Ends whatever backend the commit connection has and resolves once none is left; TIMEOUT past `timeoutMs`. */
  async settle(timeoutMs = DEFAULT_SETTLE_TIMEOUT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    await bounded('end the group commit backend', this.admin`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = ${this.name}`, timeoutMs);
    for (;;) {
      const left = await bounded('look for the group commit backend', this.admin`SELECT pid FROM pg_stat_activity WHERE application_name = ${this.name}`, timeoutMs);
      if (left.length === 0) return;
      if (Date.now() > deadline) throw new ImError(ErrorCode.TIMEOUT, `the group commit backend (${this.name}) was still there after ${timeoutMs} ms`);
      await sleep(SETTLE_POLL_MS);
    }
  }

  async close(): Promise<void> {
    await this.sql.end({ timeout: 5 });
  }
}
