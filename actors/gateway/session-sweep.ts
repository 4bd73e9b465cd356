import { CloseCode } from '../../protocol/close-codes.js';
import { ErrorCode, ImError } from '../../protocol/errors.js';
import type { ServerFrame } from '../../protocol/frames.js';
import { DEFAULT_TOKEN_LEEWAY_SEC, IDLE_HEARTBEATS } from '../../protocol/limits.js';
import { errorFrame } from './client-frames.js';
import type { Session } from './session.js';

/** How often a gateway walks its sessions (sweepSessions). */
export const SWEEP_MS = 1000;

/**
 * One walk of a gateway's sessions: closes those silent for IDLE_HEARTBEATS heartbeats (`heartbeatMs`) and those whose
 * token expired (past the leeway), and hands those due for a refresh of their attach to `refresh`.
 */
export function sweepSessions(sessions: Map<number, Session>, heartbeatMs: number, send: (s: Session, f: ServerFrame) => void, refresh: (s: Session) => void, now = Date.now()): void {
  // This walks every session each second, so it makes no garbage per session: forEach, not an iterator (whose
  // results are objects), and cut-offs computed once (arithmetic on ms timestamps can box a number per session).
  const silentSince = now - heartbeatMs * IDLE_HEARTBEATS;
  const expiredBefore = now / 1000 - DEFAULT_TOKEN_LEEWAY_SEC;
  sessions.forEach((s) => {
    if (s.state !== 'open') return;
    if (s.lastHeard < silentSince) s.end(CloseCode.HEARTBEAT_TIMEOUT, 'heartbeat timeout');
    else if (s.exp < expiredBefore) {
      send(s, errorFrame(new ImError(ErrorCode.TOKEN_EXPIRED, 'the token expired; reconnect with a new one')));
      s.end(CloseCode.UNAUTHORIZED, 'token expired');
    } else if (now >= s.refreshAt) refresh(s);
  });
}
