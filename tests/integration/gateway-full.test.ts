import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChatCluster, type ChatCluster } from '../helpers/chat-cluster.js';
import { rawConnect, type RawClient } from '../helpers/raw-client.js';

describe('gateway – a full node names the other gateways (two node processes)', () => {
  let c: ChatCluster;
  beforeAll(async () => {
    c = await startChatCluster({ nodes: ['f1', 'f2'], nodeArgs: { f1: ['--max-connections', '2'] } });
  }, 60_000);
  afterAll(async () => {
    await c?.stop();
  });

  it('gateway – over its connection limit a node answers 503 overloaded naming the other gateway, where the client is taken', async () => {
    const held: RawClient[] = [];
    try {
      for (const uid of ['fa', 'fb']) held.push(await rawConnect(c.gateways.get('f1')!, c.token(uid, 'd')));
      const refused = (await rawConnect(c.gateways.get('f1')!, c.token('fc', 'd')).then(
        (x) => (held.push(x), undefined),
        (err: unknown) => err,
      )) as { status?: number; body?: string } | undefined;
      expect(refused?.status).toBe(503);
      const body = JSON.parse(refused!.body!) as { code: string; endpoints: string[] };
      expect(body).toEqual({ code: 'overloaded', message: 'this gateway is full', endpoints: [c.gateways.get('f2')] });
      // Where it points, the client gets in.
      const there = await rawConnect(body.endpoints[0]!, c.token('fc', 'd'));
      held.push(there);
      await there.waitFor((f) => f.type === 'welcome');
    } finally {
      for (const x of held) x.close();
    }
  });
});
