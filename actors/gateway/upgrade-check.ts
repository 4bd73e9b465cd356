import type * as Uws from 'uWebSockets.js';
import { ErrorCode } from '../../protocol/errors.js';
import { LIST_PAGES_QUERY } from '../../protocol/limits.js';
import { originAllowed } from './origin-policy.js';
import type { SessionData } from './session.js';
import type { checkToken } from './token-check.js';

/** A refused upgrade: its HTTP status and JSON body (`code`, `message`, and where to go instead when full). */
export interface UpgradeRefusal {
  status: string;
  body: { code: ErrorCode; message: string; endpoints?: string[] };
}

/** What the upgrade check reads of the gateway now. */
export interface UpgradeGate {
  allowedOrigins: readonly string[];
  accepting: boolean;
  natsUp: boolean;
  full: boolean;
  otherEndpoints: () => string[];
  tokenHolder: (token: string) => ReturnType<typeof checkToken>;
}

/**
 * Decides a WebSocket upgrade, in the order a client can act on: a page's origin not allowed (403), a gateway that
 * takes no one now (503, naming other endpoints), then the token (401). Accepted: the socket's first data.
 */
export function checkUpgrade(req: Uws.HttpRequest, gate: UpgradeGate): UpgradeRefusal | SessionData {
  const auth = req.getHeader('authorization');
  // The scheme is case-insensitive (RFC 9110 §11.1); a `token` in the query wins over the header.
  const token = req.getQuery('token') || (/^bearer +/i.exec(auth) ? auth.replace(/^bearer +/i, '') : '');
  const origin = req.getHeader('origin');
  if (!originAllowed(origin, gate.allowedOrigins)) return { status: '403 Forbidden', body: { code: ErrorCode.FORBIDDEN, message: `pages of ${origin} may not connect here` } };
  if (!gate.accepting || !gate.natsUp || gate.full) {
    const why = !gate.accepting ? 'this gateway is draining' : !gate.natsUp ? 'this gateway has lost its NATS connection' : 'this gateway is full';
    return { status: '503 Service Unavailable', body: { code: ErrorCode.OVERLOADED, message: why, endpoints: gate.otherEndpoints() } };
  }
  const r = gate.tokenHolder(token);
  if (!r.ok) return { status: '401 Unauthorized', body: { code: r.error.code, message: r.error.message } };
  const { uid, did, exp, iat } = r.value;
  const pages = req.getQuery(LIST_PAGES_QUERY) === '1';
  // `session` is named now so that setting it in `open` does not give every socket's data a property array.
  return { uid, did, exp, iat, pages, session: undefined };
}
