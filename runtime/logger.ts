import pino, { type Logger } from 'pino';

export type { Logger };

export interface LoggerOptions {
  level?: string;
  /** Pretty output is not a dependency; JSON lines go to stdout, or to a file descriptor. */
  destination?: number | string;
  /** Bound fields, e.g. `{ node: 'n1' }`. */
  base?: Record<string, unknown>;
}

export const DEFAULT_LOG_LEVEL = 'info';

/** The process' one root logger; components take `logger.child({ node, actor })`. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const dest = options.destination === undefined ? 1 : options.destination;
  return pino(
    { level: options.level ?? DEFAULT_LOG_LEVEL, base: options.base ?? {}, timestamp: pino.stdTimeFunctions.isoTime },
    pino.destination({ dest, sync: false }),
  );
}

/** A logger that drops everything (tests that assert on behaviour, not on logs). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
