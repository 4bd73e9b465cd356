import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MessageEvent, OnlineEvent, PushEvent, ReadEvent } from '../../protocol/chat-ops.js';
import type { ServerFrameOf } from '../../protocol/frames.js';
import { EVENTS_WILDCARD, EventSubject } from '../../protocol/subjects.js';
import { startChatCluster, type ChatCluster } from '../helpers/chat-cluster.js';
import { rawConnect } from '../helpers/raw-client.js';

type Event = OnlineEvent | MessageEvent | ReadEvent | PushEvent;

describe('chat – business events', () => {
  let c: ChatCluster;
  const seen: { subject: string; events: Event[] }[] = [];
  beforeAll(async () => {
    c = await startChatCluster({ nodes: ['n1', 'n2'] });
    c.nc.subscribe(EVENTS_WILDCARD, {
      callback: (err, msg) => {
        if (!err) seen.push({ subject: msg.subject, events: msg.json<Event[]>() });
      },
    });
    await c.nc.flush();
  }, 60_000);
  afterAll(async () => {
    await c?.stop();
  }, 30_000);

  const all = (subject: string): Event[] => seen.filter((s) => s.subject === subject).flatMap((s) => s.events);
  const until = async (ok: () => boolean, ms = 10_000): Promise<void> => {
    const end = Date.now() + ms;
    while (!ok()) {
      if (Date.now() > end) throw new Error('timed out waiting for events');
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  it('events – online, every stored message once and in order, read marks that moved, offline; published as JSON arrays', async () => {
    const { body } = await c.api('POST', '/v1/conversations', { kind: 'direct', members: ['ev-a', 'ev-b'] });
    const conv = body['conv'] as string;
    const a = await rawConnect(c.gateways.get('n1')!, c.token('ev-a', 'a1'));
    await a.waitFor((f) => f.type === 'convs');
    await until(() => all(EventSubject.ONLINE).some((e) => e.type === 'online' && e.uid === 'ev-a'));
    expect(all(EventSubject.ONLINE).find((e) => e.type === 'online' && e.uid === 'ev-a')).toMatchObject({ did: 'a1', node: expect.any(String), ts: expect.any(Number) });

    // A burst in one go, so that several messages share an event batch.
    const n = 40;
    for (let cid = 1; cid <= n; cid++) a.send({ type: 'send', conv, cid, body: `m${cid}`, ...(cid > 1 ? { after: cid - 1 } : {}) });
    const sent = await Promise.all(Array.from({ length: n }, (_, i) => a.waitFor<ServerFrameOf<'sent'>>((f) => f.type === 'sent' && f.cid === i + 1)));
    const mine = (): MessageEvent[] => all(EventSubject.MESSAGE).filter((e): e is MessageEvent => e.type === 'message' && e.conv === conv);
    await until(() => mine().length >= n);
    await new Promise((r) => setTimeout(r, 200));
    const got = mine();
    expect(got.map((e) => e.seq)).toEqual(sent.map((s) => s.seq));
    expect(got.map((e) => e.body)).toEqual(sent.map((_, i) => `m${i + 1}`));
    expect(got.map((e) => e.prev)).toEqual(sent.map((s) => s.prev));
    expect(got[0]).toMatchObject({ from: 'ev-a', did: 'a1', cid: 1, ts: sent[0]!.ts });
    const batches = seen.filter((s) => s.subject === EventSubject.MESSAGE && s.events.some((e) => e.type === 'message' && e.conv === conv));
    expect(batches.length).toBeLessThan(n);
    expect(seen.every((s) => Array.isArray(s.events))).toBe(true);

    // The other member reads: one event per mark that moved forward, with the count it leaves (for push badges).
    const b = await rawConnect(c.gateways.get('n2')!, c.token('ev-b', 'b1'));
    await b.waitFor((f) => f.type === 'convs');
    b.send({ type: 'read', conv, seq: sent[9]!.seq });
    await b.waitFor((f) => f.type === 'read');
    b.send({ type: 'read', conv, seq: sent[3]!.seq });
    b.send({ type: 'read', conv, seq: sent[n - 1]!.seq });
    await b.waitFor((f) => f.type === 'read' && f.seq === sent[n - 1]!.seq);
    const reads = (): ReadEvent[] => all(EventSubject.READ).filter((e): e is ReadEvent => e.type === 'read' && e.conv === conv);
    await until(() => reads().length >= 2);
    await new Promise((r) => setTimeout(r, 200));
    expect(reads().map((e) => [e.uid, e.did, e.seq, e.unread])).toEqual([
      ['ev-b', 'b1', sent[9]!.seq, n - 10],
      ['ev-b', 'b1', sent[n - 1]!.seq, 0],
    ]);

    for (const x of [a, b]) x.close();
    await until(() => all(EventSubject.OFFLINE).some((e) => e.type === 'offline' && e.uid === 'ev-a'));
  }, 30_000);

  it('events – a message for a member with no device online raises a push event for them; not for members online, the sender, or an edit', async () => {
    const members = ['pu-b', 'pu-c', 'pu-d'];
    expect((await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'pu-room', owner: 'pu-a', members })).status).toBe(201);
    const a = await rawConnect(c.gateways.get('n1')!, c.token('pu-a', 'a1'));
    const b = await rawConnect(c.gateways.get('n2')!, c.token('pu-b', 'b1'));
    // pu-d was online and left: its connector is still live, with no device. pu-c never came: its connector sleeps.
    const d = await rawConnect(c.gateways.get('n2')!, c.token('pu-d', 'd1'));
    for (const x of [a, b, d]) await x.waitFor((f) => f.type === 'convs');
    d.close();
    await until(() => all(EventSubject.OFFLINE).some((e) => e.type === 'offline' && e.uid === 'pu-d'));
    a.send({ type: 'send', conv: 'pu-room', cid: 1, body: 'anyone?' });
    const sent = await a.waitFor<ServerFrameOf<'sent'>>((f) => f.type === 'sent' && f.cid === 1);
    await b.waitFor((f) => f.type === 'msg' && f.seq === sent.seq);
    const pushes = (): PushEvent[] => all(EventSubject.PUSH).filter((e): e is PushEvent => e.type === 'push' && e.conv === 'pu-room');
    await until(() => pushes().length >= 2);
    a.send({ type: 'send', conv: 'pu-room', cid: 2, body: 'anyone at all?', edit: sent.seq, after: 1 });
    const edit = await a.waitFor<ServerFrameOf<'sent'>>((f) => f.type === 'sent' && f.cid === 2);
    await b.waitFor((f) => f.type === 'msg' && f.seq === edit.seq);
    await new Promise((r) => setTimeout(r, 300));
    expect(pushes().sort((x, y) => x.uid.localeCompare(y.uid))).toEqual([
      { type: 'push', uid: 'pu-c', conv: 'pu-room', seq: sent.seq, from: 'pu-a' },
      { type: 'push', uid: 'pu-d', conv: 'pu-room', seq: sent.seq, from: 'pu-a' },
    ]);
    for (const x of [a, b]) x.close();
  }, 30_000);

  it('events – a system message from the server API is an event too', async () => {
    const { body } = await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'ev-room', owner: 'ev-c', members: ['ev-d'] });
    const conv = body['conv'] as string;
    const r = await c.api('POST', `/v1/conversations/${encodeURIComponent(conv)}/messages`, { body: 'welcome' });
    expect(r.status).toBe(201);
    await until(() => all(EventSubject.MESSAGE).some((e) => e.type === 'message' && e.conv === conv && e.seq === r.body['seq']));
    expect(all(EventSubject.MESSAGE).find((e) => e.type === 'message' && e.conv === conv)).toMatchObject({ body: 'welcome', cid: 0 });
  }, 20_000);
});
