import type * as Uws from 'uWebSockets.js';
import { describe, expect, it } from 'vitest';
import { sameSecret } from '../../actors/gateway/http-api.js';
import { mountDemoPage } from '../../actors/gateway/demo-page.js';
import { DEV_SERVER_KEY, parseConfig } from '../../runtime/config.js';
import { silentLogger } from '../../runtime/logger.js';

/** Records the routes a mount registers (no server: only which paths would be served). */
function fakeApp(): { app: Uws.TemplatedApp; routes: string[] } {
  const routes: string[] = [];
  const app = { get: (pattern: string) => (routes.push(pattern), app) } as unknown as Uws.TemplatedApp;
  return { app, routes };
}

describe('server secrets', () => {
  it('server API – the key matches only when it is exactly the key, whatever the lengths', () => {
    expect(sameSecret('Bearer k3y', 'Bearer k3y')).toBe(true);
    expect(sameSecret('Bearer k3', 'Bearer k3y')).toBe(false);
    expect(sameSecret('Bearer k3yy', 'Bearer k3y')).toBe(false);
    expect(sameSecret('', 'Bearer k3y')).toBe(false);
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
});
