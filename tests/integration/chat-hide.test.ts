import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { ErrorCode } from '../../protocol/errors.js';
import type { Msg, ServerFrameOf } from '../../protocol/frames.js';
import type { WebSocketConstructor } from '../../protocol/sdk/socket.js';
import { startChatCluster, type ChatCluster } from '../helpers/chat-cluster.js';
import { rawConnect } from '../helpers/raw-client.js';
import { codeOf, waitUntil } from '../helpers/wait.js';

type History = ServerFrameOf<'history'>;
type Hidden = ServerFrameOf<'hidden'>;
/** "Delete for me": messages one user hides from their own history, on all their devices; nobody else's changes. */
describe('chat – hide messages', () => {
  let c: ChatCluster;
  beforeAll(async () => {
    c = await startChatCluster({ nodes: ['h1', 'h2'] });
  }, 60_000);
  afterAll(async () => {
    await c?.stop();
  }, 30_000);

  it('hide – a hidden message is a stub in that user\'s pulls on every device, in its place in the chain; their other devices are told; the other member keeps it', async () => {
    const conv = (await c.api('POST', '/v1/conversations', { kind: 'direct', members: ['hana', 'ivo'] })).body['conv'] as string;
    const phone = await c.online('hana', 'phone', 'h1', ['hidden']);
    const ivo = await c.online('ivo', 'i1', 'h2', []);
    const seqs: number[] = [];
    for (const body of ['one', 'two', 'three']) seqs.push((await phone.client.send(conv, body)).seq);
    const [one, two, three] = seqs as [number, number, number];
    const reaction = (await ivo.client.react(conv, two, '👍')).seq;
    const laptop = await rawConnect(c.gateways.get('h2')!, c.token('hana', 'laptop'));
    await laptop.waitFor((f) => f.type === 'convs');

    // Only plain messages are hidden: a reaction and a seq with no message are left out of the answer.
    expect(await phone.client.hide(conv, [two, reaction, 999])).toEqual([two]);
    // With Hana's counts after it: none of it was unread for her (she sent it; Ivo's reaction is no news).
    expect(await laptop.waitFor<Hidden>((f) => f.type === 'hidden')).toEqual({ type: 'hidden', conv, seqs: [two], unread: 0, mentions: 0, lastSeq: reaction, hiddenAt: expect.any(Number) });
    expect(phone.got.hidden).toEqual([{ conv, seqs: [two] }]);

    laptop.send({ type: 'pull', rid: 1, conv, after: 0, limit: 10 });
    const page = (await laptop.waitFor<History>((f) => f.type === 'history' && f.rid === 1)).msgs;
    const stub = page.find((m) => m.seq === two)!;
    expect(stub).toEqual({ conv, seq: two, prev: one, from: 'hana', did: 'phone', cid: expect.any(Number), ts: expect.any(Number), body: '', hidden: true });
    expect(page.filter((m) => m.hidden).map((m) => m.seq)).toEqual([two]);
    expect(page.find((m) => m.seq === three)).toMatchObject({ body: 'three', prev: two });
    // Ivo keeps all of it, with the reaction counted.
    const his = (await ivo.client.pull(conv, 0)).msgs.find((m) => m.seq === two)!;
    expect(his).toMatchObject({ body: 'two', reactions: { counts: [{ emoji: '👍', n: 1 }] } });
    expect(his).not.toHaveProperty('hidden');

    // A device that starts from nothing gets the whole chain, the stub in its place.
    const tablet = await c.online('hana', 'tablet', 'h2', ['message'], { history: 'all' });
    await waitUntil(() => tablet.got.message.filter((m: Msg) => m.conv === conv).length === 4, 'the tablet holding the chain');
    expect(tablet.got.message.filter((m: Msg) => m.conv === conv).map((m) => [m.seq, m.body, m.hidden ?? false])).toEqual([[one, 'one', false], [two, '', true], [three, 'three', false], [reaction, '👍', false]]);
    laptop.close();
  }, 30_000);

  it('hide – hiding again is harmless; the server API hides for a user and their devices are told; bad seqs are invalid_field, a conversation you are not in not_member (403 from the API), and the session goes on', async () => {
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'hd-g', owner: 'jude', members: ['kai'] });
    const jude = await c.online('jude', 'j1', 'h1', ['hidden']);
    const first = (await jude.client.send('hd-g', 'first')).seq;
    const second = (await jude.client.send('hd-g', 'second')).seq;
    expect(await jude.client.hide('hd-g', [first])).toEqual([first]);
    expect(await jude.client.hide('hd-g', [first])).toEqual([first]);
    const api = await c.api('POST', '/v1/users/jude/conversations/hd-g/hide', { seqs: [second] });
    expect([api.status, api.body]).toEqual([200, { uid: 'jude', conv: 'hd-g', seqs: [second] }]);
    await waitUntil(() => jude.got.hidden.some((h) => h.seqs.includes(second)), 'jude told of the hide the server API made');
    expect((await jude.client.pull('hd-g', 0)).msgs.map((m) => [m.seq, m.hidden ?? false])).toEqual([[first, true], [second, true]]);
    // Kai still sees both.
    const kai = await c.online('kai', 'k1', 'h2', []);
    expect((await kai.client.pull('hd-g', 0)).msgs.map((m) => m.body)).toEqual(['first', 'second']);
    // A clear past them makes the hides moot: their rows go, what is above the mark stays hidden.
    const third = (await jude.client.send('hd-g', 'third')).seq;
    await jude.client.hide('hd-g', [third]);
    expect(await jude.client.clear('hd-g', second)).toBe(second);
    expect((await c.db.sql<{ seq: number }[]>`SELECT seq FROM hidden_messages WHERE uid = 'jude' AND conv_id = 'hd-g' ORDER BY seq`).map((r) => r.seq)).toEqual([third]);

    expect(await codeOf(kai.client.hide('no-such-group', [1]))).toBe(ErrorCode.NOT_MEMBER);
    const outsider = await c.api('POST', '/v1/users/lem/conversations/hd-g/hide', { seqs: [first] });
    expect([outsider.status, outsider.body['code']]).toEqual([403, ErrorCode.NOT_MEMBER]);
    // As a device's hide: 1–100 distinct seqs.
    for (const seqs of [[], [first, first], [0]]) {
      const bad = await c.api('POST', '/v1/users/jude/conversations/hd-g/hide', { seqs });
      expect([bad.status, bad.body['code']]).toEqual([400, ErrorCode.INVALID_FIELD]);
    }
    const raw = await rawConnect(c.gateways.get('h1')!, c.token('jude', 'j2'));
    await raw.waitFor((f) => f.type === 'convs');
    let rid = 10;
    for (const seqs of [[], [first, first], [0], Array.from({ length: 101 }, (_, i) => i + 1), 'x']) {
      raw.send({ type: 'hide', rid: ++rid, conv: 'hd-g', seqs });
      expect(await raw.waitFor((f) => f.type === 'error' && f.rid === rid)).toMatchObject({ code: ErrorCode.INVALID_FIELD });
    }
    raw.send({ type: 'ping', ts: 1 });
    await raw.waitFor((f) => f.type === 'pong');
    raw.close();
  }, 30_000);

  it('hide – a hidden message that was unread no longer counts in the user\'s unread or mentions: lists and read echoes leave it out; others\' counts are theirs', async () => {
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'hd-u', owner: 'lin', members: ['max', 'ned'] });
    const max = await c.online('max', 'm1', 'h2', []);
    const hi = (await max.client.send('hd-u', 'hi')).seq;
    const spam = (await max.client.send('hd-u', 'win a prize @lin @ned', { mentions: ['lin', 'ned'] })).seq;
    const ok = (await max.client.send('hd-u', 'ok')).seq;
    const row = async (uid: string): Promise<unknown> => ((await c.api('GET', `/v1/users/${uid}/conversations`)).body['conversations'] as unknown[])[0];
    expect(await row('lin')).toMatchObject({ conv: 'hd-u', unread: 3, mentions: 1 });

    expect((await c.api('POST', '/v1/users/lin/conversations/hd-u/hide', { seqs: [spam] })).status).toBe(200);
    expect(await row('lin')).toMatchObject({ unread: 2 });
    expect(await row('lin')).not.toHaveProperty('mentions');
    expect(await row('ned')).toMatchObject({ unread: 3, mentions: 1 });
    const lin = await c.online('lin', 'l1', 'h1', ['read']);
    expect(lin.client.conversations()[0]).toMatchObject({ unread: 2, mentions: 0 });
    lin.client.read('hd-u', hi);
    await waitUntil(() => lin.got.read.length === 1, 'lin’s read echo');
    expect(lin.got.read[0]).toMatchObject({ conv: 'hd-u', seq: hi, unread: 1, mentions: 0 });

    // A hide tells every device the count it leaves, so theirs is right before the next list or read.
    const tablet = await c.online('lin', 'l2', 'h2', ['read']);
    expect(tablet.client.conversations()[0]).toMatchObject({ unread: 1 });
    expect(await lin.client.hide('hd-u', [ok])).toEqual([ok]);
    expect(lin.client.conversations()[0]).toMatchObject({ unread: 0, mentions: 0 });
    expect(lin.got.read.at(-1)).toEqual({ conv: 'hd-u', seq: hi, unread: 0, mentions: 0 });
    await waitUntil(() => tablet.got.read.length === 1, 'the tablet told of the count the hide left');
    expect(tablet.client.conversations()[0]).toMatchObject({ unread: 0, mentions: 0 });
  }, 30_000);

  it('hide – a device away when messages were hidden learns of them at its next list: it asks which and emits hidden; an app asks with hiddenMessages; others are not_member', async () => {
    const conv = (await c.api('POST', '/v1/conversations', { kind: 'direct', members: ['ola', 'pia'] })).body['conv'] as string;
    const pia = await c.online('pia', 'p1', 'h1', []);
    const first = (await pia.client.send(conv, 'first')).seq;
    const second = (await pia.client.send(conv, 'second')).seq;
    // Ola's laptop: while she is "away" its sockets go nowhere, so it misses the live `hidden` frame.
    let away = false;
    const Gated = function (url: string) {
      return new WebSocket(away ? 'ws://127.0.0.1:9/ws' : url);
    } as unknown as WebSocketConstructor;
    const laptop = await c.online('ola', 'laptop', 'h2', ['hidden', 'state'], { WebSocket: Gated, reconnect: { baseMs: 50, capMs: 200 } });
    const phone = await c.online('ola', 'phone', 'h1', ['hidden']);
    expect(laptop.client.conversations().find((x) => x.conv === conv)).not.toHaveProperty('hiddenAt');

    away = true;
    laptop.client.reconnect();
    await waitUntil(() => laptop.got.state.some((x) => x.state === 'reconnecting'), 'the laptop away');
    expect(await phone.client.hide(conv, [first])).toEqual([first]);
    const hiddenAt = phone.client.conversations().find((x) => x.conv === conv)!.hiddenAt!;
    expect(hiddenAt).toBeGreaterThan(0);
    expect(laptop.got.hidden).toEqual([]);

    away = false;
    await waitUntil(() => laptop.got.hidden.length === 1, 'the laptop catching up on the hide made while it was away');
    expect(laptop.got.hidden[0]).toEqual({ conv, seqs: [first] });
    expect(laptop.client.conversations().find((x) => x.conv === conv)).toMatchObject({ hiddenAt });
    // Known now: the next list asks nothing more.
    await laptop.client.sync();
    await new Promise((r) => setTimeout(r, 200));
    expect(laptop.got.hidden).toHaveLength(1);

    // An app that stores messages asks for itself; the list row carries the time, others are not_member.
    await phone.client.hide(conv, [second]);
    expect(await phone.client.hiddenMessages(conv)).toEqual([first, second]);
    const row = ((await c.api('GET', '/v1/users/ola/conversations')).body['conversations'] as { conv: string; hiddenAt?: number }[]).find((x) => x.conv === conv);
    expect(row?.hiddenAt).toBeGreaterThanOrEqual(hiddenAt);
    const raw = await rawConnect(c.gateways.get('h1')!, c.token('quin', 'q1'));
    await raw.waitFor((f) => f.type === 'convs');
    raw.send({ type: 'hides', rid: 3, conv });
    expect(await raw.waitFor((f) => f.type === 'error')).toMatchObject({ rid: 3, code: ErrorCode.NOT_MEMBER });
    raw.close();
  }, 30_000);

  it('hide – a message its reader hid and its author then recalled is recalled for them too: a reaction to it, a reply to it or a pin of it is refused conflict', async () => {
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'hd-r', owner: 'nia', members: ['oto'] });
    const nia = await c.online('nia', 'n1', 'h1', []);
    const oto = await c.online('oto', 'o1', 'h2', []);
    const seq = (await oto.client.send('hd-r', 'soon gone')).seq;
    expect(await nia.client.hide('hd-r', [seq])).toEqual([seq]);
    await oto.client.recall('hd-r', seq);
    expect(await codeOf(nia.client.react('hd-r', seq, '❤️'))).toBe(ErrorCode.CONFLICT);
    expect(await codeOf(nia.client.send('hd-r', 'about that', { reply: seq }))).toBe(ErrorCode.CONFLICT);
    expect(await codeOf(nia.client.pinMessage('hd-r', seq))).toBe(ErrorCode.CONFLICT);
    // Nothing of it was stored: the recall is the last message.
    expect((await c.db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM messages WHERE conv_id = 'hd-r' AND seq > ${seq}`)[0]!.n).toBe(1);
  }, 30_000);
});
