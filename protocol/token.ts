import { createHmac, timingSafeEqual } from 'node:crypto';
import { ErrorCode, ImError, type Result } from './errors.js';

/**
 * Connection tokens: HS256 JWTs signed by the app's business server with a shared secret.
 * Claims: `sub` (user id), `did` (device id), `exp` and `iat` (seconds since the epoch).
 */
export interface TokenClaims {
  sub: string;
  did: string;
  exp: number;
  iat?: number;
}

const b64url = (b: Buffer): string => b.toString('base64url');
const HEADER = b64url(Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })));

function sign(data: string, secret: string | Uint8Array): Buffer {
  return createHmac('sha256', secret).update(data).digest();
}

/** Signs a token for (uid, did) valid for `ttlSec` seconds from `nowSec`. */
export function signToken(claims: { sub: string; did: string; ttlSec: number }, secret: string | Uint8Array, nowSec = Math.floor(Date.now() / 1000)): string {
  const payload = b64url(Buffer.from(JSON.stringify({ sub: claims.sub, did: claims.did, iat: nowSec, exp: nowSec + claims.ttlSec })));
  const body = `${HEADER}.${payload}`;
  return `${body}.${b64url(sign(body, secret))}`;
}

const unauthorized = (message: string): { ok: false; error: ImError } => ({ ok: false, error: new ImError(ErrorCode.UNAUTHORIZED, message) });

function parseJson(part: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Verifies signature, algorithm and claims; UNAUTHORIZED or TOKEN_EXPIRED otherwise. Never throws. */
export function verifyToken(token: unknown, secret: string | Uint8Array, opts: { nowSec?: number; leewaySec?: number; maxIdLength?: number } = {}): Result<TokenClaims> {
  if (typeof token !== 'string' || token.length === 0 || token.length > 4096) return unauthorized('no token');
  const parts = token.split('.');
  if (parts.length !== 3) return unauthorized('token is not a JWT');
  const [h, p, s] = parts as [string, string, string];
  const header = parseJson(h);
  if (!header || header['alg'] !== 'HS256') return unauthorized('token algorithm must be HS256');
  const expected = sign(`${h}.${p}`, secret);
  const given = Buffer.from(s, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return unauthorized('bad token signature');
  const claims = parseJson(p);
  const maxId = opts.maxIdLength ?? 128;
  if (!claims) return unauthorized('token payload is not JSON');
  const { sub, did, exp, iat } = claims;
  if (typeof sub !== 'string' || sub.length === 0 || sub.length > maxId) return unauthorized('token needs sub (user id)');
  if (typeof did !== 'string' || did.length === 0 || did.length > maxId) return unauthorized('token needs did (device id)');
  if (typeof exp !== 'number' || !Number.isFinite(exp)) return unauthorized('token needs exp');
  const now = opts.nowSec ?? Math.floor(Date.now() / 1000);
  if (exp + (opts.leewaySec ?? 0) <= now) return { ok: false, error: new ImError(ErrorCode.TOKEN_EXPIRED, 'token expired') };
  const out: TokenClaims = { sub, did, exp };
  if (typeof iat === 'number') out.iat = iat;
  return { ok: true, value: out };
}
