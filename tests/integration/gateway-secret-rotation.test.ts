import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../protocol/errors.js';
import { signToken } from '../../protocol/token.js';
import { DEV_SERVER_KEY, DEV_TOKEN_SECRET } from '../../runtime/config.js';
import { startChatCluster, type ChatCluster } from '../helpers/chat-cluster.js';
import { rawConnect } from '../helpers/raw-client.js';

const NEW_SECRET = 'rotated-token-secret-of-32-bytes-at-least';
const NEW_KEY = 'rotated-server-key-of-32-bytes-at-least';

/** Rotating the token secret and the server key without signing anyone out: the previous ones stay good for a while. */
describe('gateway – secret rotation', () => {
  let c: ChatCluster;
  beforeAll(async () => {
    // r2 is mid-rotation: new secret and key, the old (development) ones still taken. r1 has not been rotated yet.
    c = await startChatCluster({ nodes: ['r1', 'r2'], nodeEnv: { r2: { IM_TOKEN_SECRET: NEW_SECRET, IM_TOKEN_SECRET_PREVIOUS: DEV_TOKEN_SECRET, IM_SERVER_KEY: NEW_KEY, IM_SERVER_KEY_PREVIOUS: DEV_SERVER_KEY } } });
  }, 60_000);
  afterAll(async () => {
    await c?.stop();
  }, 30_000);

  const token = (secret: string, did: string): string => signToken({ sub: 'rot-user', did, ttlSec: 600 }, secret);

  it('rotation – a gateway given a previous token secret takes tokens signed with either, refuses others with 401, and a session refreshes onto the new one', async () => {
    const r2 = c.gateways.get('r2')!;
    const old = await rawConnect(r2, token(DEV_TOKEN_SECRET, 'old'));
    await old.waitFor((f) => f.type === 'convs');
    const fresh = await rawConnect(r2, token(NEW_SECRET, 'new'));
    await fresh.waitFor((f) => f.type === 'convs');
    await expect(rawConnect(r2, token('some-other-secret', 'x'))).rejects.toMatchObject({ status: 401, body: expect.stringContaining(ErrorCode.UNAUTHORIZED) });
    // Before its rotation, r1 knows only the old secret.
    await expect(rawConnect(c.gateways.get('r1')!, token(NEW_SECRET, 'y'))).rejects.toMatchObject({ status: 401 });

    old.send({ type: 'refresh', rid: 1, token: token(NEW_SECRET, 'old') });
    expect(await old.waitFor((f) => f.type === 'refreshed')).toMatchObject({ rid: 1 });
    old.send({ type: 'refresh', rid: 2, token: token('some-other-secret', 'old') });
    expect(await old.waitFor((f) => f.type === 'error')).toMatchObject({ rid: 2, code: ErrorCode.UNAUTHORIZED });
    old.close();
    fresh.close();
  }, 30_000);

  it('rotation – the server API takes the new key and the previous one, and nothing else', async () => {
    const get = (key: string) => fetch(`${c.http.get('r2')}/v1/users/rot-user/conversations`, { headers: { authorization: `Bearer ${key}` } });
    expect((await get(NEW_KEY)).status).toBe(200);
    expect((await get(DEV_SERVER_KEY)).status).toBe(200);
    const wrong = await get('not-the-key');
    expect([wrong.status, ((await wrong.json()) as { code: string }).code]).toEqual([401, ErrorCode.UNAUTHORIZED]);
  }, 30_000);
});
