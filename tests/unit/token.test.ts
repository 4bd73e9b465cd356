import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../protocol/errors.js';
import { signToken, verifyToken } from '../../protocol/token.js';

const SECRET = 'test-secret';
const NOW = 1_800_000_000;
const b64 = (v: unknown): string => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
const HS256 = { alg: 'HS256', typ: 'JWT' };

/** Builds a token by hand, signed with SECRET unless told otherwise. */
function forge(header: unknown, payload: unknown, secret: string = SECRET): string {
  const signed = `${b64(header)}.${b64(payload)}`;
  return `${signed}.${createHmac('sha256', secret).update(signed).digest('base64url')}`;
}

const unauthorized = { ok: false, error: expect.objectContaining({ code: ErrorCode.UNAUTHORIZED }) };

describe('token – HS256 connection tokens', () => {
  const good = signToken({ sub: 'alice', did: 'phone', ttlSec: 60 }, SECRET, NOW);

  it('token – a fresh token verifies to its user and device', () => {
    expect(verifyToken(good, SECRET, { nowSec: NOW + 10 })).toEqual({ ok: true, value: { sub: 'alice', did: 'phone', exp: NOW + 60, iat: NOW } });
    expect(verifyToken(forge(HS256, { sub: 'u', did: 'd', exp: NOW + 1 }), SECRET, { nowSec: NOW })).toEqual({ ok: true, value: { sub: 'u', did: 'd', exp: NOW + 1 } });
    expect(verifyToken(good, Buffer.from(SECRET), { nowSec: NOW }).ok).toBe(true);
  });

  it('token – with several secrets (a rotation), a token signed with any of them verifies and one signed with another does not', () => {
    const previous = signToken({ sub: 'alice', did: 'phone', ttlSec: 60 }, 'old-secret', NOW);
    expect(verifyToken(good, [SECRET, 'old-secret'], { nowSec: NOW }).ok).toBe(true);
    expect(verifyToken(previous, [SECRET, 'old-secret'], { nowSec: NOW }).ok).toBe(true);
    expect(verifyToken(previous, [SECRET], { nowSec: NOW })).toEqual(unauthorized);
    expect(verifyToken(signToken({ sub: 'a', did: 'b', ttlSec: 60 }, 'third', NOW), [SECRET, 'old-secret'], { nowSec: NOW })).toEqual(unauthorized);
    expect(verifyToken(good, [], { nowSec: NOW })).toEqual(unauthorized);
    expect(verifyToken(good, [SECRET, ''], { nowSec: NOW })).toEqual(unauthorized);
  });

  it('token – the device id "system" is the server\'s own (system messages): refused when signed and when verified', () => {
    expect(() => signToken({ sub: 'alice', did: 'system', ttlSec: 60 }, SECRET, NOW)).toThrow(/reserved/);
    expect(verifyToken(forge(HS256, { sub: 'u', did: 'system', exp: NOW + 60 }), SECRET, { nowSec: NOW })).toEqual(unauthorized);
    expect(verifyToken(forge(HS256, { sub: 'u', did: 'System', exp: NOW + 60 }), SECRET, { nowSec: NOW }).ok).toBe(true);
  });

  it('token – expired is TOKEN_EXPIRED from exp on; leeway extends it by that many seconds', () => {
    expect(verifyToken(good, SECRET, { nowSec: NOW + 59 }).ok).toBe(true);
    expect(verifyToken(good, SECRET, { nowSec: NOW + 60 })).toEqual({ ok: false, error: expect.objectContaining({ code: ErrorCode.TOKEN_EXPIRED }) });
    expect(verifyToken(good, SECRET, { nowSec: NOW + 64, leewaySec: 5 }).ok).toBe(true);
    expect(verifyToken(good, SECRET, { nowSec: NOW + 65, leewaySec: 5 })).toEqual({ ok: false, error: expect.objectContaining({ code: ErrorCode.TOKEN_EXPIRED }) });
  });

  it('token – with a lifetime cap, iat is required and exp − iat may not exceed it', () => {
    const cap = { nowSec: NOW, maxLifetimeSec: 60 };
    expect(verifyToken(good, SECRET, cap).ok).toBe(true);
    expect(verifyToken(signToken({ sub: 'u', did: 'd', ttlSec: 61 }, SECRET, NOW), SECRET, cap)).toEqual(unauthorized);
    expect(verifyToken(forge(HS256, { sub: 'u', did: 'd', exp: NOW + 1 }), SECRET, cap)).toEqual(
      { ok: false, error: expect.objectContaining({ code: ErrorCode.UNAUTHORIZED, message: expect.stringContaining('iat is required') }) },
    );
    expect(verifyToken(signToken({ sub: 'u', did: 'd', ttlSec: 61 }, SECRET, NOW), SECRET, { nowSec: NOW }).ok).toBe(true);
  });

  it('token – iat in the future (past the leeway) is UNAUTHORIZED: it would escape revocations and the lifetime cap', () => {
    const year = 365 * 24 * 3600;
    const ahead = forge(HS256, { sub: 'u', did: 'd', iat: NOW + year, exp: NOW + year + 60 });
    expect(verifyToken(ahead, SECRET, { nowSec: NOW, leewaySec: 30, maxLifetimeSec: 3600 })).toEqual(
      { ok: false, error: expect.objectContaining({ code: ErrorCode.UNAUTHORIZED, message: expect.stringContaining('iat is in the future') }) },
    );
    // An issuer's clock a little ahead is within the leeway.
    const skewed = forge(HS256, { sub: 'u', did: 'd', iat: NOW + 20, exp: NOW + 80 });
    expect(verifyToken(skewed, SECRET, { nowSec: NOW, leewaySec: 30, maxLifetimeSec: 3600 }).ok).toBe(true);
    expect(verifyToken(skewed, SECRET, { nowSec: NOW }).ok).toBe(false);
  });

  it('token – nbf in the future is UNAUTHORIZED unless within leeway', () => {
    const t = forge(HS256, { sub: 'u', did: 'd', exp: NOW + 100, nbf: NOW + 10 });
    expect(verifyToken(t, SECRET, { nowSec: NOW })).toEqual(unauthorized);
    expect(verifyToken(t, SECRET, { nowSec: NOW, leewaySec: 10 }).ok).toBe(true);
  });

  it('token – bad signature (other secret) and tampered payload are UNAUTHORIZED', () => {
    const [h, , s] = good.split('.');
    expect(verifyToken(signToken({ sub: 'alice', did: 'phone', ttlSec: 60 }, 'other', NOW), SECRET, { nowSec: NOW })).toEqual(unauthorized);
    expect(verifyToken(`${h}.${b64({ sub: 'mallory', did: 'phone', exp: NOW + 60 })}.${s}`, SECRET, { nowSec: NOW })).toEqual(unauthorized);
    // A longer exp, same signature.
    expect(verifyToken(`${h}.${b64({ sub: 'alice', did: 'phone', iat: NOW, exp: NOW + 999_999 })}.${s}`, SECRET, { nowSec: NOW })).toEqual(unauthorized);
  });

  it('token – another spelling of the same signature bytes is refused', () => {
    const [h, p, s] = good.split('.') as [string, string, string];
    // 32 bytes are 43 base64url characters; the last one carries 2 unused bits, so 4 spellings decode alike.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = alphabet.indexOf(s.at(-1)!);
    const twin = s.slice(0, -1) + alphabet[last ^ 1];
    expect(Buffer.from(twin, 'base64url')).toEqual(Buffer.from(s, 'base64url'));
    expect(verifyToken(`${h}.${p}.${twin}`, SECRET, { nowSec: NOW })).toEqual(unauthorized);
    expect(verifyToken(`${h}.${p}.${s}=`, SECRET, { nowSec: NOW })).toEqual(unauthorized);
  });

  it('token – alg none, other algorithms and critical headers are UNAUTHORIZED', () => {
    const claims = { sub: 'alice', did: 'phone', exp: NOW + 60 };
    expect(verifyToken(`${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`, SECRET, { nowSec: NOW })).toEqual(unauthorized);
    expect(verifyToken(forge({ alg: 'none' }, claims), SECRET, { nowSec: NOW })).toEqual(unauthorized);
    expect(verifyToken(forge({ alg: 'HS512' }, claims), SECRET, { nowSec: NOW })).toEqual(unauthorized);
    expect(verifyToken(forge({ alg: 'RS256' }, claims), SECRET, { nowSec: NOW })).toEqual(unauthorized);
    expect(verifyToken(forge({ typ: 'JWT' }, claims), SECRET, { nowSec: NOW })).toEqual(unauthorized);
    expect(verifyToken(forge({ alg: 'HS256', crit: ['exp'] }, claims), SECRET, { nowSec: NOW })).toEqual(unauthorized);
  });

  it('token – missing or malformed claims are UNAUTHORIZED', () => {
    const payloads: unknown[] = [
      { did: 'd', exp: NOW + 9 },
      { sub: 'u', exp: NOW + 9 },
      { sub: 'u', did: 'd' },
      { sub: '', did: 'd', exp: NOW + 9 },
      { sub: 'u', did: 7, exp: NOW + 9 },
      { sub: 'u\u0000', did: 'd', exp: NOW + 9 },
      { sub: 'u'.repeat(129), did: 'd', exp: NOW + 9 },
      { sub: 'u', did: 'd', exp: String(NOW + 9) },
      { sub: 'u', did: 'd', exp: NOW + 9, iat: 'yesterday' },
      [1, 2],
      'just a string',
      null,
    ];
    for (const p of payloads) expect(verifyToken(forge(HS256, p), SECRET, { nowSec: NOW })).toEqual(unauthorized);
    expect(verifyToken(forge(HS256, { sub: 'u', did: 'd', exp: NOW + 9 }), SECRET, { nowSec: NOW }).ok).toBe(true);
  });

  it('token – garbage, wrong part counts and oversized tokens are UNAUTHORIZED, never thrown', () => {
    for (const t of ['not-a-token', '', undefined, null, 42, 'a.b.c', 'a.b', `${good}.x`, good.replace('.', '!.'), `${good}${'A'.repeat(5000)}`, '..', '%%.%%.%%']) {
      expect(verifyToken(t, SECRET, { nowSec: NOW })).toEqual(unauthorized);
    }
  });

  it('token – an empty secret verifies nothing and signs nothing', () => {
    expect(verifyToken(forge(HS256, { sub: 'u', did: 'd', exp: NOW + 9 }, ''), '', { nowSec: NOW })).toEqual(unauthorized);
    expect(() => signToken({ sub: 'u', did: 'd', ttlSec: 60 }, '')).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_FIELD }));
  });

  it('token – signing refuses ids and ttls that verification would refuse', () => {
    for (const c of [{ sub: '', did: 'd', ttlSec: 1 }, { sub: 'u', did: 'x'.repeat(129), ttlSec: 1 }, { sub: 'u', did: 'd', ttlSec: 0 }, { sub: 'u', did: 'd', ttlSec: 1.5 }]) {
      expect(() => signToken(c, SECRET)).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_FIELD }));
    }
  });
});
