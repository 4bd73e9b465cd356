import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImError } from '../../protocol/errors.js';
import { startChatCluster, type ChatCluster } from '../helpers/chat-cluster.js';
import { waitUntil } from '../helpers/wait.js';

/**
 * A client with many sends at once (an outbox after a long time offline, an app sending in a loop) must keep to the
 * gateway's rate: past it the gateway drops frames and then closes the connection (4008), and the dropped sends
 * wait out the SDK's 10 s re-send timer.
 */
describe('chat – a backlog of sends under a low rate limit', () => {
  let c: ChatCluster;
  beforeAll(async () => {
    c = await startChatCluster({ nodes: ['p1'], args: ['--rate', '20', '--rate-burst', '20'] });
  }, 60_000);
  afterAll(async () => {
    await c?.stop();
  }, 30_000);

  it('SDK pacing – 120 sends at once all become durable and reach the peer in order, with no rate_limited and no reconnect', async () => {
    const { body } = await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'paced', owner: 'pia', members: ['pat'] });
    expect(body['conv']).toBe('paced');
    const peer = await c.online('pat', 'p2', 'p1', ['message']);
    const errors: ImError[] = [];
    const states: string[] = [];
    const sender = c.sdk('pia', 'p1', 'p1');
    sender.on('error', (e) => errors.push(e));
    sender.on('state', (s) => states.push(s.state));
    await sender.connect();
    const bodies = Array.from({ length: 120 }, (_, i) => `m${i}`);
    const results = await Promise.all(bodies.map((b) => sender.send('paced', b)));
    expect(new Set(results.map((r) => r.seq)).size).toBe(120);
    await waitUntil(() => peer.got.message.length >= 120, 'the peer has every message', 10_000);
    expect(peer.got.message.map((m) => m.body)).toEqual(bodies);
    expect(errors.map((e) => e.code)).toEqual([]);
    expect(states.filter((s) => s === 'reconnecting')).toEqual([]);
  }, 45_000);
});
