import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chatterConvOn, connectorUserOn, startChatCluster, type ChatCluster } from '../helpers/chat-cluster.js';
import { tcpProxy, type TcpProxy } from '../../scripts/lib/tcp-proxy.js';
import { startTestNats } from '../helpers/nats.js';
import { waitUntil } from '../helpers/wait.js';

const GRACE_MS = 2000;

/**
 * A node cut off from NATS but not from Postgres renewed its lease through Postgres alone, so no other node took its
 * shards: their users and conversations got `unavailable` for as long as the cut lasted.
 */
describe('cluster – a node cut off from NATS alone', () => {
  let c: ChatCluster;
  let proxy: TcpProxy;
  beforeAll(async () => {
    c = await startChatCluster({ nodes: ['nc1', 'nc2'], args: ['--nats-cut-grace-ms', String(GRACE_MS)] });
    // nc2 reaches NATS through a proxy the test can cut; Postgres it reaches directly.
    proxy = await tcpProxy(new URL(c.nats.url));
    await c.respawn('nc2', ['--nats', proxy.url(c.nats.url)]);
    await c.settle();
  }, 90_000);
  afterAll(async () => {
    await c?.stop();
    proxy?.close();
  }, 30_000);

  const health = async (node: string) => (await fetch(`${c.http.get(node)}/healthz`)).json() as Promise<{ lease: boolean; nats: boolean }>;
  const owned = async (node: string) => Number((await c.db.sql<{ n: string }[]>`SELECT count(*) AS n FROM shards WHERE owner = ${node}`)[0]!.n);

  it('nats cut – past the grace its shards go to the node that reaches NATS, its clients are redirected there, and nothing sent is lost; healed, it serves again', async () => {
    const cora = await connectorUserOn(c, 'nc2', 'cut-cora');
    const dan = await connectorUserOn(c, 'nc1', 'cut-dan');
    const conv = await chatterConvOn(c, 'nc2', 'cut-room');
    expect((await c.api('POST', '/v1/conversations', { kind: 'group', conv, owner: dan, members: [cora] })).status).toBe(201);
    const onCut = await c.online(cora, 'phone', 'nc2', ['message', 'redirect']);
    const onLive = await c.online(dan, 'phone', 'nc1', ['message']);
    const first = await onLive.client.send(conv, 'before the cut');
    await waitUntil(() => onCut.got.message.length === 1, 'cora getting the first message');

    proxy.freeze();
    proxy.cut();
    const cutAt = Date.now();
    // Sent during the cut to a conversation nc2 owned, by a user whose connector nc2 owned: acked once nc1 took over.
    const during = onLive.client.send(conv, 'during the cut');
    await waitUntil(async () => (await owned('nc2')) === 0, "nc1 owning every one of nc2's shards", 30_000);
    expect(Date.now() - cutAt).toBeGreaterThanOrEqual(GRACE_MS);
    expect(await health('nc2')).toMatchObject({ lease: false, nats: false });
    const second = await during;
    expect(second.seq).toBe(first.seq + 1);
    // Cora's client was sent to nc1's gateway, and gets the message there.
    await waitUntil(() => onCut.got.redirect.length > 0 && onCut.client.welcome?.node === 'nc1', "cora's client redirected to nc1", 15_000);
    expect(onCut.got.redirect[0]).toEqual({ endpoints: [c.gateways.get('nc1')], reason: 'moved' });
    await waitUntil(() => onCut.got.message.length === 2, 'cora getting the message sent during the cut', 15_000);
    const third = await onCut.client.send(conv, 'from cora, moved');
    await waitUntil(() => onLive.got.message.some((m) => m.seq === third.seq), 'dan getting cora\u2019s message');
    // Each once, in order (her own comes back to her too).
    expect(onCut.got.message.map((m) => [m.seq, m.body])).toEqual([
      [first.seq, 'before the cut'],
      [second.seq, 'during the cut'],
      [third.seq, 'from cora, moved'],
    ]);
    // The coordinator is not the cut node.
    const [lease] = await c.db.sql<{ holder: string }[]>`SELECT holder FROM leases WHERE name = 'coordinator'`;
    expect(lease?.holder.startsWith('nc1#')).toBe(true);

    proxy.thaw();
    await waitUntil(async () => (await health('nc2')).lease && (await health('nc2')).nats, 'nc2 holding its lease again once NATS is back', 20_000);
    await c.settle(30_000);
    expect(await owned('nc2')).toBeGreaterThan(0);
    const fourth = await onLive.client.send(conv, 'after the heal');
    await waitUntil(() => onCut.got.message.length === 4, 'cora getting the message after the heal');
    expect(onCut.got.message.at(-1)).toMatchObject({ seq: fourth.seq, body: 'after the heal' });
  }, 120_000);

  it('nats outage – when NATS itself is down for longer than the grace, every node is cut off, none reports it up, and none gives its lease up', async () => {
    const leases: string[] = [];
    let polling = true;
    const poll = (async () => {
      while (polling) {
        for (const n of ['nc1', 'nc2']) {
          const h = await health(n).catch(() => undefined);
          if (h && !h.lease) leases.push(`${n} lost its lease`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const before = await owned('nc2');
    expect(before).toBeGreaterThan(0);
    c.nats.signal('SIGKILL');
    await waitUntil(async () => !(await health('nc1')).nats && !(await health('nc2')).nats, 'both nodes seeing NATS gone');
    // Three graces without NATS anywhere.
    await new Promise((r) => setTimeout(r, 3 * GRACE_MS));
    const again = await startTestNats({ port: c.nats.port });
    try {
      await waitUntil(async () => (await health('nc1')).nats && (await health('nc2')).nats, 'both nodes back on NATS', 15_000);
      // Past another grace: a node that came back later than the other must not have given way to it.
      await new Promise((r) => setTimeout(r, GRACE_MS + 1000));
      polling = false;
      await poll;
      expect(leases).toEqual([]);
      expect(await owned('nc2')).toBe(before);
    } finally {
      polling = false;
      await again.stop();
    }
  }, 60_000);
});
