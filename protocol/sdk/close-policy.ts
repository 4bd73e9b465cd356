import { CloseCode } from '../close-codes.js';
import { ErrorCode, ImError } from '../errors.js';

/** After close 4008 (rate limit) the next attempt waits at least this long (README §8: "a longer pause"). */
export const DEFAULT_RATE_LIMITED_PAUSE_MS = 10_000;

/** A `redirect` is followed by the server's close; if that close does not come, the client closes after this. */
export const DEFAULT_REDIRECT_CLOSE_WAIT_MS = 1_000;
/** Close code the client uses when it gives up on a silent connection (the server's own code for it). */
export const CLIENT_IDLE_CLOSE = CloseCode.HEARTBEAT_TIMEOUT;

/** Close codes after which reconnecting would be wrong, with the reason given when the server named none. */
const FINAL_CLOSES: ReadonlyMap<number, string> = new Map([
  [CloseCode.REPLACED, 'replaced by a newer connection of this device'],
  [CloseCode.SIGNED_OUT, 'signed out by the server'],
]);

/** What a client does after its connection closed: stop for good, or try again. */
export type AfterClose =
  | { final: true; reason: string }
  | {
      final: false;
      /** The token may be what was refused: at once after 4001, by TokenSource's rule after a refused upgrade. */
      renewToken: boolean;
      /** Go straight to the endpoint a `redirect` named, without backoff (but see Backoff.redirectDelay: not in a loop). */
      immediate: boolean;
      /** The backoff delay must be at least this long. */
      minDelayMs: number;
    };

/**
 * The client's reading of a close code (protocol/README.md §8). `upgraded`: the WebSocket had opened (a refused
 * upgrade is often a stale token, and browsers do not say which status refused it); `redirected`: the server sent
 * a `redirect` on this connection.
 */
export function afterClose(code: number, reason: string, s: { upgraded: boolean; redirected: boolean }): AfterClose {
  const final = FINAL_CLOSES.get(code);
  if (final !== undefined) return { final: true, reason: reason || final };
  if (code === CloseCode.NORMAL && !s.redirected) return { final: true, reason: reason || 'closed by the server' };
  return {
    final: false,
    renewToken: code === CloseCode.UNAUTHORIZED || !s.upgraded,
    immediate: s.redirected,
    minDelayMs: code === CloseCode.RATE_LIMITED ? DEFAULT_RATE_LIMITED_PAUSE_MS : 0,
  };
}

/** The `error` a connection attempt that closed before its welcome raises (`unauthorized` for a 4001 close; a refused upgrade is a 1006). */
export function attemptFailed(code: number, reason: string): ImError {
  return new ImError(code === CloseCode.UNAUTHORIZED ? ErrorCode.UNAUTHORIZED : ErrorCode.UNAVAILABLE, `connection attempt failed (${code}${reason ? `: ${reason}` : ''}); trying again`);
}
