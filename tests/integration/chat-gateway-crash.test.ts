import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImClient, type ImClientEvents } from '../../protocol/sdk/index.js';
import { connectorUserOn, startChatCluster, type ChatCluster } from '../helpers/chat-cluster.js';
import { rawConnect } from '../helpers/raw-client.js';
import { waitUntil } from '../helpers/wait.js';

describe('chat – a gateway node dying', () => {
  let c: ChatCluster;
  const clients: ImClient[] = [];
  beforeAll(async () => {
    c = await startChatCluster({ nodes: ['k1', 'k2'] });
  }, 60_000);
  afterAll(async () => {
    for (const x of clients) x.close();
    await c?.stop();
  }, 30_000);

  const userOn = (node: string, prefix: string): Promise<string> => connectorUserOn(c, node, prefix);

  it('gateway crash – a user whose only socket was on a node that died goes offline for their peers, with a last seen, and leaves no device behind', async () => {
    const ghost = await userOn('k1', 'gho');
    const peer = await userOn('k1', 'pee');
    const both = await userOn('k1', 'two');
    const direct = (await c.api('POST', '/v1/conversations', { kind: 'direct', members: [ghost, peer] })).body['conv'] as string;
    const client = new ImClient({ endpoints: [c.gateways.get('k1')!], token: c.token(peer, 'd1'), WebSocket: WebSocket as never });
    clients.push(client);
    const presence: ImClientEvents['presence'][] = [];
    client.on('presence', (p) => presence.push(p));
    await client.connect();
    // The ghost's socket is on k2's gateway; its connector on k1. The socket never comes back (app gone too).
    const raw = await rawConnect(c.gateways.get('k2')!, c.token(ghost, 'phone'));
    await waitUntil(() => presence.some((p) => p.uid === ghost && p.online), 'the peer seeing the ghost online');
    // Another user has a device on each gateway: only the one on the dying gateway is forgotten.
    const phone = await rawConnect(c.gateways.get('k2')!, c.token(both, 'phone'));
    const laptop = await rawConnect(c.gateways.get('k1')!, c.token(both, 'laptop'));
    const devicesOf = async (uid: string) => ((await c.api('GET', `/v1/users/${uid}/presence`)).body['devices'] as { did: string }[]).map((d) => d.did).sort();
    await waitUntil(async () => (await devicesOf(both)).length === 2, 'both devices attached');

    c.nodes.get('k2')!.signal('SIGKILL');
    raw.close();
    phone.close();
    await waitUntil(() => presence.some((p) => p.uid === ghost && !p.online), 'the peer seeing the ghost go offline', 20_000);
    expect(presence.find((p) => p.uid === ghost && !p.online)?.lastSeen).toEqual(expect.any(Number));
    expect((await c.api('GET', `/v1/users/${ghost}/presence`)).body).toMatchObject({ online: false, devices: [], lastSeen: expect.any(Number) });
    await waitUntil(async () => (await devicesOf(both)).length === 1, 'the dead gateway\'s device forgotten');
    expect(await devicesOf(both)).toEqual(['laptop']);
    // The ghost's messages still reach it later by sync; the peer can go on sending.
    await client.send(direct, 'are you there?');

    // The node comes back as a new process: its new sessions are not taken for the dead one's.
    await c.respawn('k2');
    const back = await rawConnect(c.gateways.get('k2')!, c.token(both, 'phone'));
    await waitUntil(async () => (await devicesOf(both)).length === 2, 'the phone attached through the new gateway');
    // Two reads of the live gateways later, it is still there.
    await new Promise((r) => setTimeout(r, 5_000));
    expect(await devicesOf(both)).toEqual(['laptop', 'phone']);
    back.close();
    laptop.close();
  }, 60_000);

  it('gateway stall – a gateway frozen past its lease is taken for dead, and when it runs again its sessions attach again and get what they missed', async () => {
    const frozen = await userOn('k1', 'fro');
    const peer = await userOn('k1', 'pal');
    const direct = (await c.api('POST', '/v1/conversations', { kind: 'direct', members: [frozen, peer] })).body['conv'] as string;
    const client = new ImClient({ endpoints: [c.gateways.get('k1')!], token: c.token(peer, 'd1'), WebSocket: WebSocket as never });
    clients.push(client);
    const presence: ImClientEvents['presence'][] = [];
    client.on('presence', (p) => presence.push(p));
    await client.connect();
    const raw = await rawConnect(c.gateways.get('k2')!, c.token(frozen, 'phone'));
    await waitUntil(() => presence.some((p) => p.uid === frozen && p.online), 'the peer seeing the user online');

    c.nodes.get('k2')!.signal('SIGSTOP');
    try {
      await waitUntil(() => presence.some((p) => p.uid === frozen && !p.online), 'the frozen gateway\'s user taken for offline', 20_000);
      await client.send(direct, 'sent while frozen');
    } finally {
      c.nodes.get('k2')!.signal('SIGCONT');
    }
    // The socket never closed: once the gateway runs again, the device is back, online, and catches up.
    await waitUntil(() => presence.filter((p) => p.uid === frozen).at(-1)?.online === true, 'the user online again', 20_000);
    await raw.waitFor((f) => f.type === 'convs' && (f.list as { conv: string; lastSeq: number }[]).some((x) => x.conv === direct && x.lastSeq > 0), 20_000);
    const later = await client.send(direct, 'after the thaw');
    await raw.waitFor((f) => f.type === 'msg' && f.seq === later.seq, 20_000);
    raw.close();
  }, 60_000);
});
