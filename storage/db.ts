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

/** Opens a pool to `url`; bigint columns come back as JS numbers (all our ids stay below 2^53). */
export function connect(url: string, options: DbOptions = {}): Sql {
  return postgres(url, {
    max: options.max ?? DEFAULT_DB_POOL_SIZE,
    connect_timeout: options.connectTimeoutSec ?? DEFAULT_DB_CONNECT_TIMEOUT_SEC,
    idle_timeout: 30,
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
