import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OnlineEvent } from '../../protocol/chat-ops.js';
import { ImClient, type ImClientEvents } from '../../protocol/sdk/index.js';
import { EventSubject } from '../../protocol/subjects.js';
import { connectorUserOn, startChatCluster, type ChatCluster } from '../helpers/chat-cluster.js';
import { rawConnect } from '../helpers/raw-client.js';
import { waitUntil } from '../helpers/wait.js';

// A cluster of its own: a node killed and restarted here has its shards moved back to it for a while after,
// which would move the connectors other tests placed on purpose.
describe('chat – presence when a node dies with the connectors on it', () => {
  let c: ChatCluster;
  const clients: ImClient[] = [];
  beforeAll(async () => {
    c = await startChatCluster({ nodes: ['p1', 'p2'] });
  }, 60_000);
  afterAll(async () => {
    for (const x of clients) x.close();
    await c?.stop();
  }, 30_000);

  const userOn = (node: string, prefix: string): Promise<string> => connectorUserOn(c, node, prefix);

  it('node crash – a user whose socket and connector were both on the node that died goes offline for peers and the business server; one whose device is elsewhere stays online', async () => {
    const lost = await userOn('p2', 'lost');
    const stay = await userOn('p2', 'stay');
    const peer = await userOn('p1', 'peer');
    for (const u of [lost, stay]) await c.api('POST', '/v1/conversations', { kind: 'direct', members: [peer, u] });
    const offline = await c.collect<OnlineEvent>(EventSubject.OFFLINE);
    const client = new ImClient({ endpoints: [c.gateways.get('p1')!], token: c.token(peer, 'd1'), WebSocket: WebSocket as never });
    clients.push(client);
    const presence: ImClientEvents['presence'][] = [];
    client.on('presence', (p) => presence.push(p));
    await client.connect();
    // `lost`: its only socket on p2's gateway, its connector on p2; `stay`: connector on p2, socket on p1's gateway.
    const lostSocket = await rawConnect(c.gateways.get('p2')!, c.token(lost, 'phone'));
    const staySocket = await rawConnect(c.gateways.get('p1')!, c.token(stay, 'laptop'));
    const keepAlive = setInterval(() => staySocket.send({ type: 'ping' }), 1000);
    try {
      await waitUntil(() => [lost, stay].every((u) => presence.some((p) => p.uid === u && p.online)), 'the peer seeing both online');
      await waitUntil(async () => (await c.db.sql`SELECT 1 FROM online_users WHERE uid IN (${lost}, ${stay}) AND life LIKE 'p2 %'`).length === 2, 'both marked online as p2\'s');

      c.nodes.get('p2')!.signal('SIGKILL');
      lostSocket.close();
      await waitUntil(() => presence.some((p) => p.uid === lost && !p.online), 'the peer seeing the lost user go offline', 40_000);
      expect(presence.find((p) => p.uid === lost && !p.online)?.lastSeen).toEqual(expect.any(Number));
      await waitUntil(() => offline.some((e) => e.uid === lost), 'an offline event for the lost user', 10_000);
      expect(offline.filter((e) => e.uid === lost)).toEqual([expect.objectContaining({ type: 'offline', uid: lost, did: 'phone', node: 'p1' })]);
      expect((await c.api('GET', `/v1/users/${lost}/presence`)).body).toMatchObject({ online: false, devices: [], lastSeen: expect.any(Number) });

      // The user with a device on the living gateway was never taken offline, and is marked online as p1's now.
      await new Promise((r) => setTimeout(r, 2_000));
      expect(presence.filter((p) => p.uid === stay && !p.online)).toEqual([]);
      expect(offline.filter((e) => e.uid === stay)).toEqual([]);
      expect((await c.api('GET', `/v1/users/${stay}/presence`)).body).toMatchObject({ online: true, devices: [{ did: 'laptop' }] });
      const rows = await c.db.sql<{ uid: string; life: string }[]>`SELECT uid, life FROM online_users WHERE uid IN (${lost}, ${stay})`;
      expect(rows.map((r) => [r.uid, r.life.split(' ')[0]])).toEqual([[stay, 'p1']]);
    } finally {
      clearInterval(keepAlive);
      staySocket.close();
    }
  }, 90_000);
});
