import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MembersEvent } from '../../protocol/chat-ops.js';
import { ErrorCode } from '../../protocol/errors.js';
import { directConversationId } from '../../storage/ids.js';
import type { ServerFrameOf } from '../../protocol/frames.js';
import { EventSubject } from '../../protocol/subjects.js';
import { startChatCluster, type ChatCluster } from '../helpers/chat-cluster.js';
import { rawConnect } from '../helpers/raw-client.js';
import { codeOf, waitUntil } from '../helpers/wait.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A loopback TCP proxy to a gateway that a test can cut (connections closed, new ones refused) and restore. */
async function cuttableProxy(gatewayUrl: string) {
  const target = Number(new URL(gatewayUrl).port);
  const sockets = new Set<net.Socket>();
  let open = true;
  const server = net.createServer((client) => {
    if (!open) return void client.destroy();
    const upstream = net.connect(target, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => sockets.delete(s));
    }
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}/ws`,
    cut: () => {
      open = false;
      for (const s of sockets) s.destroy();
    },
    restore: () => (open = true),
    close: () => {
      open = false;
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Membership changes reach the member's devices online at once, not at their next sync or the next message. */
describe('chat – joining and leaving, live', () => {
  let c: ChatCluster;
  let events: MembersEvent[];
  beforeAll(async () => {
    // Groups above 3 members are large: their news goes out by one publish, not through each member's connector.
    c = await startChatCluster({ nodes: ['j1', 'j2'], args: ['--large-group', '3'] });
    events = await c.collect<MembersEvent>(EventSubject.MEMBERS);
  }, 60_000);
  afterAll(async () => {
    await c?.stop();
  }, 30_000);

  /** An SDK client of (uid, did) on gateway `node`, connected, recording joins, leaves and message bodies. */
  const online = async (uid: string, did: string, node: string) => {
    const { client, got } = await c.online(uid, did, node, ['joined', 'left', 'message', 'title']);
    return { client, joined: got.joined, left: got.left, titles: got.title, get bodies() { return got.message.map((m) => m.body); } };
  };

  it('membership – added, a user online sees the group at once with its title and no old messages; removed, it goes; added again, only what follows arrives, once', async () => {
    const jo = await online('jo', 'd1', 'j2');
    const ja = await online('ja', 'd1', 'j1');
    expect((await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'jl-room', owner: 'jo', title: 'Book club' })).status).toBe(201);
    await waitUntil(() => jo.joined.length === 1, 'the owner hearing of the new group');
    expect(jo.joined).toEqual([{ conv: 'jl-room', kind: 'group', title: 'Book club' }]);
    await jo.client.send('jl-room', 'before ja');
    const old = await jo.client.send('jl-room', 'also before ja');

    expect((await c.api('POST', '/v1/conversations/jl-room/members', { add: ['ja'] })).body).toEqual({ added: ['ja'], removed: [] });
    await waitUntil(() => ja.joined.length === 1, 'ja hearing she was added');
    expect(ja.joined).toEqual([{ conv: 'jl-room', kind: 'group', title: 'Book club' }]);
    // In her list before any new message, at the group's last message: what came before is history she may pull.
    expect(ja.client.conversations().find((x) => x.conv === 'jl-room')).toMatchObject({ kind: 'group', title: 'Book club', lastSeq: old.seq, last: old.seq });
    expect((await ja.client.pull('jl-room', 0)).msgs.map((m) => m.body)).toEqual(['before ja', 'also before ja']);
    await jo.client.send('jl-room', 'hello ja');
    await waitUntil(() => ja.bodies.includes('hello ja'), 'ja getting the first message after she joined');

    expect((await c.api('POST', '/v1/conversations/jl-room/members', { remove: ['ja'] })).body).toEqual({ added: [], removed: ['ja'] });
    await waitUntil(() => ja.left.length === 1, 'ja hearing she was removed');
    expect(ja.left).toEqual([{ conv: 'jl-room' }]);
    expect(ja.client.conversations().map((x) => x.conv)).not.toContain('jl-room');
    expect(await codeOf(ja.client.send('jl-room', 'am I still here?'))).toBe(ErrorCode.NOT_MEMBER);
    await jo.client.send('jl-room', 'while ja was away');

    await c.api('POST', '/v1/conversations/jl-room/members', { add: ['ja'] });
    await waitUntil(() => ja.joined.length === 2, 'ja hearing she was added again');
    expect(ja.client.conversations().map((x) => x.conv)).toContain('jl-room');
    await jo.client.send('jl-room', 'welcome back');
    await waitUntil(() => ja.bodies.includes('welcome back'), 'ja getting a message after she came back');
    await sleep(300);
    // Nothing delivered twice, and what was said while she was out is history, as before she first joined.
    expect(ja.bodies).toEqual(['hello ja', 'welcome back']);
    // A sync changes none of it.
    await ja.client.sync();
    expect(ja.client.conversations().find((x) => x.conv === 'jl-room')).toMatchObject({ title: 'Book club' });
    expect(ja.joined).toHaveLength(2);
  }, 60_000);

  it('membership – removed while a device was cut off, it learns so from its next list: the group leaves its list with a left event', async () => {
    expect((await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'ol-room', owner: 'ol-o', members: ['ol-u'] })).status).toBe(201);
    const proxy = await cuttableProxy(c.gateways.get('j1')!);
    try {
      const u = c.sdk('ol-u', 'd2', 'j1', { endpoints: [proxy.url], reconnect: { baseMs: 50, capMs: 200 } });
      const left: string[] = [];
      const states: string[] = [];
      u.on('left', (l) => left.push(l.conv));
      u.on('state', (s) => states.push(s.state));
      await u.connect();
      expect(u.conversations().map((x) => x.conv)).toEqual(['ol-room']);
      proxy.cut();
      await waitUntil(() => states.includes('reconnecting'), 'the client noticing it is cut off');
      await c.api('POST', '/v1/conversations/ol-room/members', { remove: ['ol-u'] });
      await sleep(300);
      expect(left).toEqual([]);
      proxy.restore();
      await waitUntil(() => left.length === 1, 'the client learning from its next list that it left');
      expect(left).toEqual(['ol-room']);
      expect(u.conversations()).toEqual([]);
    } finally {
      await proxy.close();
    }
  }, 30_000);

  it('membership – a direct conversation created by the server API shows on both users\' devices online at once, and the business server hears of it once', async () => {
    const di = await online('di', 'd1', 'j1');
    const du = await online('du', 'd1', 'j2');
    const r = await c.api('POST', '/v1/conversations', { kind: 'direct', members: ['di', 'du'] });
    const conv = r.body['conv'] as string;
    await waitUntil(() => di.joined.length === 1 && du.joined.length === 1, 'both users hearing of the direct conversation');
    expect(di.joined).toEqual([{ conv, kind: 'direct' }]);
    expect(du.client.conversations().find((x) => x.conv === conv)).toMatchObject({ kind: 'direct', lastSeq: 0 });
    expect((await c.api('POST', `/v1/conversations/${encodeURIComponent(conv)}`, { retention: 3600 })).status).toBe(200);
    await waitUntil(() => du.client.conversations().find((x) => x.conv === conv)?.retention === 3600, 'du seeing the retention');
    // Created again (it exists, e.g. an app's get-or-create): nothing new to tell, and nothing the devices hold undone.
    await c.api('POST', '/v1/conversations', { kind: 'direct', members: ['du', 'di'] });
    await new Promise((res) => setTimeout(res, 300));
    await di.client.send(conv, 'hi');
    await waitUntil(() => du.bodies.includes('hi'), 'du getting the first message');
    expect(di.joined).toHaveLength(1);
    expect(du.joined).toHaveLength(1);
    for (const x of [di, du]) expect(x.client.conversations().find((r) => r.conv === conv)?.retention).toBe(3600);
    // One members event, for the creation; the second create added no one.
    await waitUntil(() => events.some((e) => e.conv === conv), 'the members event of the creation');
    await new Promise((res) => setTimeout(res, 200));
    expect(events.filter((e) => e.conv === conv)).toEqual([{ type: 'members', conv, added: ['di', 'du'], removed: [], ts: expect.any(Number) }]);
  }, 30_000);

  it('membership – a direct conversation the server API makes right after a send to it was refused (not_found) takes sends at once', async () => {
    const ra = await online('ra', 'd1', 'j1');
    await online('rb', 'd1', 'j2');
    const conv = directConversationId('ra', 'rb');
    // The app sends before its business server made the conversation: refused, and the chatter knows it missing.
    await expect(ra.client.send(conv, 'too early')).rejects.toMatchObject({ code: ErrorCode.NOT_FOUND });
    expect((await c.api('POST', '/v1/conversations', { kind: 'direct', members: ['ra', 'rb'] })).status).toBe(201);
    // At once, not a second later (when the chatter would look again by itself).
    await expect(ra.client.send(conv, 'now')).resolves.toMatchObject({ conv, seq: 1 });
  }, 30_000);

  it('leave – a member leaves a group from one device: every device of theirs drops it, the others go on, the business server hears who left; a direct conversation cannot be left', async () => {
    expect((await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'lv-room', owner: 'lv-a', members: ['lv-b'] })).status).toBe(201);
    const a = await online('lv-a', 'd1', 'j1');
    const b1 = await online('lv-b', 'd1', 'j1');
    const b2 = await online('lv-b', 'd2', 'j2');
    await waitUntil(() => events.some((e) => e.conv === 'lv-room'), 'the members event of the creation');
    expect(events.filter((e) => e.conv === 'lv-room')).toEqual([{ type: 'members', conv: 'lv-room', added: ['lv-a', 'lv-b'], removed: [], ts: expect.any(Number) }]);

    await b1.client.leave('lv-room');
    expect(b1.client.conversations().map((x) => x.conv)).not.toContain('lv-room');
    await waitUntil(() => b2.left.length === 1, 'the other device dropping the group');
    expect(b2.client.conversations().map((x) => x.conv)).not.toContain('lv-room');
    expect(b1.left).toEqual([{ conv: 'lv-room' }]);
    await waitUntil(() => events.filter((e) => e.conv === 'lv-room').length === 2, 'the members event of the leave');
    expect(events.filter((e) => e.conv === 'lv-room')[1]).toEqual({ type: 'members', conv: 'lv-room', added: [], removed: ['lv-b'], by: 'lv-b', ts: expect.any(Number) });
    const members = (await c.api('GET', '/v1/conversations/lv-room')).body['members'] as { uid: string }[];
    expect(members.map((m) => m.uid)).toEqual(['lv-a']);
    await a.client.send('lv-room', 'anyone left?');
    expect(await codeOf(b1.client.send('lv-room', 'me?'))).toBe(ErrorCode.NOT_MEMBER);
    // Leaving again, or a conversation one was never in: not_member; a direct conversation: forbidden.
    expect(await codeOf(b2.client.leave('lv-room'))).toBe(ErrorCode.NOT_MEMBER);
    const direct = (await c.api('POST', '/v1/conversations', { kind: 'direct', members: ['lv-a', 'lv-b'] })).body['conv'] as string;
    expect(await codeOf(a.client.leave(direct))).toBe(ErrorCode.FORBIDDEN);
    expect(a.client.conversations().map((x) => x.conv)).toContain(direct);
    expect(await codeOf(a.client.leave('lv-nowhere'))).toBe(ErrorCode.NOT_FOUND);
  }, 30_000);

  it('title – a renamed group shows its new title on the members\' devices online at once, small and large groups alike; lists carry it; null removes it', async () => {
    for (const [conv, members] of [['ti-small', ['ti-b']], ['ti-large', ['ti-b', 'ti-c', 'ti-d', 'ti-e']]] as const) {
      expect((await c.api('POST', '/v1/conversations', { kind: 'group', conv, owner: 'ti-a', title: 'Old', members })).status).toBe(201);
    }
    const a = await online('ti-a', 'd1', 'j1');
    const b = await online('ti-b', 'd1', 'j2');
    expect(b.client.conversations().find((x) => x.conv === 'ti-large')?.title).toBe('Old');
    for (const conv of ['ti-small', 'ti-large']) {
      expect(await c.api('POST', `/v1/conversations/${conv}`, { title: `New ${conv}` })).toEqual({ status: 200, body: { conv, title: `New ${conv}` } });
    }
    await waitUntil(() => a.titles.length === 2 && b.titles.length === 2, 'both members hearing of both new titles');
    // Two conversations, two paths (the connector, the large group's subject): no order between them.
    expect([...b.titles].sort((x, y) => x.conv.localeCompare(y.conv))).toEqual([{ conv: 'ti-large', title: 'New ti-large' }, { conv: 'ti-small', title: 'New ti-small' }]);
    expect(a.client.conversations().find((x) => x.conv === 'ti-large')?.title).toBe('New ti-large');
    const e = await online('ti-e', 'd1', 'j2');
    expect(e.client.conversations().find((x) => x.conv === 'ti-large')?.title).toBe('New ti-large');
    const listed = (await c.api('GET', '/v1/users/ti-e/conversations')).body['conversations'] as { conv: string; title?: string }[];
    expect(listed.find((x) => x.conv === 'ti-large')?.title).toBe('New ti-large');

    expect((await c.api('POST', '/v1/conversations/ti-small', { title: null })).body).toEqual({ conv: 'ti-small', title: null });
    await waitUntil(() => b.titles.length === 3, 'b hearing the title was removed');
    expect(b.titles[2]).toEqual({ conv: 'ti-small' });
    expect(b.client.conversations().find((x) => x.conv === 'ti-small')?.title).toBeUndefined();
    await b.client.sync();
    expect(b.client.conversations().find((x) => x.conv === 'ti-small')?.title).toBeUndefined();

    const direct = (await c.api('POST', '/v1/conversations', { kind: 'direct', members: ['ti-a', 'ti-b'] })).body['conv'] as string;
    expect(await c.api('POST', `/v1/conversations/${encodeURIComponent(direct)}`, { title: 'x' })).toMatchObject({ status: 404, body: { code: ErrorCode.NOT_FOUND } });
    expect(await c.api('POST', '/v1/conversations/ti-small', { title: 'x'.repeat(201) })).toMatchObject({ status: 400, body: { code: ErrorCode.INVALID_FIELD } });
    // Postgres text holds no NUL: refused as bad input, not failed as a storage error.
    expect(await c.api('POST', '/v1/conversations/ti-small', { title: 'a\u0000b' })).toMatchObject({ status: 400, body: { code: ErrorCode.INVALID_FIELD } });
    expect(await c.api('POST', '/v1/conversations/ti-small', { meta: 'a\u0000b' })).toMatchObject({ status: 400, body: { code: ErrorCode.INVALID_FIELD } });
    expect(await c.api('POST', '/v1/conversations', { kind: 'group', owner: 'ti-o', members: ['bob\u0000'] })).toMatchObject({ status: 400, body: { code: ErrorCode.INVALID_FIELD } });
    expect(await c.api('POST', '/v1/conversations/ti-small', {})).toMatchObject({ status: 400, body: { code: ErrorCode.INVALID_FIELD } });
    expect(await c.api('POST', '/v1/conversations/ti-nowhere', { title: 'x' })).toMatchObject({ status: 404 });
  }, 30_000);

  it('meta – a group\'s app-defined data (avatar, description) is set at create or later, reaches the members online at once, newcomers with joined, and lists; null removes it', async () => {
    const card = JSON.stringify({ avatar: 'https://cdn.example/club.png', about: 'Books, monthly' });
    expect((await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'me-room', owner: 'me-a', members: ['me-b'], meta: card })).status).toBe(201);
    const b = await c.online('me-b', 'd1', 'j2', ['meta', 'title']);
    expect(b.client.conversations().find((x) => x.conv === 'me-room')?.meta).toBe(card);
    expect((await c.api('GET', '/v1/conversations/me-room')).body).toMatchObject({ meta: card });

    const next = JSON.stringify({ avatar: 'https://cdn.example/club2.png' });
    expect(await c.api('POST', '/v1/conversations/me-room', { title: 'Club', meta: next })).toEqual({ status: 200, body: { conv: 'me-room', title: 'Club', meta: next } });
    await waitUntil(() => b.got.meta.length === 1 && b.got.title.length === 1, 'b told of the new data and title');
    expect(b.got.meta).toEqual([{ conv: 'me-room', meta: next }]);
    expect(b.client.conversations().find((x) => x.conv === 'me-room')).toMatchObject({ title: 'Club', meta: next });
    const late = await c.online('me-c', 'd1', 'j1', ['joined']);
    await c.api('POST', '/v1/conversations/me-room/members', { add: ['me-c'] });
    await waitUntil(() => late.got.joined.length === 1, 'me-c told she joined');
    expect(late.client.conversations().find((x) => x.conv === 'me-room')?.meta).toBe(next);
    const listed = (await c.api('GET', '/v1/users/me-c/conversations')).body['conversations'] as { conv: string; meta?: string }[];
    expect(listed.find((x) => x.conv === 'me-room')?.meta).toBe(next);

    // Null removes it; the title stays.
    expect((await c.api('POST', '/v1/conversations/me-room', { meta: null })).body).toEqual({ conv: 'me-room', meta: null });
    await waitUntil(() => b.got.meta.length === 2, 'b told the data is gone');
    expect(b.got.meta[1]).toEqual({ conv: 'me-room' });
    await b.client.sync();
    expect(b.client.conversations().find((x) => x.conv === 'me-room')).toMatchObject({ title: 'Club' });
    expect(b.client.conversations().find((x) => x.conv === 'me-room')).not.toHaveProperty('meta');

    for (const meta of ['', 'x'.repeat(4097), 42]) expect(await c.api('POST', '/v1/conversations/me-room', { meta })).toMatchObject({ status: 400, body: { code: ErrorCode.INVALID_FIELD } });
    expect(await c.api('POST', '/v1/conversations', { kind: 'group', owner: 'me-a', meta: 'é'.repeat(2049) })).toMatchObject({ status: 400, body: { code: ErrorCode.INVALID_FIELD } });
    const direct = (await c.api('POST', '/v1/conversations', { kind: 'direct', members: ['me-a', 'me-b'] })).body['conv'] as string;
    expect(await c.api('POST', `/v1/conversations/${encodeURIComponent(direct)}`, { meta: card })).toMatchObject({ status: 404, body: { code: ErrorCode.NOT_FOUND } });
  }, 30_000);

  it('membership – a message stored before its sender was removed is answered with its seq when re-sent (its sent was lost), and a new one is refused', async () => {
    expect((await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'rs-room', owner: 'rs-o', members: ['rs-u'] })).status).toBe(201);
    const u = await rawConnect(c.gateways.get('j1')!, c.token('rs-u', 'd1'));
    await u.waitFor((f) => f.type === 'convs');
    u.send({ type: 'send', conv: 'rs-room', cid: 1, body: 'last words' });
    const sent = await u.waitFor<ServerFrameOf<'sent'>>((f) => f.type === 'sent' && f.cid === 1);
    u.frames.splice(u.frames.indexOf(sent), 1);
    await c.api('POST', '/v1/conversations/rs-room/members', { remove: ['rs-u'] });
    await u.waitFor((f) => f.type === 'left');
    // As a client whose `sent` never arrived re-sends on its next connection.
    u.send({ type: 'send', conv: 'rs-room', cid: 1, body: 'last words' });
    const again = await u.waitFor<ServerFrameOf<'sent'> | ServerFrameOf<'error'>>((f) => (f.type === 'sent' || f.type === 'error') && f.cid === 1);
    expect(again).toMatchObject({ type: 'sent', seq: sent.seq, ts: sent.ts });
    u.send({ type: 'send', conv: 'rs-room', cid: 2, body: 'let me back in' });
    expect(await u.waitFor((f) => f.type === 'error' && f.cid === 2)).toMatchObject({ code: ErrorCode.NOT_MEMBER });
    const stored = await c.db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM messages WHERE conv_id = 'rs-room' AND sender_uid = 'rs-u'`;
    expect(stored[0]!.n).toBe(1);
    u.close();
  }, 30_000);

  it('system message – to a direct conversation the business server just created, though a client woke its chatter before it existed', async () => {
    const a = await rawConnect(c.gateways.get('j1')!, c.token('sy-a', 'd1'));
    await a.waitFor((f) => f.type === 'convs');
    // A typing frame to the id the pair will have: the conversation's chatter starts, and finds nothing.
    a.send({ type: 'typing', conv: 'd:4:sy-a:sy-b' });
    await sleep(200);
    const conv = (await c.api('POST', '/v1/conversations', { kind: 'direct', members: ['sy-a', 'sy-b'] })).body['conv'] as string;
    expect(conv).toBe('d:4:sy-a:sy-b');
    const r = await c.api('POST', `/v1/conversations/${encodeURIComponent(conv)}/messages`, { body: 'welcome' });
    expect(r).toMatchObject({ status: 201, body: { conv, seq: expect.any(Number) } });
    a.close();
  }, 30_000);

  it('system message – a key makes a retry safe per sender: the same key from another `from` is a message of its own', async () => {
    expect((await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'sk-room', owner: 'sk-o' })).status).toBe(201);
    const post = async (from: string, body: string) => (await c.api('POST', '/v1/conversations/sk-room/messages', { from, key: 77, body })).body['seq'] as number;
    const a = await post('bot-a', 'from a');
    expect(await post('bot-a', 'from a, again')).toBe(a);
    const b = await post('bot-b', 'from b');
    expect(b).not.toBe(a);
    const stored = (await c.api('GET', '/v1/conversations/sk-room/messages')).body['messages'] as { from: string; body: string }[];
    expect(stored.map((m) => `${m.from}: ${m.body}`)).toEqual(['bot-a: from a', 'bot-b: from b']);
  }, 30_000);

  it('membership – the frames as documented: joined with kind, title and lastSeq to every device of the user; left', async () => {
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'jr-room', owner: 'jr-o', title: 'Raw' });
    await c.api('POST', '/v1/conversations/jr-room/messages', { body: 'first' });
    const d1 = await rawConnect(c.gateways.get('j1')!, c.token('jr', 'd1'));
    const d2 = await rawConnect(c.gateways.get('j2')!, c.token('jr', 'd2'));
    for (const d of [d1, d2]) await d.waitFor((f) => f.type === 'convs');
    await c.api('POST', '/v1/conversations/jr-room/members', { add: ['jr'] });
    for (const d of [d1, d2]) expect(await d.waitFor((f) => f.type === 'joined')).toEqual({ type: 'joined', conv: 'jr-room', kind: 'group', title: 'Raw', lastSeq: 1 });
    await c.api('POST', '/v1/conversations/jr-room/members', { remove: ['jr'] });
    for (const d of [d1, d2]) expect(await d.waitFor<ServerFrameOf<'left'>>((f) => f.type === 'left')).toEqual({ type: 'left', conv: 'jr-room' });
    d1.close();
    d2.close();
  }, 30_000);

  it('membership – a newcomer may read the history from before they joined, but none of it is unread; what follows is, and their read mark stays theirs ("seen by")', async () => {
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'ml-newcomer', owner: 'oda', members: ['pia'] });
    const oda = await c.online('oda', 'o1', 'j1', []);
    for (const body of ['one', 'two', 'three']) await oda.client.send('ml-newcomer', body);
    await c.api('POST', '/v1/conversations/ml-newcomer/members', { add: ['rex'] });
    const row = async () => ((await c.api('GET', '/v1/users/rex/conversations')).body['conversations'] as { conv: string; unread: number; readSeq: number }[]).find((x) => x.conv === 'ml-newcomer');
    expect(await row()).toMatchObject({ unread: 0, readSeq: 0 });
    const four = await oda.client.send('ml-newcomer', 'four');
    expect(await row()).toMatchObject({ unread: 1 });
    const rex = await c.online('rex', 'r1', 'j1', ['message'], { history: 'all' });
    await waitUntil(() => rex.got.message.length === 4, 'rex holding the whole history');
    expect(rex.client.conversations().find((x) => x.conv === 'ml-newcomer')).toMatchObject({ unread: 1 });
    const members = await oda.client.members('ml-newcomer');
    expect(members.members.find((m) => m.uid === 'rex')?.readSeq ?? 0).toBeLessThan(four.seq);
    expect(members.members.find((m) => m.uid === 'rex')?.readSeq ?? 0).toBe(0);
  }, 30_000);
});

