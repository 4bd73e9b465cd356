import { ErrorCode, ImError, type Result } from '../../protocol/errors.js';
import { DEFAULT_TOKEN_LEEWAY_SEC } from '../../protocol/limits.js';
import { verifyToken } from '../../protocol/token.js';

/** Who a token lets in, and for how long (seconds since the epoch). */
export interface TokenHolder {
  uid: string;
  did: string;
  exp: number;
  /** When it was issued (0 when it does not say): what a revocation is compared with. */
  iat: number;
}

/** Checks a token as the gateway takes one, at the upgrade and in a session's `refresh`. */
export function checkToken(token: unknown, secret: string | readonly string[], maxLifetimeSec: number, revocations: { covers(uid: string, did: string, iatSec: number): boolean }): Result<TokenHolder> {
  const r = verifyToken(token, secret, { leewaySec: DEFAULT_TOKEN_LEEWAY_SEC, maxLifetimeSec });
  if (!r.ok) return r;
  const { sub: uid, did, exp, iat = 0 } = r.value;
  if (revocations.covers(uid, did, iat)) return { ok: false, error: new ImError(ErrorCode.UNAUTHORIZED, 'this token was revoked (signed out by the server); sign in again for a new one') };
  return { ok: true, value: { uid, did, exp, iat } };
}
