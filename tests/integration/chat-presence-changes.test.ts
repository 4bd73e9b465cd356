import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChatCluster, type ChatCluster } from '../helpers/chat-cluster.js';
import { waitUntil } from '../helpers/wait.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Presence goes out as a user's first device comes and the last leaves. What changes between two users already
 * online (a direct conversation made, a block made or lifted) must show on their devices at once all the same.
 */
describe('chat – presence between users already online', () => {
  let c: ChatCluster;
  beforeAll(async () => {
    c = await startChatCluster({ nodes: ['q1', 'q2'] });
  }, 60_000);
  afterAll(async () => {
    await c?.stop();
  }, 30_000);

  it('presence – two users online when their direct conversation is made see each other online at once (once), and a later device too', async () => {
    const ann = await c.online('pc-ann', 'phone', 'q1', ['presence', 'joined']);
    const ben = await c.online('pc-ben', 'phone', 'q2', ['presence', 'joined']);
    expect((await c.api('POST', '/v1/conversations', { kind: 'direct', members: ['pc-ann', 'pc-ben'] })).status).toBeLessThan(300);
    await waitUntil(() => ann.got.presence.length >= 1 && ben.got.presence.length >= 1, 'each seeing the other online');
    await sleep(500);
    expect(ann.got.presence).toEqual([{ uid: 'pc-ben', online: true }]);
    expect(ben.got.presence).toEqual([{ uid: 'pc-ann', online: true }]);
    const laptop = await c.online('pc-ann', 'laptop', 'q2', ['presence']);
    await waitUntil(() => laptop.got.presence.length >= 1, 'the later device told who is online');
    expect(laptop.got.presence).toEqual([{ uid: 'pc-ben', online: true }]);
    ben.client.close();
    await waitUntil(() => ann.got.presence.length >= 2, 'ann seeing ben leave');
    expect(ann.got.presence[1]).toEqual({ uid: 'pc-ben', online: false, lastSeen: expect.any(Number) });
  }, 60_000);

  it('blocks – a block made while both are online shows each the other offline, and a later device does not see the blocked one online; lifting it shows them online again', async () => {
    expect((await c.api('POST', '/v1/conversations', { kind: 'direct', members: ['pb-ida', 'pb-ivo'] })).status).toBeLessThan(300);
    const ida = await c.online('pb-ida', 'phone', 'q1', ['presence']);
    const ivo = await c.online('pb-ivo', 'phone', 'q2', ['presence']);
    await waitUntil(() => ida.got.presence.length >= 1 && ivo.got.presence.length >= 1, 'each seeing the other online');
    ida.got.presence.length = ivo.got.presence.length = 0;

    expect((await c.api('POST', '/v1/users/pb-ida/blocks', { add: ['pb-ivo'] })).status).toBe(200);
    await waitUntil(() => ida.got.presence.length >= 1 && ivo.got.presence.length >= 1, 'each seeing the other go offline');
    // No last seen across a block.
    expect(ida.got.presence).toEqual([{ uid: 'pb-ivo', online: false }]);
    expect(ivo.got.presence).toEqual([{ uid: 'pb-ida', online: false }]);
    const laptop = await c.online('pb-ida', 'laptop', 'q2', ['presence']);
    await sleep(500);
    expect(laptop.got.presence).toEqual([]);

    ida.got.presence.length = ivo.got.presence.length = 0;
    expect((await c.api('POST', '/v1/users/pb-ida/blocks', { remove: ['pb-ivo'] })).status).toBe(200);
    await waitUntil(() => ida.got.presence.length >= 1 && laptop.got.presence.length >= 1 && ivo.got.presence.length >= 1, 'each seeing the other online again');
    await sleep(500);
    expect([ida.got.presence, laptop.got.presence]).toEqual([[{ uid: 'pb-ivo', online: true }], [{ uid: 'pb-ivo', online: true }]]);
    expect(ivo.got.presence).toEqual([{ uid: 'pb-ida', online: true }]);
  }, 60_000);
});
