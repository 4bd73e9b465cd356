import { CloseCode } from '../../protocol/close-codes.js';

const OUR_CLOSE_CODES: ReadonlySet<number> = new Set(Object.values(CloseCode));

/**
 * A close code as a metric label. A client may close with any code from 3000 to 4999: those outside the protocol's
 * (and WebSocket's own, 1000–1015) count as `other`, so that clients cannot add a series per code they make up.
 */
export function closeLabel(code: number): string {
  return OUR_CLOSE_CODES.has(code) || (code >= 1000 && code <= 1015) ? String(code) : 'other';
}

/** What a gateway counts for its metrics: plain integers, bumped on the paths they describe. */
export class GatewayStats {
  /** Connections upgraded and opened. */
  opened = 0;
  /** Frames read from clients (before any check). */
  framesIn = 0;
  /** Frames queued to clients: replies, errors and pushes. */
  framesOut = 0;
  /** Upgrades refused, by error code (UNAUTHORIZED, TOKEN_EXPIRED, OVERLOADED, …). */
  readonly refused = new Map<string, number>();
  /** Sockets closed, by WebSocket close code (ours or the client's, closeLabel; 1006 when the connection just dropped). */
  readonly closes = new Map<string, number>();
  /** Error frames sent, by error code. */
  readonly errors = new Map<string, number>();

  /** Counts one more under `key` of `m`. */
  static bump(m: Map<string, number>, key: string | number): void {
    const k = String(key);
    m.set(k, (m.get(k) ?? 0) + 1);
  }
}
