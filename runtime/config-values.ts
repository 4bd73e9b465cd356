import { ConfigError } from './config-error.js';

// How configuration values are read (runtime/config.ts, config-scripts.ts): each refuses what it cannot take, naming
// the flag, rather than read it as something else.

/** The largest integer setting: the longest delay setTimeout takes (past it, Node fires after 1 ms). */
export const MAX_INT_SETTING = 2_147_483_647;
/** The shortest heartbeat: each one reads the shard map, and the lease is three of them. */
export const MIN_HEARTBEAT_MS = 50;

/** An integer setting from `min` to MAX_INT_SETTING; absent or empty: `fallback`. */
export function int(name: string, raw: string | undefined, fallback: number, min = 1): number {
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > MAX_INT_SETTING) throw new ConfigError(`${name} must be an integer from ${min} to ${MAX_INT_SETTING}, got "${raw}"`);
  return n;
}

/** The highest TCP port. */
export const MAX_PORT = 65_535;

/** A TCP port (`min` 0: 0 means "none" or "any free one", as the flag says); a larger number would wrap around. */
export function portOf(name: string, raw: string | undefined, fallback: number, min = 1): number {
  const n = int(name, raw, fallback, min);
  if (n > MAX_PORT) throw new ConfigError(`${name} must be a port from ${min} to ${MAX_PORT}, got "${raw}"`);
  return n;
}

/** pino's levels: another name would make the logger throw at start, after the configuration was taken. */
const LOG_LEVELS: readonly string[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** A pino level name; absent: info. */
export function logLevel(raw: string | undefined): string {
  if (raw === undefined) return 'info';
  if (!LOG_LEVELS.includes(raw)) throw new ConfigError(`log-level must be one of ${LOG_LEVELS.join(', ')}, got "${raw}"`);
  return raw;
}

/** A switch's environment form: 1/true/yes or 0/false/no (any case); anything else is refused, not read as off. */
export function envSwitch(name: string, raw: string | undefined): boolean {
  if (raw === undefined || raw === '') return false;
  const r = raw.toLowerCase();
  if (r === '1' || r === 'true' || r === 'yes') return true;
  if (r === '0' || r === 'false' || r === 'no') return false;
  throw new ConfigError(`${name} must be 1, true or yes (on) or 0, false or no (off), got "${raw}"`);
}

/** A comma-separated list, blanks dropped; absent or empty: `fallback`. */
export function list(raw: string | undefined, fallback: string[]): string[] {
  if (raw === undefined || raw === '') return fallback;
  return raw.split(',').map((s) => s.trim()).filter(Boolean);
}
