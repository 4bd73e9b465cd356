import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../protocol/errors.js';
import { DEV_SERVER_KEY } from '../../runtime/config.js';
import { startChatCluster, type ChatCluster } from '../helpers/chat-cluster.js';
import { rawConnect } from '../helpers/raw-client.js';

const APP = 'http://app.example';
const OTHER = 'http://other.example';

/** `--allowed-origins`: which web pages may open sockets and read the dispatcher. */
describe('gateway – web origins', () => {
  let c: ChatCluster;
  beforeAll(async () => {
    // o1 admits the app's pages only; o2 says nothing, so any page may use it.
    c = await startChatCluster({ nodes: ['o1', 'o2'], nodeArgs: { o1: ['--allowed-origins', APP] } });
  }, 60_000);
  afterAll(async () => {
    await c?.stop();
  }, 30_000);

  it('origins – a page of an origin not listed is refused at upgrade with 403 forbidden; a listed one and a client that names none get in', async () => {
    const o1 = c.gateways.get('o1')!;
    await expect(rawConnect(o1, c.token('or-a', 'd1'), OTHER)).rejects.toMatchObject({ status: 403, body: expect.stringContaining(ErrorCode.FORBIDDEN) });
    for (const origin of [APP, undefined]) {
      const ok = await rawConnect(o1, c.token('or-a', 'd1'), origin);
      await ok.waitFor((f) => f.type === 'convs');
      ok.close();
    }
    // A gateway with no list takes any page.
    const any = await rawConnect(c.gateways.get('o2')!, c.token('or-a', 'd2'), OTHER);
    await any.waitFor((f) => f.type === 'convs');
    any.close();
  }, 30_000);

  it('origins – the dispatcher answers listed pages (or any, with no list) with Access-Control-Allow-Origin; the keyed server API answers none', async () => {
    const get = (node: string, path: string, origin: string, key = false) =>
      fetch(`${c.http.get(node)}${path}`, { headers: { origin, ...(key ? { authorization: `Bearer ${DEV_SERVER_KEY}` } : {}) } });
    const allowed = await get('o1', '/v1/endpoints?uid=or-a', APP);
    expect(allowed.status).toBe(200);
    expect(allowed.headers.get('access-control-allow-origin')).toBe(APP);
    expect(allowed.headers.get('vary')).toBe('origin');
    expect(((await allowed.json()) as { endpoints: string[] }).endpoints.length).toBeGreaterThan(0);
    expect((await get('o1', '/v1/endpoints?uid=or-a', OTHER)).headers.get('access-control-allow-origin')).toBeNull();
    expect((await get('o2', '/v1/endpoints?uid=or-a', OTHER)).headers.get('access-control-allow-origin')).toBe('*');
    const keyed = await get('o2', '/v1/users/or-a/presence', OTHER, true);
    expect(keyed.status).toBe(200);
    expect(keyed.headers.get('access-control-allow-origin')).toBeNull();
  }, 30_000);
});
