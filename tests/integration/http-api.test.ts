import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyToken } from '../../protocol/token.js';
import { DEV_SERVER_KEY, DEV_TOKEN_SECRET } from '../../runtime/config.js';
import { startChatCluster, type ChatCluster } from '../helpers/chat-cluster.js';
import { rawConnect } from '../helpers/raw-client.js';

/** A cluster whose tokens may live at most this long: under the 3,600 s a development token gets by default. */
const MAX_LIFETIME_SEC = 600;

describe('server API – HTTP conventions', () => {
  let c: ChatCluster;
  let base: string;
  const key = { authorization: `Bearer ${DEV_SERVER_KEY}` };
  const call = async (method: string, path: string, init: RequestInit = {}): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> => {
    const res = await fetch(`${base}${path}`, { method, ...init, headers: { ...key, ...(init.headers as Record<string, string> | undefined) } });
    return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
  };

  beforeAll(async () => {
    c = await startChatCluster({ nodes: ['h1'], args: ['--max-token-lifetime', String(MAX_LIFETIME_SEC)] });
    base = c.http.get('h1')!;
  }, 60_000);
  afterAll(async () => {
    await c?.stop();
  }, 30_000);

  it('server API – a method a path does not serve is 405 with Allow naming those it does, in the usual error shape; an unknown path stays 404', async () => {
    const conv = await call('DELETE', '/v1/conversations/some-group');
    expect(conv.status).toBe(405);
    expect(conv.headers.get('allow')).toBe('GET, POST');
    expect(conv.headers.get('content-type')).toBe('application/json');
    expect(conv.body).toEqual({ code: 'not_found', message: expect.stringContaining('GET, POST') });
    const disconnect = await call('GET', '/v1/users/ann/disconnect');
    expect([disconnect.status, disconnect.headers.get('allow'), disconnect.body['code']]).toEqual([405, 'POST', 'not_found']);
    expect((await call('PUT', '/v1/presence')).headers.get('allow')).toBe('POST');
    expect((await call('POST', '/healthz')).headers.get('allow')).toBe('GET, HEAD');
    // An uptime monitor's HEAD gets the health check's status.
    const head = await fetch(`${base}/healthz`, { method: 'HEAD' });
    expect([head.status, await head.text()]).toEqual([200, '']);
    // Answered before the key is looked at, as a 404 is: the method is wrong whoever asks.
    const keyless = await fetch(`${base}/v1/tokens`);
    expect([keyless.status, keyless.headers.get('allow')]).toEqual([405, 'POST']);
    const nowhere = await call('GET', '/v1/nowhere');
    expect([nowhere.status, nowhere.headers.get('allow'), nowhere.body]).toEqual([404, null, { code: 'not_found', message: 'no such route' }]);
    expect((await call('DELETE', '/v1/conversations/some-group/nothing')).status).toBe(404);
    expect((await call('GET', '/v1/users//disconnect')).status).toBe(404);
  });

  it('server API – a 401 says how to authenticate: WWW-Authenticate: Bearer', async () => {
    const none = await fetch(`${base}/v1/users/ann/settings`);
    expect([none.status, none.headers.get('www-authenticate')]).toEqual([401, 'Bearer']);
    expect(await none.json()).toMatchObject({ code: 'unauthorized' });
    const wrong = await fetch(`${base}/v1/presence`, { method: 'POST', headers: { authorization: 'Bearer not-the-key' }, body: '{"uids":["ann"]}' });
    expect([wrong.status, wrong.headers.get('www-authenticate')]).toEqual([401, 'Bearer']);
    // Other refusals do not ask for credentials.
    expect((await call('GET', '/v1/conversations/nowhere')).headers.get('www-authenticate')).toBeNull();
  });

  it('server API – a body that is not a JSON object is 400 bad_frame, as README lists it', async () => {
    const notJson = await call('POST', '/v1/presence', { body: '{"uids": [' });
    expect([notJson.status, notJson.body['code']]).toEqual([400, 'bad_frame']);
    const array = await call('POST', '/v1/presence', { body: '["ann"]' });
    expect([array.status, array.body['code']]).toEqual([400, 'bad_frame']);
  });

  it('server API – disconnect refuses "erase" (400 invalid_field, nobody signed out): an account is erased with POST /v1/users/:uid/erase', async () => {
    const dev = await rawConnect(c.gateways.get('h1')!, c.token('eve', 'eve-1', MAX_LIFETIME_SEC));
    await dev.waitFor((f) => f.type === 'convs');
    const refused = await call('POST', '/v1/users/eve/disconnect', { body: JSON.stringify({ erase: true }) });
    expect(refused.status).toBe(400);
    expect(refused.body).toEqual({ code: 'invalid_field', message: expect.stringContaining('/v1/users/:uid/erase') });
    expect((await c.api('GET', '/v1/users/eve/presence')).body).toMatchObject({ online: true, devices: [{ did: 'eve-1' }] });
    // The erasure itself still signs the devices out through the same connector operation.
    expect(await c.api('POST', '/v1/users/eve/erase', {})).toMatchObject({ status: 200, body: { devices: ['eve-1'] } });
    expect((await dev.closed).code).toBe(4014);
  });

  it('server API – POST /v1/tokens without ttlSec on a cluster whose tokens live under an hour mints one of the longest life allowed, which connects', async () => {
    const minted = await c.api('POST', '/v1/tokens', { uid: 'tia', did: 'tia-1' });
    expect(minted.status).toBe(200);
    const claims = verifyToken(minted.body['token'], DEV_TOKEN_SECRET);
    // `exp` is whole seconds after an `iat` with its millisecond fraction.
    expect(claims.ok && Math.ceil(claims.value.exp - claims.value.iat!)).toBe(MAX_LIFETIME_SEC);
    const dev = await rawConnect(c.gateways.get('h1')!, minted.body['token'] as string);
    await dev.waitFor((f) => f.type === 'convs');
    dev.close();
    expect(await c.api('POST', '/v1/tokens', { uid: 'tia', did: 'tia-1', ttlSec: MAX_LIFETIME_SEC + 1 })).toMatchObject({ status: 400, body: { code: 'invalid_field' } });
  });
});
