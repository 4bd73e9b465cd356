import { createHmac, timingSafeEqual } from 'node:crypto';
import { ErrorCode, ImError, type Result } from './errors.js';
import { DEFAULT_MAX_ID_LENGTH, DEFAULT_MAX_TOKEN_LENGTH } from './limits.js';
import { idProblem } from './validate.js';

/**
 * Connection tokens: HS256 JWTs (RFC 7519) signed by the app's business server with the cluster's secret.
 * Claims: `sub` (user id), `did` (device id), `exp` and `iat` (seconds since the epoch), optional `nbf`.
 * Server-only (node:crypto): the SDK never verifies tokens, it only carries them.
 */
export interface TokenClaims {
  sub: string;
  did: string;
  exp: number;
  iat?: number;
}

export interface VerifyOptions {
  /** Now, in seconds since the epoch (tests); defaults to the clock. */
  nowSec?: number;
  /** Clock skew tolerated on `exp` and `nbf`, in seconds (default 0; the gateway passes DEFAULT_TOKEN_LEEWAY_SEC). */
  leewaySec?: number;
  /** Longest `sub` / `did`, in UTF-8 bytes. */
  maxIdLength?: number;
  /** Longest `exp` − `iat` accepted, in seconds; with it `iat` is required. Unset: any lifetime, `iat` optional. */
  maxLifetimeSec?: number;
}

type Secret = string | Uint8Array;

const b64url = (s: string): string => Buffer.from(s, 'utf8').toString('base64url');
const HEADER = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
const B64URL = /^[A-Za-z0-9_-]*$/;

function mac(data: string, secret: Secret): string {
  return createHmac('sha256', secret).update(data).digest('base64url');
}

function secretLength(secret: Secret): number {
  return typeof secret === 'string' ? secret.length : secret.byteLength;
}

/**
 * Signs a token for (sub, did) valid `ttlSec` seconds from `nowSec`; throws ImError INVALID_FIELD on bad input.
 * `iat` keeps the millisecond (a NumericDate may have a fraction), so a sign-out's revocation, which is to the
 * millisecond, does not also void a token issued later within the same second; `exp` is whole seconds.
 */
export function signToken(claims: { sub: string; did: string; ttlSec: number }, secret: Secret, nowSec: number = Date.now() / 1000): string {
  if (secretLength(secret) === 0) throw new ImError(ErrorCode.INVALID_FIELD, 'token secret must not be empty');
  const subProblem = idProblem(claims.sub, DEFAULT_MAX_ID_LENGTH);
  if (subProblem) throw new ImError(ErrorCode.INVALID_FIELD, `sub ${subProblem}`);
  const didProblem = idProblem(claims.did, DEFAULT_MAX_ID_LENGTH) ?? reservedDevice(claims.did);
  if (didProblem) throw new ImError(ErrorCode.INVALID_FIELD, `did ${didProblem}`);
  if (!Number.isSafeInteger(claims.ttlSec) || claims.ttlSec <= 0) throw new ImError(ErrorCode.INVALID_FIELD, 'ttlSec must be an integer > 0');
  const payload = b64url(JSON.stringify({ sub: claims.sub, did: claims.did, iat: nowSec, exp: Math.floor(nowSec) + claims.ttlSec }));
  const signed = `${HEADER}.${payload}`;
  return `${signed}.${mac(signed, secret)}`;
}

function unauthorized(message: string): { ok: false; error: ImError } {
  return { ok: false, error: new ImError(ErrorCode.UNAUTHORIZED, message) };
}

