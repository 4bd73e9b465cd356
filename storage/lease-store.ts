import { ErrorCode, ImError } from '../protocol/errors.js';
import type { Sql } from './db.js';
import { bounded } from './pg-errors.js';

/** Named leases with one holder at a time (e.g. the coordinator), on the database clock. */
export class LeaseStore {
  constructor(private readonly sql: Sql) {}

  /**
   * Takes, takes over (when expired) or renews (when already held) a lease; true when `holder` holds it now.
   * Gives up (TIMEOUT) after one ttl, when the answer could no longer be trusted anyway.
   */
  async acquire(name: string, holder: string, ttlMs: number): Promise<boolean> {
    if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new ImError(ErrorCode.INVALID_FIELD, `lease ttl must be a positive number of ms, got ${ttlMs}`);
    // One statement: concurrent acquirers serialize on the row, and the WHERE decides on the database clock.
    const rows = await bounded(
      'acquire lease',
      this.sql<{ holder: string }[]>`
      INSERT INTO leases (name, holder, until) VALUES (${name}, ${holder}, now() + ${ttlMs} * interval '1 millisecond')
      ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, until = EXCLUDED.until
        WHERE leases.holder = EXCLUDED.holder OR leases.until <= now()
      RETURNING holder`,
      ttlMs,
    );
    return rows[0]?.holder === holder;
  }

  /** Gives a lease up if `holder` has it; true when it did. */
  async release(name: string, holder: string): Promise<boolean> {
    const rows = await bounded('release lease', this.sql`DELETE FROM leases WHERE name = ${name} AND holder = ${holder} RETURNING 1`);
    return rows.length > 0;
  }

  /** The current, unexpired holder. */
  async holder(name: string): Promise<string | undefined> {
    const rows = await bounded('read lease', this.sql<{ holder: string }[]>`SELECT holder FROM leases WHERE name = ${name} AND until > now()`);
    return rows[0]?.holder;
  }
}
