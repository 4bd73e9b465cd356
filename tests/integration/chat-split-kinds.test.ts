import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChatCluster, type ChatCluster } from '../helpers/chat-cluster.js';
import { waitUntil } from '../helpers/wait.js';

describe('chat – a split deployment (connectors on one node, chatters on another)', () => {
  let c: ChatCluster;
  beforeAll(async () => {
    // p1 starts first and alone, hosting connectors only: it must still place and route to the chatter shards.
    c = await startChatCluster({ nodes: ['p1', 'p2'], nodeArgs: { p1: ['--kinds', 'connector'], p2: ['--kinds', 'chatter'] } });
  }, 90_000);
  afterAll(async () => {
    await c?.stop();
  }, 30_000);

  it('split kinds – each kind is served by the node hosting it, and messages go both ways through either gateway', async () => {
    const owners = await c.db.sql<{ kind: string; owner: string; n: number }[]>`SELECT kind, owner, count(*)::int AS n FROM shards GROUP BY kind, owner ORDER BY kind`;
    expect(owners).toEqual([
      { kind: 'chatter', owner: 'p2', n: 32 },
      { kind: 'connector', owner: 'p1', n: 32 },
    ]);
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'split', owner: 'ana', members: ['ben'] });
    const ana = await c.online('ana', 'd1', 'p1', ['message']);
    const ben = await c.online('ben', 'd1', 'p2', ['message']);
    const a1 = await ana.client.send('split', 'from the connectors node');
    const b1 = await ben.client.send('split', 'from the chatters node');
    await waitUntil(() => ana.got.message.length === 2 && ben.got.message.length === 2, 'both messages at both users');
    for (const got of [ana.got.message, ben.got.message]) expect(got.map((m) => [m.seq, m.body])).toEqual([[a1.seq, 'from the connectors node'], [b1.seq, 'from the chatters node']]);
  });
});
