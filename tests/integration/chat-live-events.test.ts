import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImClient, type ImClientEvents } from '../../protocol/sdk/index.js';
import { startChatCluster, type ChatCluster } from '../helpers/chat-cluster.js';
import { rawConnect } from '../helpers/raw-client.js';
import { waitUntil } from '../helpers/wait.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Typing and presence: ephemeral events, never stored, delivered to whoever is online to see them. */
describe('chat – typing and presence', () => {
  let c: ChatCluster;
  const clients: ImClient[] = [];
  beforeAll(async () => {
    c = await startChatCluster({ nodes: ['e1', 'e2'] });
  }, 60_000);
  afterAll(async () => {
    for (const x of clients) x.close();
    await c?.stop();
  }, 30_000);

  /** An SDK client of (uid, did) on gateway `node`, connected, recording its typing and presence events. */
  async function online(uid: string, did: string, node: string) {
    const client = new ImClient({ endpoints: [c.gateways.get(node)!], token: c.token(uid, did), WebSocket: WebSocket as never });
    clients.push(client);
    const typing: ImClientEvents['typing'][] = [];
    const presence: ImClientEvents['presence'][] = [];
    client.on('typing', (t) => typing.push(t));
    client.on('presence', (p) => presence.push(p));
    await client.connect();
    return { client, typing, presence };
  }

  it('typing – the other members see who is typing where; the typist does not hear itself, strangers hear nothing', async () => {
    const direct = (await c.api('POST', '/v1/conversations', { kind: 'direct', members: ['tia', 'tom'] })).body['conv'] as string;
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'typists', owner: 'tia', members: ['tom', 'ted'] });
    const tia = await online('tia', 'd1', 'e1');
    const tom = await online('tom', 'd1', 'e2');
    const ted = await online('ted', 'd1', 'e1');
    const stranger = await online('tess', 'd1', 'e2');

    expect(tia.client.typing(direct)).toBe(true);
    await waitUntil(() => tom.typing.length > 0, 'tom seeing tia type');
    expect(tom.typing).toEqual([{ conv: direct, from: 'tia' }]);
    tom.client.typing('typists');
    await waitUntil(() => tia.typing.length > 0 && ted.typing.length > 0, 'tia and ted seeing tom type');
    expect(tia.typing).toEqual([{ conv: 'typists', from: 'tom' }]);
    expect(ted.typing).toEqual([{ conv: 'typists', from: 'tom' }]);
    // Typing where one is not a member is dropped quietly.
    stranger.client.typing('typists');
    await sleep(500);
    expect(tom.typing).toEqual([{ conv: direct, from: 'tia' }]);
    expect(tia.typing).toHaveLength(1);
    expect(stranger.typing).toEqual([]);
  }, 60_000);

  it('typing – a client typing on every keystroke costs one event a second at most: repeats are dropped where they arrive', async () => {
    const direct = (await c.api('POST', '/v1/conversations', { kind: 'direct', members: ['kit', 'kay'] })).body['conv'] as string;
    const kay = await online('kay', 'd1', 'e2');
    // A raw client, which does not throttle as the SDK does.
    const kit = await rawConnect(c.gateways.get('e1')!, c.token('kit', 'd1'));
    await kit.waitFor((f) => f.type === 'convs');
    for (let i = 0; i < 10; i++) kit.send({ type: 'typing', conv: direct });
    // The message follows the typings through the same chatter and connector, so it arrives after all of them.
    const got: string[] = [];
    kay.client.on('message', (m) => got.push(m.body));
    kit.send({ type: 'send', conv: direct, cid: 1, body: 'done typing' });
    await waitUntil(() => got.length > 0, 'kay getting the message');
    expect(kay.typing).toEqual([{ conv: direct, from: 'kit' }]);
    // A second later, typing passes again.
    await sleep(1_100);
    kit.send({ type: 'typing', conv: direct });
    await waitUntil(() => kay.typing.length === 2, 'kay seeing kit type again');
    kit.close();
  }, 30_000);

  it('presence – a direct-conversation peer sees the user come online with the first device and go offline with the last', async () => {
    await c.api('POST', '/v1/conversations', { kind: 'direct', members: ['pam', 'pete'] });
    const pam = await online('pam', 'd1', 'e1');
    const phone = await online('pete', 'phone', 'e2');
    await waitUntil(() => pam.presence.length >= 1, 'pete coming online');
    const laptop = await online('pete', 'laptop', 'e1');
    phone.client.close();
    await sleep(500);
    // A second device, and the first one leaving while another stays, change nothing for the peer.
    expect(pam.presence).toEqual([{ uid: 'pete', online: true }]);
    laptop.client.close();
    await waitUntil(() => pam.presence.length >= 2, 'pete going offline');
    expect(pam.presence).toEqual([
      { uid: 'pete', online: true },
      { uid: 'pete', online: false, lastSeen: expect.any(Number) },
    ]);
  }, 60_000);

  it('presence – a user coming online learns at once which direct peers are online, and so does a later device; offline, blocking and group-only users are not told', async () => {
    for (const peer of ['pat', 'pol', 'pru']) await c.api('POST', '/v1/conversations', { kind: 'direct', members: ['pia', peer] });
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'pgroup', owner: 'pia', members: ['pax'] });
    await c.api('POST', '/v1/users/pru/blocks', { add: ['pia'] });
    const pat = await online('pat', 'd1', 'e1');
    await online('pru', 'd1', 'e2');
    await online('pax', 'd1', 'e1');
    // pol stays offline. Nobody changes state after pia connects: what pia hears is the answer to its coming online.
    const phone = await online('pia', 'phone', 'e2');
    await waitUntil(() => phone.presence.length >= 1, 'pia hearing who is online');
    await sleep(500);
    expect(phone.presence).toEqual([{ uid: 'pat', online: true }]);
    expect(pat.presence).toEqual([{ uid: 'pia', online: true }]);
    const laptop = await online('pia', 'laptop', 'e1');
    await waitUntil(() => laptop.presence.length >= 1, 'the second device hearing who is online');
    await sleep(300);
    expect(laptop.presence).toEqual([{ uid: 'pat', online: true }]);
    pat.client.close();
    await waitUntil(() => phone.presence.length === 2 && laptop.presence.length === 2, 'both devices hearing pat go offline');
    expect([phone.presence[1], laptop.presence[1]].map((p) => [p?.uid, p?.online])).toEqual([['pat', false], ['pat', false]]);
  }, 60_000);

  it('last seen – a peer going offline is told with the time; lists, a new device and the server API show it after; a block hides it', async () => {
    const direct = (await c.api('POST', '/v1/conversations', { kind: 'direct', members: ['lia', 'leo'] })).body['conv'] as string;
    const lia = await online('lia', 'd1', 'e1');
    const leo = await online('leo', 'd1', 'e2');
    const t0 = Date.now();
    leo.client.close();
    await waitUntil(() => lia.presence.some((p) => !p.online), 'lia hearing leo go offline');
    const left = lia.presence.find((p) => !p.online)!;
    expect(left).toEqual({ uid: 'leo', online: false, lastSeen: expect.any(Number) });
    expect(left.lastSeen! - t0).toBeGreaterThanOrEqual(0);
    expect(left.lastSeen! - t0).toBeLessThan(5_000);
    // The SDK keeps it on the conversation too, without a new list.
    expect(lia.client.conversations().find((x) => x.conv === direct)?.peerLastSeen).toBe(left.lastSeen);
    await waitUntil(async () => (await c.api('GET', '/v1/users/leo/presence')).body['lastSeen'] === left.lastSeen, 'leo\'s last seen stored');
    expect((await c.api('GET', '/v1/users/leo/presence')).body).toEqual({ uid: 'leo', online: false, devices: [], lastSeen: left.lastSeen });
    expect((await lia.client.sync()).find((x) => x.conv === direct)).toMatchObject({ peerLastSeen: left.lastSeen });
    expect(((await c.api('GET', '/v1/users/lia/conversations')).body['conversations'] as { conv: string }[]).find((x) => x.conv === direct)).toMatchObject({ peerLastSeen: left.lastSeen });
    const tablet = await online('lia', 'tablet', 'e2');
    expect(tablet.client.conversations().find((x) => x.conv === direct)?.peerLastSeen).toBe(left.lastSeen);
    // A user never seen offline has none.
    expect((await c.api('GET', '/v1/users/lia/presence')).body['lastSeen']).toBeUndefined();
    await c.api('POST', '/v1/users/lia/blocks', { add: ['leo'] });
    expect((await lia.client.sync()).find((x) => x.conv === direct)!.peerLastSeen).toBeUndefined();
    // The SDK stops showing the time it had from before: a list without it means hidden now.
    expect(lia.client.conversations().find((x) => x.conv === direct)!.peerLastSeen).toBeUndefined();
  }, 60_000);

  it('last seen off – the user\'s time is told to nobody and the user is told nobody\'s, live and in lists; the server API keeps it; on again, both show', async () => {
    const direct = (await c.api('POST', '/v1/conversations', { kind: 'direct', members: ['kit', 'kai'] })).body['conv'] as string;
    const row = async (x: Awaited<ReturnType<typeof online>>) => (await x.client.sync()).find((r) => r.conv === direct);
    const apiRow = async (uid: string) => ((await c.api('GET', `/v1/users/${uid}/conversations`)).body['conversations'] as { conv: string; peerLastSeen?: number }[]).find((r) => r.conv === direct);
    const storedSeen = async (uid: string) => (await c.api('GET', `/v1/users/${uid}/presence`)).body['lastSeen'] as number | undefined;
    expect((await c.api('POST', '/v1/users/kit/settings', { lastSeen: false })).body).toEqual({ uid: 'kit', readReceipts: true, lastSeen: false });
    const kit = await online('kit', 'd1', 'e1');
    const kai = await online('kai', 'd1', 'e2');

    // kit leaves: kai hears it, without the time; the business server still has it.
    kit.client.close();
    await waitUntil(() => kai.presence.some((p) => p.uid === 'kit' && !p.online), 'kai hearing kit go offline');
    expect(kai.presence.find((p) => p.uid === 'kit' && !p.online)).toEqual({ uid: 'kit', online: false });
    await waitUntil(async () => typeof (await storedSeen('kit')) === 'number', 'kit\'s last seen stored');
    expect((await row(kai))!.peerLastSeen).toBeUndefined();
    expect((await apiRow('kai'))!.peerLastSeen).toBeUndefined();
    expect(kai.client.conversations().find((x) => x.conv === direct)!.peerLastSeen).toBeUndefined();

    // Both ways: kit, back on another device, is told nobody's time either.
    const kit2 = await online('kit', 'd2', 'e1');
    kai.client.close();
    await waitUntil(() => kit2.presence.some((p) => p.uid === 'kai' && !p.online), 'kit hearing kai go offline');
    expect(kit2.presence.find((p) => p.uid === 'kai' && !p.online)).toEqual({ uid: 'kai', online: false });
    await waitUntil(async () => typeof (await storedSeen('kai')) === 'number', 'kai\'s last seen stored');
    expect((await row(kit2))!.peerLastSeen).toBeUndefined();
    expect((await apiRow('kit'))!.peerLastSeen).toBeUndefined();

    // On again: kit sees kai's time, and kai is told kit's when kit leaves.
    expect((await c.api('POST', '/v1/users/kit/settings', { lastSeen: true })).body).toEqual({ uid: 'kit', readReceipts: true, lastSeen: true });
    expect((await row(kit2))?.peerLastSeen).toBe(await storedSeen('kai'));
    const kai2 = await online('kai', 'd2', 'e2');
    kit2.client.close();
    await waitUntil(() => kai2.presence.some((p) => p.uid === 'kit' && !p.online), 'kai hearing kit go offline again');
    const left = kai2.presence.find((p) => p.uid === 'kit' && !p.online)!;
    expect(left.lastSeen).toEqual(expect.any(Number));
    expect(kai2.client.conversations().find((x) => x.conv === direct)?.peerLastSeen).toBe(left.lastSeen);
    expect((await c.api('POST', '/v1/users/kit/settings', { lastSeen: 'no' })).status).toBe(400);
  }, 60_000);
});
