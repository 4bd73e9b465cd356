import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Msg } from '../../protocol/frames.js';
import { ImClient } from '../../protocol/sdk/index.js';
import { shardOf } from '../../protocol/shard-hash.js';
import { startChatCluster, type ChatCluster } from '../helpers/chat-cluster.js';
import { waitUntil } from '../helpers/wait.js';

const SHARDS = 8;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A connector shard that stops and starts again loses what its actors knew of the user's sessions, and the
 * deliveries sent to it meanwhile. Whatever the reason (a node that doubted its lease, a node restarted under
 * the same id before its lease ran out, a shard move), sessions held by other gateways must be attached again
 * and re-synced, so an online device keeps receiving without reconnecting.
 */
describe('chat – sessions survive their connector shard restarting', () => {
  let c: ChatCluster;
  beforeAll(async () => {
    // Lease 3 s, heartbeat 1 s: a 2.1 s freeze always makes the node doubt its lease (it stops serving
    // everything), and only rarely lets the database call it dead.
    c = await startChatCluster({ nodes: ['n1', 'n2'], shards: SHARDS, args: ['--heartbeat-ms', '1000', '--lease-ms', '3000'] });
  }, 60_000);
  afterAll(async () => {
    await c?.stop();
  }, 30_000);

  it('resync – a device on another gateway still gets new messages after its connector node froze past its own lease check', async () => {
    const owners = new Map((await c.db.sql<{ shard: number; owner: string }[]>`SELECT shard, owner FROM shards WHERE kind = 'connector'`).map((r) => [r.shard, r.owner]));
    let uid = '';
    for (let i = 0; i < 200 && !uid; i++) if (owners.get(shardOf(`fz${i}`, SHARDS)) === 'n1') uid = `fz${i}`;
    expect(uid).not.toBe('');
    const peer = `${uid}-peer`;
    const res = await c.api('POST', '/v1/conversations', { kind: 'direct', members: [uid, peer] });
    const conv = res.body['conv'] as string;
    const gw2 = [c.gateways.get('n2')!];
    const got: Msg[] = [];
    const states: string[] = [];
    const device = new ImClient({ endpoints: gw2, token: c.token(uid, 'phone'), WebSocket: WebSocket as never, history: 'all' });
    device.on('message', (m) => got.push(m));
    device.on('state', (s) => states.push(s.state));
    const sender = new ImClient({ endpoints: gw2, token: c.token(peer, 'web'), WebSocket: WebSocket as never, history: 'all' });
    await Promise.all([device.connect(), sender.connect()]);
    const first = await sender.send(conv, 'before the freeze');
    await waitUntil(() => got.some((m) => m.seq === first.seq), 'the first message', 5000);

    const n1 = c.nodes.get('n1')!;
    n1.signal('SIGSTOP');
    await sleep(2100);
    n1.signal('SIGCONT');
    // Let n1 renew its lease and serve its shards again.
    await sleep(2000);
    const second = await sender.send(conv, 'after the freeze');
    await waitUntil(() => got.some((m) => m.seq === second.seq), 'the message sent after the freeze', 10_000).catch(async (err: unknown) => {
      console.log(`node warnings:\n${await c.warnings()}`);
      throw err;
    });
    expect(got.map((m) => m.body)).toEqual(['before the freeze', 'after the freeze']);
    // Delivered over the same connection: nothing had to reconnect.
    expect(states.filter((s) => s === 'reconnecting')).toEqual([]);
    device.close();
    sender.close();
  }, 60_000);
});