function parseJsonObject(part: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/**
 * Verifies format, algorithm, signature and claims; UNAUTHORIZED or TOKEN_EXPIRED otherwise. Never throws. With
 * several secrets, a token signed with any of them is good: the current one and, while the business server moves to
 * it, the one before.
 */
export function verifyToken(token: unknown, secret: Secret | readonly Secret[], opts: VerifyOptions = {}): Result<TokenClaims> {
  const secrets = (Array.isArray(secret) ? secret : [secret]) as readonly Secret[];
  if (secrets.length === 0 || secrets.some((x) => secretLength(x) === 0)) return unauthorized('no token secret is configured');
  if (typeof token !== 'string' || token.length === 0) return unauthorized('no token');
  if (token.length > DEFAULT_MAX_TOKEN_LENGTH) return unauthorized('token too long');
  const dot1 = token.indexOf('.');
  const dot2 = dot1 < 0 ? -1 : token.indexOf('.', dot1 + 1);
  if (dot2 < 0 || token.indexOf('.', dot2 + 1) >= 0) return unauthorized('token is not a JWT (three base64url parts)');
  const h = token.slice(0, dot1);
  const p = token.slice(dot1 + 1, dot2);
  const s = token.slice(dot2 + 1);
  if (!B64URL.test(h) || !B64URL.test(p) || !B64URL.test(s)) return unauthorized('token is not a JWT (three base64url parts)');

  // The algorithm is fixed on our side; the header may only confirm it (this refuses `none` and RS/HS swaps).
  const header = parseJsonObject(h);
  if (!header || header['alg'] !== 'HS256') return unauthorized('token algorithm must be HS256');
  if (header['crit'] !== undefined) return unauthorized('token has critical header parameters we do not support');

  // Compare the canonical base64url text, not decoded bytes: the decoder ignores trailing bits, so decoded
  // bytes would accept several spellings of one signature.
  const given = Buffer.from(s, 'latin1');
  const signedWith = (sec: Secret): boolean => {
    const expected = Buffer.from(mac(`${h}.${p}`, sec), 'latin1');
    return given.length === expected.length && timingSafeEqual(given, expected);
  };
  if (!secrets.some(signedWith)) return unauthorized('bad token signature');

  const claims = parseJsonObject(p);
  if (!claims) return unauthorized('token payload is not a JSON object');
  const { sub, did, exp, iat, nbf } = claims;
  const maxId = opts.maxIdLength ?? DEFAULT_MAX_ID_LENGTH;
  const subProblem = idProblem(sub, maxId);
  if (subProblem) return unauthorized(`token claim sub (user id) ${sub === undefined ? 'is missing' : subProblem}`);
  const didProblem = idProblem(did, maxId) ?? reservedDevice(did);
  if (didProblem) return unauthorized(`token claim did (device id) ${did === undefined ? 'is missing' : didProblem}`);
  if (!isTime(exp)) return unauthorized('token claim exp must be a number of seconds');
  if (iat !== undefined && !isTime(iat)) return unauthorized('token claim iat must be a number of seconds');
  if (nbf !== undefined && !isTime(nbf)) return unauthorized('token claim nbf must be a number of seconds');
  const maxLife = opts.maxLifetimeSec;
  if (maxLife !== undefined) {
    if (iat === undefined) return unauthorized('token claim iat is required: this server bounds token lifetime');
    if (exp - iat > maxLife) return unauthorized(`token lifetime (exp − iat) exceeds this server's maximum of ${maxLife} seconds`);
  }

  const now = opts.nowSec ?? Math.floor(Date.now() / 1000);
  const leeway = opts.leewaySec ?? 0;
  if (now >= exp + leeway) return { ok: false, error: new ImError(ErrorCode.TOKEN_EXPIRED, 'token expired') };
  if (nbf !== undefined && now + leeway < nbf) return unauthorized('token not valid yet (nbf)');
  // Issued in the future (an issuer's clock far ahead, or a bug): such a token would outlive the lifetime bound and
  // escape every revocation made before its `iat`, which is what revocations compare with.
  if (iat !== undefined && iat > (opts.nowSec ?? Date.now() / 1000) + leeway) return unauthorized('token claim iat is in the future (is the issuer\'s clock ahead?)');
  const out: TokenClaims = { sub: sub as string, did: did as string, exp };
  if (iat !== undefined) out.iat = iat;
  return { ok: true, value: out };
}

/**
 * The device id the server stores system messages under (`did` of a system message): no client device may have it,
 * or its messages would pass for system messages (and dedup against the business server's keyed ones).
 */
export const SYSTEM_DEVICE = 'system';

function reservedDevice(did: unknown): string | undefined {
  return did === SYSTEM_DEVICE ? `"${SYSTEM_DEVICE}" is reserved for system messages` : undefined;
}
