import type * as Uws from 'uWebSockets.js';
import { describe, expect, it } from 'vitest';
import { apiError, keyTaken, sameSecret } from '../../actors/gateway/http-route.js';
import { ErrorCode, ImError } from '../../protocol/errors.js';
import { toStorageError } from '../../storage/pg-errors.js';
import { mountDemoPage } from '../../actors/gateway/demo-page.js';
import { ConfigError, DEV_SERVER_KEY, DEV_TOKEN_SECRET, parseConfig } from '../../runtime/config.js';
import { devSecretsInUse } from '../../runtime/config-secrets.js';
import { silentLogger } from '../../runtime/logger.js';

/** Records the routes a mount registers (no server: only which paths would be served). */
function fakeApp(): { app: Uws.TemplatedApp; routes: string[] } {
  const routes: string[] = [];
  const app = { get: (pattern: string) => (routes.push(pattern), app) } as unknown as Uws.TemplatedApp;
  return { app, routes };
}

const REAL_SECRET = 'real-token-secret-0123456789abcdef';
const REAL_KEY = 'real-server-key-0123456789abcdefgh';
const W_NEW = 'webhook-secret-0123456789abcdefgh';

describe('server secrets', () => {
  it('server API – the key matches only when it is exactly the key, whatever the lengths', () => {
    expect(sameSecret('Bearer k3y', 'Bearer k3y')).toBe(true);
    expect(sameSecret('Bearer k3', 'Bearer k3y')).toBe(false);
    expect(sameSecret('Bearer k3yy', 'Bearer k3y')).toBe(false);
    expect(sameSecret('', 'Bearer k3y')).toBe(false);
    // During a rotation, the previous key too.
    expect(keyTaken('Bearer old', { serverKey: 'new', previousServerKey: 'old' })).toBe(true);
    expect(keyTaken('Bearer new', { serverKey: 'new', previousServerKey: 'old' })).toBe(true);
    expect(keyTaken('Bearer old', { serverKey: 'new' })).toBe(false);
    expect(keyTaken('Bearer other', { serverKey: 'new', previousServerKey: 'old' })).toBe(false);
    // The scheme is case-insensitive; the key is not, and another scheme is no key.
    expect(keyTaken('bearer new', { serverKey: 'new' })).toBe(true);
    expect(keyTaken('BEARER old', { serverKey: 'new', previousServerKey: 'old' })).toBe(true);
    expect(keyTaken('Bearer NEW', { serverKey: 'new' })).toBe(false);
    expect(keyTaken('Basic new', { serverKey: 'new' })).toBe(false);
    expect(keyTaken('new', { serverKey: 'new' })).toBe(false);
    expect(keyTaken('', { serverKey: 'new' })).toBe(false);
  });

  it('config – a gateway reachable from other machines does not start with the public development secrets', () => {
    const args = (host: string) => ['--node-id', 'd1', '--database-url', 'postgres://x/y', '--gateway-port', '8081', '--gateway-host', host, '--public-url', 'wss://chat.example/ws'];
    const real = { IM_TOKEN_SECRET: REAL_SECRET, IM_SERVER_KEY: REAL_KEY };
    expect(() => parseConfig(args('0.0.0.0'), {})).toThrow(/token secret|server key/);
    expect(() => parseConfig(args('10.1.2.3'), { IM_TOKEN_SECRET: REAL_SECRET })).toThrow(/server key/);
    expect(() => parseConfig(args('10.1.2.3'), { IM_SERVER_KEY: REAL_KEY })).toThrow(/token secret/);
    expect(parseConfig(args('0.0.0.0'), real).gateway).toMatchObject({ host: '0.0.0.0', tokenSecret: REAL_SECRET, serverKey: REAL_KEY });
    // A rotation's previous secret and key are read too, and the development ones are refused there as well.
    const rotating = { ...real, IM_TOKEN_SECRET_PREVIOUS: 'old-secret', IM_SERVER_KEY_PREVIOUS: 'old-key' };
    expect(parseConfig(args('0.0.0.0'), rotating).gateway).toMatchObject({ tokenSecret: REAL_SECRET, previousTokenSecret: 'old-secret', serverKey: REAL_KEY, previousServerKey: 'old-key' });
    expect(parseConfig(args('0.0.0.0'), real).gateway).not.toHaveProperty('previousTokenSecret');
    expect(() => parseConfig(args('0.0.0.0'), { ...real, IM_TOKEN_SECRET_PREVIOUS: DEV_TOKEN_SECRET })).toThrow(/token secret/);
    expect(() => parseConfig(args('0.0.0.0'), { ...real, IM_SERVER_KEY_PREVIOUS: DEV_SERVER_KEY })).toThrow(/server key/);
    expect(() => parseConfig(args('127.0.0.1'), { ...real, IM_SERVER_KEY: '' })).toThrow(/IM_SERVER_KEY is set but empty/);
    // Token minting stays on this machine, whatever the secrets.
    expect(() => parseConfig([...args('0.0.0.0'), '--dev-tokens'], real)).toThrow(/--dev-tokens/);
    expect(parseConfig([...args('127.0.0.1'), '--dev-tokens'], real).gateway?.devTokens).toBe(true);
    expect(() => parseConfig(args('127.0.0.1'), { ...real, IM_TOKEN_SECRET: '' })).toThrow(/IM_TOKEN_SECRET is set but empty/);
    const hook = ['--webhook-url', 'http://127.0.0.1:9/hook'];
    expect(parseConfig([...args('127.0.0.1'), ...hook], { IM_WEBHOOK_SECRET: W_NEW, IM_WEBHOOK_SECRET_PREVIOUS: 'w-old' }).webhook).toMatchObject({ secret: W_NEW, previousSecret: 'w-old' });
    expect(parseConfig([...args('127.0.0.1'), ...hook], { IM_WEBHOOK_SECRET: W_NEW }).webhook).not.toHaveProperty('previousSecret');
    // A secret or key set shorter than 32 bytes is refused wherever the gateway listens; a rotation's previous one
    // may be short (rotating is how one leaves it), and the development defaults stay for loopback.
    expect(() => parseConfig(args('127.0.0.1'), { ...real, IM_TOKEN_SECRET: 'x'.repeat(31) })).toThrow(/IM_TOKEN_SECRET has 31 bytes; at least 32/);
    expect(() => parseConfig(args('127.0.0.1'), { ...real, IM_SERVER_KEY: 'é'.repeat(15) })).toThrow(/IM_SERVER_KEY has 30 bytes/);
    expect(parseConfig(args('127.0.0.1'), { ...real, IM_SERVER_KEY: 'é'.repeat(16) }).gateway.serverKey).toBe('é'.repeat(16));
    expect(parseConfig(args('0.0.0.0'), rotating).gateway).toMatchObject({ previousTokenSecret: 'old-secret', previousServerKey: 'old-key' });
    expect(() => parseConfig([...args('127.0.0.1'), ...hook], { IM_WEBHOOK_SECRET: 'short' })).toThrow(/IM_WEBHOOK_SECRET has 5 bytes/);
    // On loopback (development, tests) the development secrets are taken, and named for the node's start warning.
    for (const host of ['127.0.0.1', '127.0.0.2', 'localhost', '::1']) expect(parseConfig(args(host), {}).gateway.host).toBe(host);
    expect(devSecretsInUse(parseConfig(args('127.0.0.1'), {}).gateway)).toEqual(['IM_TOKEN_SECRET', 'IM_SERVER_KEY']);
    expect(devSecretsInUse(parseConfig(args('127.0.0.1'), { IM_TOKEN_SECRET: REAL_SECRET }).gateway)).toEqual(['IM_SERVER_KEY']);
    expect(devSecretsInUse(parseConfig(args('127.0.0.1'), real).gateway)).toEqual([]);
  });

  it('demo page – served with --dev-tokens and the development key, never with a real server key (it would hand it out)', () => {
    const base = parseConfig(['--node-id', 'd1', '--database-url', 'postgres://x/y', '--dev-tokens'], {}).gateway;
    const dev = fakeApp();
    expect(mountDemoPage(dev.app, { ...base, serverKey: DEV_SERVER_KEY }, silentLogger())).toBe(true);
    expect(dev.routes).toContain('/demo');
    const real = fakeApp();
    expect(mountDemoPage(real.app, { ...base, serverKey: 'a-real-secret' }, silentLogger())).toBe(false);
    expect(real.routes).toEqual([]);
    const off = fakeApp();
    expect(mountDemoPage(off.app, { ...base, devTokens: false }, silentLogger())).toBe(false);
    expect(off.routes).toEqual([]);
  });

  it('server API – a deadlock or serialization failure answers unavailable (503, send again), a unique clash stays conflict', () => {
    const pg = (code: string) => toStorageError(Object.assign(new Error(code), { code }), 'change blocks');
    expect(apiError(pg('40P01')).code).toBe(ErrorCode.UNAVAILABLE);
    expect(apiError(pg('40001')).code).toBe(ErrorCode.UNAVAILABLE);
    expect(apiError(pg('23505')).code).toBe(ErrorCode.CONFLICT);
    expect(apiError(new ImError(ErrorCode.CONFLICT, 'recalled already')).code).toBe(ErrorCode.CONFLICT);
  });

  it('server API – a unique clash says what clashed in our words, not Postgres\' (no table, constraint or value)', () => {
    const clash = Object.assign(new Error('duplicate key value violates unique constraint "conversations_pkey"'), { code: '23505', detail: 'Key (conv_id)=(g:secret) already exists.' });
    const e = apiError(toStorageError(clash, 'create group'));
    expect(e).toMatchObject({ code: ErrorCode.CONFLICT, message: 'create group: it exists already' });
    expect(e.message).not.toContain('conversations_pkey');
  });
});
