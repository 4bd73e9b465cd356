import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServerFrameOf } from '../../protocol/frames.js';
import { startChatCluster, type ChatCluster } from '../helpers/chat-cluster.js';
import { rawConnect } from '../helpers/raw-client.js';

describe('chat smoke', () => {
  let c: ChatCluster;
  beforeAll(async () => {
    c = await startChatCluster({ nodes: ['n1', 'n2'] });
  }, 60_000);
  afterAll(async () => {
    await c?.stop();
  }, 30_000);

  it('chat – a direct message is acked once durable and delivered to the peer', async () => {
    const created = await c.api('POST', '/v1/conversations', { kind: 'direct', members: ['alice', 'bob'] });
    expect(created.status).toBe(201);
    const conv = created.body['conv'] as string;
    const a = await rawConnect(c.gateways.get('n1')!, c.token('alice', 'a1'));
    const b = await rawConnect(c.gateways.get('n2')!, c.token('bob', 'b1'));
    await a.waitFor((f) => f.type === 'convs');
    await b.waitFor((f) => f.type === 'convs');
    a.send({ type: 'send', conv, cid: 1, body: 'hello bob' });
    const sent = await a.waitFor<ServerFrameOf<'sent'>>((f) => f.type === 'sent');
    expect(sent.seq).toBeGreaterThan(0);
    const msg = await b.waitFor<ServerFrameOf<'msg'>>((f) => f.type === 'msg');
    expect(msg).toMatchObject({ conv, seq: sent.seq, prev: 0, from: 'alice', did: 'a1', cid: 1, body: 'hello bob' });
    a.close();
    b.close();
  }, 30_000);
});
