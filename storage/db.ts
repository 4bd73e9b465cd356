import postgres from 'postgres';

/** A connected postgres.js client; every storage module takes one of these. */
export type Sql = postgres.Sql<Record<string, never>>;

export interface DbOptions {
  /** Pool size. */
  max?: number;
  /** Seconds a statement may wait for a connection before failing. */
  connectTimeoutSec?: number;
  /** Application name shown in pg_stat_activity. */
  applicationName?: string;
}

export const DEFAULT_DB_POOL_SIZE = 8;
export const DEFAULT_DB_CONNECT_TIMEOUT_SEC = 10;
/** Longest pause between reconnect attempts to Postgres, in seconds. */
export const DEFAULT_DB_RECONNECT_CAP_SEC = 0.5;

/**
 * Pause before the pool's next reconnect attempt, after `retries` failures shared by the whole pool.
 * postgres.js' own default grows as 3^retries / 100 up to 20 s, and with every pooled connection failing during
 * a one-second Postgres restart it reached 10–20 s: queries queued meanwhile hung that long after Postgres was
 * back (measured here). A chat server wants its database back at once; an attempt costs one TCP connect.
 */
export function reconnectBackoffSec(retries: number): number {
  return (0.5 + Math.random() / 2) * Math.min(0.02 * 2 ** retries, DEFAULT_DB_RECONNECT_CAP_SEC);
}

/** Opens a pool to `url`; bigint columns come back as JS numbers (all our ids stay below 2^53). */
export function connect(url: string, options: DbOptions = {}): Sql {
  return postgres(url, {
    max: options.max ?? DEFAULT_DB_POOL_SIZE,
    connect_timeout: options.connectTimeoutSec ?? DEFAULT_DB_CONNECT_TIMEOUT_SEC,
    idle_timeout: 30,
    backoff: reconnectBackoffSec,
    onnotice: () => {},
    connection: { application_name: options.applicationName ?? 'natsim' },
    types: {
      bigint: {
        to: 20,
        from: [20],
        serialize: (x: number | bigint) => String(x),
        parse: (x: string) => Number(x),
      },
    },
  }) as unknown as Sql;
}
