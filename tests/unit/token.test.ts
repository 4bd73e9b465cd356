import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../protocol/errors.js';
import { signToken, verifyToken } from '../../protocol/token.js';

const SECRET = 'test-secret';
const NOW = 1_800_000_000;
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

describe('token – HS256 connection tokens', () => {
  const good = signToken({ sub: 'alice', did: 'phone', ttlSec: 60 }, SECRET, NOW);

  it('token – a fresh token verifies to its user and device', () => {
    expect(verifyToken(good, SECRET, { nowSec: NOW + 10 })).toMatchObject({ ok: true, value: { sub: 'alice', did: 'phone', exp: NOW + 60 } });
  });

  it('token – an expired token is TOKEN_EXPIRED, within leeway it still passes', () => {
    expect(verifyToken(good, SECRET, { nowSec: NOW + 61 })).toMatchObject({ ok: false, error: { code: ErrorCode.TOKEN_EXPIRED } });
    expect(verifyToken(good, SECRET, { nowSec: NOW + 61, leewaySec: 5 }).ok).toBe(true);
  });

  it('token – wrong secret, tampered payload, alg none and garbage are UNAUTHORIZED', () => {
    const [h, , s] = good.split('.');
    const cases = [
      signToken({ sub: 'alice', did: 'phone', ttlSec: 60 }, 'other', NOW),
      `${h}.${b64({ sub: 'mallory', did: 'phone', exp: NOW + 60 })}.${s}`,
      `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'alice', did: 'phone', exp: NOW + 60 })}.`,
      'not-a-token',
      '',
      undefined,
      'a.b.c',
    ];
    for (const t of cases) expect(verifyToken(t, SECRET, { nowSec: NOW })).toMatchObject({ ok: false, error: { code: ErrorCode.UNAUTHORIZED } });
  });

  it('token – missing claims are UNAUTHORIZED', () => {
    const bad = (payload: unknown) => {
      const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(payload)}`;
      const sig = require('node:crypto').createHmac('sha256', SECRET).update(body).digest('base64url');
      return `${body}.${sig}`;
    };
    for (const p of [{ did: 'd', exp: NOW + 9 }, { sub: 'u', exp: NOW + 9 }, { sub: 'u', did: 'd' }, [1, 2]]) {
      expect(verifyToken(bad(p), SECRET, { nowSec: NOW })).toMatchObject({ ok: false, error: { code: ErrorCode.UNAUTHORIZED } });
    }
    expect(verifyToken(bad({ sub: 'u', did: 'd', exp: NOW + 9 }), SECRET, { nowSec: NOW }).ok).toBe(true);
  });
});
