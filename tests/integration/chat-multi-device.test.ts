import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServerFrameOf } from '../../protocol/frames.js';
import { decodeSessionsSignedOut, encodeControl } from '../../protocol/control.js';
import type { PushEvent } from '../../protocol/chat-ops.js';
import { clusterRevocationsSubject, clusterSignOutsSubject, EventSubject } from '../../protocol/subjects.js';
import { signToken } from '../../protocol/token.js';
import { DEV_SERVER_KEY, DEV_TOKEN_SECRET } from '../../runtime/config.js';
import { parseExposition, sampleValue } from '../../scripts/lib/prometheus-text.js';
import { startChatCluster, type ChatCluster } from '../helpers/chat-cluster.js';
import { rawConnect } from '../helpers/raw-client.js';
import { waitUntil } from '../helpers/wait.js';

type Convs = ServerFrameOf<'convs'>;

describe('chat – multi-device', () => {
  let c: ChatCluster;
  beforeAll(async () => {
    c = await startChatCluster({ nodes: ['n1', 'n2'] });
  }, 60_000);
  afterAll(async () => {
    await c?.stop();
  }, 30_000);

  /** Connector actors live on the cluster's nodes now. */
  const liveConnectors = async (): Promise<number> => {
    let n = 0;
    for (const [node, url] of c.http) {
      const res = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${DEV_SERVER_KEY}` } });
      const text = await res.text();
      // A node with no connector live has no sample for it (the gauge lists the kinds it hosts actors of), but it
      // declares the gauge: without it (renamed, unregistered) every count below would be 0 and prove nothing.
      expect(text, `${node} exposes im_actors_active`).toMatch(/^# TYPE im_actors_active gauge$/m);
      n += sampleValue(parseExposition(text), 'im_actors_active', { kind: 'connector' }) ?? 0;
    }
    return n;
  };

  it('multi-device – both devices of a user get every message; a read mark on one shows on the other; unread is exact, in the server API too, which says where the user is connected', async () => {
    const { body } = await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'team', owner: 'carol', members: ['dave'] });
    const conv = body['conv'] as string;
    const phone = await rawConnect(c.gateways.get('n1')!, c.token('dave', 'phone'));
    const laptop = await rawConnect(c.gateways.get('n2')!, c.token('dave', 'laptop'));
    const carol = await rawConnect(c.gateways.get('n1')!, c.token('carol', 'c1'));
    for (const x of [phone, laptop, carol]) await x.waitFor((f) => f.type === 'convs');
    const seqs: number[] = [];
    for (let cid = 1; cid <= 5; cid++) {
      carol.send({ type: 'send', conv, cid, body: `m${cid}`, ...(cid > 1 ? { after: cid - 1 } : {}) });
      seqs.push((await carol.waitFor<ServerFrameOf<'sent'>>((f) => f.type === 'sent' && f.cid === cid)).seq);
    }
    for (const dev of [phone, laptop]) {
      for (const seq of seqs) await dev.waitFor((f) => f.type === 'msg' && f.seq === seq);
      const got = dev.frames.filter((f): f is ServerFrameOf<'msg'> => f.type === 'msg');
      expect(got.map((m) => m.body)).toEqual(['m1', 'm2', 'm3', 'm4', 'm5']);
      expect(got.map((m) => m.prev)).toEqual([0, ...seqs.slice(0, 4)]);
    }
    phone.send({ type: 'read', conv, seq: seqs[2]! });
    // Both devices, the reader too, learn the mark and the exact count it leaves (a client cannot work it out).
    for (const dev of [laptop, phone]) {
      const echo = await dev.waitFor<ServerFrameOf<'read'>>((f) => f.type === 'read');
      expect(echo).toEqual({ type: 'read', conv, seq: seqs[2], unread: 2, lastSeq: seqs[4], mentions: 0 });
    }
    laptop.send({ type: 'sync', rid: 1 });
    const list = await laptop.waitFor<Convs>((f) => f.type === 'convs' && f.rid === 1);
    expect(list.list.find((x) => x.conv === conv)).toMatchObject({ lastSeq: seqs[4], readSeq: seqs[2], unread: 2 });

    // The business server sees the same: the user's list with the badge total, and where the user is connected.
    expect(await c.api('GET', '/v1/users/dave/conversations', undefined, 'n2')).toEqual({
      status: 200,
      body: { uid: 'dave', unread: 2, mentions: 0, conversations: [{ conv, kind: 'group', lastSeq: seqs[4], lastTs: expect.any(Number), readSeq: seqs[2], unread: 2, seenSeq: seqs[2], members: 2 }] },
    });
    const presence = await c.api('GET', '/v1/users/dave/presence');
    expect(presence.status).toBe(200);
    expect(presence.body['online']).toBe(true);
    expect((presence.body['devices'] as { did: string; node: string }[]).sort((a, b) => a.did.localeCompare(b.did))).toEqual([
      { did: 'laptop', node: 'n2' },
      { did: 'phone', node: 'n1' },
    ]);
    expect((await c.api('GET', `/v1/users/${'x'.repeat(200)}/presence`)).body).toMatchObject({ code: 'invalid_field' });
    // Many users at once, for a business server that shows who of a list is online.
    const batch = await c.api('POST', '/v1/presence', { uids: ['carol', 'dave', 'nobody-here', 'dave'] }, 'n2');
    expect(batch.status).toBe(200);
    expect((batch.body['presence'] as { uid: string; online: boolean }[]).map((p) => [p.uid, p.online])).toEqual([
      ['carol', true],
      ['dave', true],
      ['nobody-here', false],
    ]);
    // Asking about users nobody connected as does not wake their connectors (each would load its list from Postgres).
    // Dave's and Carol's connectors are live (their devices are attached): the count sees connectors at all.
    const before = await liveConnectors();
    expect(before).toBeGreaterThanOrEqual(2);
    const strangers = Array.from({ length: 500 }, (_, i) => `stranger-${i}`);
    // The answer is itself the round trip: each stranger's connector shard answered before the 200, so a connector
    // the question woke is live by the time it is counted.
    const asked = await c.api('POST', '/v1/presence', { uids: strangers });
    expect((asked.body['presence'] as { online: boolean }[]).filter((p) => p.online)).toEqual([]);
    expect(await liveConnectors()).toBeLessThanOrEqual(before);
    expect((await c.api('POST', '/v1/presence', { uids: Array.from({ length: 501 }, (_, i) => `u${i}`) })).body).toMatchObject({ code: 'invalid_field' });
    expect((await c.api('POST', '/v1/presence', { uids: 'dave' })).status).toBe(400);
    expect((await fetch(`${c.http.get('n1')}/v1/users/dave/conversations`)).status).toBe(401);
    for (const x of [phone, laptop, carol]) x.close();
    // Offline, with the time the last device left (written a moment after).
    await waitUntil(async () => typeof (await c.api('GET', '/v1/users/dave/presence')).body['lastSeen'] === 'number', 'dave offline once both devices closed');
    expect((await c.api('GET', '/v1/users/dave/presence')).body).toEqual({ uid: 'dave', online: false, devices: [], lastSeen: expect.any(Number) });
  }, 30_000);

  it('connectors – messages, typing and presence for users with no device online do not wake their connectors', async () => {
    const before = await liveConnectors();
    const offline = Array.from({ length: 40 }, (_, i) => `asleep-${i}`);
    // Creating the conversations tells each member (joined).
    const { body } = await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'quiet-room', owner: 'olive', members: offline });
    const conv = body['conv'] as string;
    for (const peer of offline.slice(0, 20)) expect((await c.api('POST', '/v1/conversations', { kind: 'direct', members: ['olive', peer] })).status).toBeLessThan(300);
    // Coming online tells each direct peer (presence); sending and typing tell each member.
    // Each message to a sleeping connector raises a push event there: the events show when the connectors got them.
    const pushes = await c.collect<PushEvent>(EventSubject.PUSH);
    const olive = await rawConnect(c.gateways.get('n1')!, c.token('olive', 'o1'));
    await olive.waitFor((f) => f.type === 'convs');
    let last = 0;
    for (let cid = 1; cid <= 3; cid++) {
      olive.send({ type: 'typing', conv });
      olive.send({ type: 'send', conv, cid, body: `anyone? ${cid}` });
      last = (await olive.waitFor<ServerFrameOf<'sent'>>((f) => f.type === 'sent' && f.cid === cid)).seq;
    }
    // Counted only once every member's connector shard handled the last message (after the typing and the earlier
    // messages the conversation told it): a wake those caused has happened by then.
    await waitUntil(() => new Set(pushes.filter((p) => p.conv === conv && p.seq === last).map((p) => p.uid)).size === offline.length, 'a push event of the last message for every member');
    const after = await liveConnectors();
    // Olive's own connector is the one more (and counted: the count sees the connectors a device keeps live).
    expect(after).toBeGreaterThanOrEqual(1);
    expect(after).toBeLessThanOrEqual(before + 1);
    // A member who comes online still gets all of it, from the list and a pull.
    const late = await rawConnect(c.gateways.get('n2')!, c.token('asleep-7', 'a7'));
    const list = await late.waitFor<Convs>((f) => f.type === 'convs');
    expect(list.list.find((x) => x.conv === conv)).toMatchObject({ unread: 3 });
    late.send({ type: 'pull', rid: 1, conv, after: 0, limit: 10 });
    const page = await late.waitFor<ServerFrameOf<'history'>>((f) => f.type === 'history' && f.rid === 1);
    expect(page.msgs.map((m) => m.body)).toEqual(['anyone? 1', 'anyone? 2', 'anyone? 3']);
    for (const x of [olive, late]) x.close();
  }, 30_000);

  it('receipts – in a direct conversation a read reaches every device of the other member once it moves forward, and the list carries it after a reconnect', async () => {
    const { body } = await c.api('POST', '/v1/conversations', { kind: 'direct', members: ['rita', 'sam'] });
    const conv = body['conv'] as string;
    const phone = await rawConnect(c.gateways.get('n1')!, c.token('rita', 'phone'));
    const laptop = await rawConnect(c.gateways.get('n2')!, c.token('rita', 'laptop'));
    const sam = await rawConnect(c.gateways.get('n2')!, c.token('sam', 's1'));
    for (const x of [phone, laptop, sam]) await x.waitFor((f) => f.type === 'convs');
    const seqs: number[] = [];
    const send = async (cid: number): Promise<void> => {
      phone.send({ type: 'send', conv, cid, body: `r${cid}` });
      const sent = await phone.waitFor<ServerFrameOf<'sent'>>((f) => f.type === 'sent' && f.cid === cid);
      await sam.waitFor((f) => f.type === 'msg' && f.seq === sent.seq);
      seqs.push(sent.seq);
    };
    await send(1);
    await send(2);
    sam.send({ type: 'read', conv, seq: seqs[1]! });
    for (const dev of [phone, laptop]) expect(await dev.waitFor((f) => f.type === 'receipt')).toEqual({ type: 'receipt', conv, uid: 'sam', seq: seqs[1] });
    await sam.waitFor((f) => f.type === 'read');
    // Marks that do not move forward send nothing: the next receipt the phone gets is the third message's.
    sam.send({ type: 'read', conv, seq: seqs[0]! });
    sam.send({ type: 'read', conv, seq: seqs[1]! });
    await send(3);
    sam.send({ type: 'read', conv, seq: seqs[2]! });
    await phone.waitFor((f) => f.type === 'receipt' && f.seq === seqs[2]);
    expect(phone.frames.filter((f) => f.type === 'receipt').map((f) => (f as ServerFrameOf<'receipt'>).seq)).toEqual([seqs[1], seqs[2]]);
    // The reader hears no receipt of its own.
    expect(sam.frames.some((f) => f.type === 'receipt')).toBe(false);
    // A device that was not there learns it from the list; so does the reader, of the other side's mark.
    const tablet = await rawConnect(c.gateways.get('n1')!, c.token('rita', 'tablet'));
    const list = await tablet.waitFor<Convs>((f) => f.type === 'convs');
    expect(list.list.find((x) => x.conv === conv)).toMatchObject({ peerRead: seqs[2], readSeq: 0 });
    laptop.send({ type: 'read', conv, seq: seqs[2]! });
    expect(await sam.waitFor((f) => f.type === 'receipt')).toEqual({ type: 'receipt', conv, uid: 'rita', seq: seqs[2] });
    sam.send({ type: 'sync', rid: 3 });
    const samList = await sam.waitFor<Convs>((f) => f.type === 'convs' && f.rid === 3);
    expect(samList.list.find((x) => x.conv === conv)).toMatchObject({ peerRead: seqs[2], readSeq: seqs[2] });
    // The business server sees the receipts too.
    const inbox = await c.api('GET', '/v1/users/rita/conversations');
    expect((inbox.body['conversations'] as { conv: string }[]).find((x) => x.conv === conv)).toMatchObject({ peerRead: seqs[2], readSeq: seqs[2] });
    // A direct conversation between users with long ids has a hashed id that does not name them; made while both are
    // online (their connectors have no list row for it), its receipts still arrive.
    const [long1, long2] = ['l'.repeat(70), 'm'.repeat(70)];
    const [d1, d2] = [await rawConnect(c.gateways.get('n1')!, c.token(long1, 'p')), await rawConnect(c.gateways.get('n2')!, c.token(long2, 'p'))];
    for (const x of [d1, d2]) await x.waitFor((f) => f.type === 'convs');
    const hashed = (await c.api('POST', '/v1/conversations', { kind: 'direct', members: [long1, long2] })).body['conv'] as string;
    expect(hashed.startsWith('d:#')).toBe(true);
    d1.send({ type: 'send', conv: hashed, cid: 1, body: 'long ids' });
    const hs = await d1.waitFor<ServerFrameOf<'sent'>>((f) => f.type === 'sent' && f.cid === 1);
    await d2.waitFor((f) => f.type === 'msg' && f.seq === hs.seq);
    d2.send({ type: 'read', conv: hashed, seq: hs.seq });
    expect(await d1.waitFor((f) => f.type === 'receipt')).toEqual({ type: 'receipt', conv: hashed, uid: long2, seq: hs.seq });
    for (const x of [d1, d2]) x.close();
    // Groups carry no receipts and no peerRead.
    const group = await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'receipt-free', owner: 'rita', members: ['sam'] });
    sam.send({ type: 'sync', rid: 4 });
    const withGroup = await sam.waitFor<Convs>((f) => f.type === 'convs' && f.rid === 4);
    expect(withGroup.list.find((x) => x.conv === group.body['conv'])).not.toHaveProperty('peerRead');
    for (const x of [phone, laptop, sam, tablet]) x.close();
  }, 30_000);

  it('multi-device – the server API signs one device or every device of a user out: close 4014, the others stay', async () => {
    const phone = await rawConnect(c.gateways.get('n1')!, c.token('hank', 'phone'));
    const laptop = await rawConnect(c.gateways.get('n2')!, c.token('hank', 'laptop'));
    const tablet = await rawConnect(c.gateways.get('n2')!, c.token('hank', 'tablet'));
    for (const x of [phone, laptop, tablet]) await x.waitFor((f) => f.type === 'convs');
    const one = await c.api('POST', '/v1/users/hank/disconnect', { did: 'phone', reason: 'password changed' });
    expect(one).toEqual({ status: 200, body: { devices: ['phone'] } });
    expect(await phone.closed).toEqual({ code: 4014, reason: 'password changed' });
    // The others still work: a sync is answered.
    laptop.send({ type: 'sync', rid: 7 });
    await laptop.waitFor((f) => f.type === 'convs' && f.rid === 7);
    const all = await c.api('POST', '/v1/users/hank/disconnect', {});
    expect(all.status).toBe(200);
    expect((all.body['devices'] as string[]).sort()).toEqual(['laptop', 'tablet']);
    expect((await laptop.closed).code).toBe(4014);
    expect((await tablet.closed).code).toBe(4014);
    expect(await c.api('POST', '/v1/users/hank/disconnect', {})).toEqual({ status: 200, body: { devices: [] } });
    expect(await c.api('POST', '/v1/users/hank/disconnect', { reason: 'x'.repeat(101) })).toMatchObject({ status: 400, body: { code: 'invalid_field' } });
  }, 30_000);

  it('multi-device – a sign-out also reaches sessions the user\u2019s connector does not know (its shard just moved): every gateway closes those it holds, and a session opened later stays', async () => {
    const heard: unknown[] = [];
    c.nc.subscribe(clusterSignOutsSubject(), { callback: (_err, msg) => heard.push(decodeSessionsSignedOut(msg.data)) });
    await c.nc.flush();
    const old = await rawConnect(c.gateways.get('n2')!, c.token('jack', 'phone'));
    const other = await rawConnect(c.gateways.get('n2')!, c.token('jill', 'phone'));
    for (const x of [old, other]) await x.waitFor((f) => f.type === 'convs');
    // What a gateway hears from a sign-out: the user's sessions close, whatever their connector knew.
    c.nc.publish(clusterSignOutsSubject(), encodeControl({ type: 'signed-out', uid: 'jack', reason: 'banned' }));
    expect(await old.closed).toEqual({ code: 4014, reason: 'banned' });
    const fresh = await rawConnect(c.gateways.get('n1')!, c.token('jack', 'laptop'));
    await fresh.waitFor((f) => f.type === 'convs');
    for (const x of [fresh, other]) {
      x.send({ type: 'sync', rid: 3 });
      await x.waitFor((f) => f.type === 'convs' && f.rid === 3);
    }
    // And the server API says it to every gateway, with the device and reason asked for.
    expect(await c.api('POST', '/v1/users/jack/disconnect', { did: 'laptop', reason: 'device lost' })).toEqual({ status: 200, body: { devices: ['laptop'] } });
    await waitUntil(() => heard.length === 2, 'the sign-out told to the gateways');
    expect(heard[1]).toEqual({ ok: true, value: { type: 'signed-out', uid: 'jack', did: 'laptop', reason: 'device lost' } });
    expect(await fresh.closed).toEqual({ code: 4014, reason: 'device lost' });
    other.send({ type: 'sync', rid: 4 });
    await other.waitFor((f) => f.type === 'convs' && f.rid === 4);
    other.close();
  }, 30_000);

  it('multi-device – a sign-out with revoke makes the tokens held useless: the old token is refused at upgrade, a newer one connects', async () => {
    const phoneToken = c.token('iris', 'phone');
    const laptopToken = c.token('iris', 'laptop');
    const phone = await rawConnect(c.gateways.get('n1')!, phoneToken);
    const laptop = await rawConnect(c.gateways.get('n2')!, laptopToken);
    for (const x of [phone, laptop]) await x.waitFor((f) => f.type === 'convs');
    const justBefore = Date.now() / 1000;
    expect(await c.api('POST', '/v1/users/iris/disconnect', { did: 'phone', revoke: true })).toEqual({ status: 200, body: { devices: ['phone'] } });
    expect((await phone.closed).code).toBe(4014);
    for (const gw of ['n1', 'n2']) {
      await expect(rawConnect(c.gateways.get(gw)!, phoneToken)).rejects.toMatchObject({ status: 401, body: expect.stringContaining('revoked') });
    }
    // Issued a moment before the sign-out (the token the client was about to use): refused too.
    const racing = signToken({ sub: 'iris', did: 'phone', ttlSec: 600 }, DEV_TOKEN_SECRET, justBefore);
    await expect(rawConnect(c.gateways.get('n1')!, racing)).rejects.toMatchObject({ status: 401, body: expect.stringContaining('revoked') });
    // Only that device's tokens: the laptop's still connects, and so does a phone token issued after the sign-out.
    const laptop2 = await rawConnect(c.gateways.get('n1')!, laptopToken);
    await laptop2.waitFor((f) => f.type === 'convs');
    // Issued right after the sign-out, most likely within the same second: revocations go to the millisecond.
    const later = signToken({ sub: 'iris', did: 'phone', ttlSec: 600 }, DEV_TOKEN_SECRET);
    const phone2 = await rawConnect(c.gateways.get('n2')!, later);
    await phone2.waitFor((f) => f.type === 'convs');
    // Every device: the laptop's token goes too.
    await c.api('POST', '/v1/users/iris/disconnect', { revoke: true });
    await expect(rawConnect(c.gateways.get('n2')!, laptopToken)).rejects.toMatchObject({ status: 401 });
    expect(await c.api('POST', '/v1/users/iris/disconnect', { revoke: 'yes' })).toMatchObject({ status: 400, body: { code: 'invalid_field' } });
    for (const x of [laptop, laptop2, phone2]) x.close();
  }, 30_000);

  it('multi-device – a gateway closes the sessions a revocation it hears of covers, and a restarted gateway still refuses revoked tokens', async () => {
    const token = c.token('jack', 'phone');
    const phone = await rawConnect(c.gateways.get('n2')!, token);
    await phone.waitFor((f) => f.type === 'convs');
    // Straight on the broadcast, as a gateway hears it when the sign-out was handled elsewhere (no connector involved).
    c.nc.publish(clusterRevocationsSubject(), encodeControl({ type: 'tokens-revoked', uid: 'jack', beforeMs: Date.now() }));
    expect((await phone.closed).code).toBe(4014);
    const kates = c.token('kate', 'any');
    await c.api('POST', '/v1/users/kate/disconnect', { revoke: true });
    await c.respawn('n2');
    // The later tests want a quiet cluster: connector shards moving back to n2 drop their unacked state.
    await c.settle();
    await expect(rawConnect(c.gateways.get('n2')!, kates)).rejects.toMatchObject({ status: 401 });
    // A token issued after the revocation is let in.
    const fresh = signToken({ sub: 'kate', did: 'any', ttlSec: 600 }, DEV_TOKEN_SECRET);
    (await rawConnect(c.gateways.get('n2')!, fresh)).close();
  }, 60_000);

  it('multi-device – a second connection of the same device replaces the first (4012)', async () => {
    const first = await rawConnect(c.gateways.get('n1')!, c.token('erin', 'tab'));
    await first.waitFor((f) => f.type === 'convs');
    const second = await rawConnect(c.gateways.get('n2')!, c.token('erin', 'tab'));
    expect((await first.closed).code).toBe(4012);
    second.close();
  }, 20_000);

  it('multi-device – a retransmit larger than one NATS batch still reaches a device whose connector is on the other node', async () => {
    const { body } = await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'bulky', owner: 'hal', members: ['ivy'] });
    const conv = body['conv'] as string;
    // A device on each gateway: wherever ivy's connector lives, one of them is across NATS from it.
    const devs = [await rawConnect(c.gateways.get('n1')!, c.token('ivy', 'i1')), await rawConnect(c.gateways.get('n2')!, c.token('ivy', 'i2'))];
    for (const d of devs) await d.waitFor((f) => f.type === 'convs');
    // 40 messages of 15,000 bytes left unacked: ~600 KB to push again, past the transport's 512 KiB batch limit.
    const seqs: number[] = [];
    for (let i = 0; i < 40; i++) {
      const r = await c.api('POST', `/v1/conversations/${encodeURIComponent(conv)}/messages`, { body: String(i).padEnd(15_000, '.') });
      expect(r.status).toBe(201);
      seqs.push(r.body['seq'] as number);
    }
    const copies = (d: (typeof devs)[number], seq: number) => d.frames.filter((f) => f.type === 'msg' && f.seq === seq).length;
    for (const [i, d] of devs.entries()) await waitUntil(() => seqs.every((seq) => copies(d, seq) >= 2), `device ${i + 1}: every message pushed again`);
    for (const d of devs) d.close();
  }, 30_000);

  it('multi-device – unacked messages are pushed again until acked', async () => {
    const { body } = await c.api('POST', '/v1/conversations', { kind: 'direct', members: ['fay', 'gus'] });
    const conv = body['conv'] as string;
    const gus = await rawConnect(c.gateways.get('n2')!, c.token('gus', 'g1'));
    await gus.waitFor((f) => f.type === 'convs');
    const r = await c.api('POST', `/v1/conversations/${encodeURIComponent(conv)}/messages`, { body: 'from the system' });
    expect(r.status).toBe(201);
    const seq = r.body['seq'] as number;
    await gus.waitFor((f) => f.type === 'msg' && f.seq === seq);
    // No ack: the connector retransmits (every 2 s).
    await new Promise((res) => setTimeout(res, 3200));
    const copies = gus.frames.filter((f) => f.type === 'msg' && f.seq === seq).length;
    expect(copies).toBeGreaterThanOrEqual(2);
    gus.send({ type: 'ack', conv, seq });
    await new Promise((res) => setTimeout(res, 300));
    const after = gus.frames.filter((f) => f.type === 'msg' && f.seq === seq).length;
    await new Promise((res) => setTimeout(res, 3200));
    expect(gus.frames.filter((f) => f.type === 'msg' && f.seq === seq).length).toBe(after);
    gus.close();
  }, 20_000);
});
