import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../protocol/errors.js';
import type { ServerFrameOf } from '../../protocol/frames.js';
import { startChatCluster, type ChatCluster } from '../helpers/chat-cluster.js';
import { rawConnect } from '../helpers/raw-client.js';
import { codeOf, waitUntil } from '../helpers/wait.js';

type History = ServerFrameOf<'history'>;
/** "Clear chat": one user's history of a conversation, cleared on all their devices; nobody else's changes. */
describe('chat – clear history', () => {
  let c: ChatCluster;
  beforeAll(async () => {
    c = await startChatCluster({ nodes: ['cl1', 'cl2'] });
  }, 60_000);
  afterAll(async () => {
    await c?.stop();
  }, 30_000);

  it('clear – a clear on one device hides what it covers from every device of the user and from new ones; it counts as read; the other member keeps everything', async () => {
    const conv = (await c.api('POST', '/v1/conversations', { kind: 'direct', members: ['cora', 'dan'] })).body['conv'] as string;
    const dan = await c.online('dan', 'd1', 'cl2', ['receipt']);
    const seqs: number[] = [];
    for (const body of ['one', 'two', 'three']) seqs.push((await dan.client.send(conv, body)).seq);
    const phone = await c.online('cora', 'phone', 'cl1', ['message', 'cleared'], { history: 'all' });
    await waitUntil(() => phone.got.message.length === 3, 'the phone holding the three messages');
    const laptop = await rawConnect(c.gateways.get('cl2')!, c.token('cora', 'laptop'));
    await laptop.waitFor((f) => f.type === 'convs');

    // Up to the second message: the answer, an event on this device, and `cleared` on the other one.
    expect(await phone.client.clear(conv, seqs[1]!)).toBe(seqs[1]);
    expect(phone.got.cleared).toEqual([{ conv, seq: seqs[1] }]);
    expect(await laptop.waitFor((f) => f.type === 'cleared')).toEqual({ type: 'cleared', conv, seq: seqs[1] });
    // Read up to the mark, on every device; the third message is still unread.
    expect(await laptop.waitFor((f) => f.type === 'read' && f.seq === seqs[1])).toMatchObject({ unread: 1 });
    await waitUntil(() => phone.client.conversations()[0]?.readSeq === seqs[1], 'the phone hearing of the read mark');
    expect(phone.client.conversations()[0]).toMatchObject({ conv, clearedSeq: seqs[1], unread: 1 });
    // ...which the other member sees as read.
    await waitUntil(() => dan.got.receipt.some((r) => r.seq === seqs[1]), 'dan getting the read receipt');

    // Cora's pulls start above the mark, both ways; dan's do not.
    laptop.send({ type: 'pull', rid: 1, conv, after: 0, limit: 50 });
    const after = await laptop.waitFor<History>((f) => f.type === 'history' && f.rid === 1);
    expect([after.msgs.map((m) => m.body), after.more]).toEqual([['three'], false]);
    laptop.send({ type: 'pull', rid: 2, conv, before: seqs[2]! + 1, limit: 50 });
    const before = await laptop.waitFor<History>((f) => f.type === 'history' && f.rid === 2);
    expect([before.msgs.map((m) => m.body), before.more]).toEqual([['three'], false]);
    expect((await dan.client.pull(conv, 0)).msgs.map((m) => m.body)).toEqual(['one', 'two', 'three']);

    // Never back; capped at the last message.
    expect(await phone.client.clear(conv, seqs[0]!)).toBe(seqs[1]);
    expect(await phone.client.clear(conv, 1e12)).toBe(seqs[2]);
    expect(await laptop.waitFor((f) => f.type === 'cleared' && f.seq === seqs[2])).toBeTruthy();
    // A new device gets nothing of what was cleared, and is told of the mark; what comes next reaches it.
    const tablet = await c.online('cora', 'tablet', 'cl2', ['message', 'cleared'], { history: 'all' });
    expect(tablet.got.cleared).toEqual([{ conv, seq: seqs[2] }]);
    expect(tablet.client.conversations()[0]).toMatchObject({ conv, clearedSeq: seqs[2], unread: 0 });
    const four = (await dan.client.send(conv, 'four')).seq;
    await waitUntil(() => tablet.got.message.length === 1, 'the tablet getting the next message');
    expect(tablet.got.message.map((m) => [m.seq, m.body])).toEqual([[four, 'four']]);
    // The messages stay stored: the server API reads them all.
    const stored = await c.api('GET', `/v1/conversations/${encodeURIComponent(conv)}/messages`);
    expect((stored.body['messages'] as { body: string }[]).map((m) => m.body)).toEqual(['one', 'two', 'three', 'four']);
    laptop.close();
  }, 30_000);

  it('clear – the server API clears for a user: their devices are told, lists carry the mark; not a member is 403, a bad seq 400', async () => {
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'cl-team', owner: 'eve', members: ['fay'] });
    for (const body of ['a', 'b']) await c.api('POST', '/v1/conversations/cl-team/messages', { body });
    const fay = await c.online('fay', 'f1', 'cl1', ['cleared'], { history: 'all' });
    const res = await c.api('POST', '/v1/users/fay/conversations/cl-team/clear', {});
    expect(res.status).toBe(200);
    const last = res.body['clearedSeq'] as number;
    expect(res.body).toEqual({ uid: 'fay', conv: 'cl-team', clearedSeq: last });
    expect(last).toBeGreaterThan(0);
    await waitUntil(() => fay.got.cleared.length === 1, 'fay told of the clear');
    expect(fay.got.cleared).toEqual([{ conv: 'cl-team', seq: last }]);
    expect((await c.api('GET', '/v1/users/fay/conversations')).body['conversations']).toMatchObject([{ conv: 'cl-team', clearedSeq: last, readSeq: last, unread: 0 }]);
    expect((await fay.client.pull('cl-team', 0)).msgs).toEqual([]);
    // Eve's list has no mark.
    expect(((await c.api('GET', '/v1/users/eve/conversations')).body['conversations'] as object[])[0]).not.toHaveProperty('clearedSeq');
    const refused = await c.api('POST', '/v1/users/gus/conversations/cl-team/clear', {});
    expect([refused.status, refused.body['code']]).toEqual([403, ErrorCode.NOT_MEMBER]);
    const bad = await c.api('POST', '/v1/users/fay/conversations/cl-team/clear', { seq: -1 });
    expect([bad.status, bad.body['code']]).toEqual([400, ErrorCode.INVALID_FIELD]);
  }, 30_000);

  it('clear – a conversation you are not in is not_member; a clear without seq is invalid_field; both answer by rid, and the session goes on', async () => {
    const { client } = await c.online('hal', 'h1', 'cl2', []);
    expect(await codeOf(client.clear('cl-team', 1))).toBe(ErrorCode.NOT_MEMBER);
    const raw = await rawConnect(c.gateways.get('cl1')!, c.token('fay', 'f2'));
    await raw.waitFor((f) => f.type === 'convs');
    raw.send({ type: 'clear', rid: 7, conv: 'cl-team' });
    expect(await raw.waitFor((f) => f.type === 'error' && f.rid === 7)).toMatchObject({ code: ErrorCode.INVALID_FIELD });
    raw.send({ type: 'clear', rid: 8, conv: 'cl-team', seq: 'all' });
    expect(await raw.waitFor((f) => f.type === 'error' && f.rid === 8)).toMatchObject({ code: ErrorCode.INVALID_FIELD });
    raw.send({ type: 'sync', rid: 9 });
    expect(await raw.waitFor((f) => f.type === 'convs' && f.rid === 9)).toBeTruthy();
    raw.close();
  }, 30_000);

  it('clear – a member removed and added back keeps what they had cleared', async () => {
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'cl-back', owner: 'gus', members: ['hal'] });
    const gus = await c.online('gus', 'g1', 'cl1', []);
    const seqs: number[] = [];
    for (const body of ['one', 'two', 'three']) seqs.push((await gus.client.send('cl-back', body)).seq);
    await c.api('POST', '/v1/users/hal/conversations/cl-back/clear', { seq: seqs[1] });
    await c.api('POST', '/v1/conversations/cl-back/members', { remove: ['hal'] });
    await c.api('POST', '/v1/conversations/cl-back/members', { add: ['hal'] });
    const list = await c.api('GET', '/v1/users/hal/conversations');
    expect((list.body['conversations'] as { conv: string; clearedSeq?: number }[]).find((x) => x.conv === 'cl-back')?.clearedSeq).toBe(seqs[1]);
    const hal = await c.online('hal', 'h1', 'cl2', ['message'], { history: 'all' });
    await waitUntil(() => hal.got.message.length === 1, 'hal holding what was not cleared');
    expect(hal.got.message.map((m) => m.body)).toEqual(['three']);
  }, 30_000);

  it('history rule – in a group whose newcomers see only what follows their joining, one added later is served nothing from before; those in it keep everything; all by default', async () => {
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'cl-hidden', owner: 'ian', members: ['jo'], history: 'joined' });
    const ian = await c.online('ian', 'i1', 'cl1', []);
    const before = (await ian.client.send('cl-hidden', 'before kim')).seq;
    await c.api('POST', '/v1/conversations/cl-hidden/members', { add: ['kim'] });
    const after = (await ian.client.send('cl-hidden', 'after kim')).seq;
    const kim = await c.online('kim', 'k1', 'cl2', ['message', 'joined', 'cleared'], { history: 'all' });
    await waitUntil(() => kim.got.message.length === 1, 'kim holding what followed her joining');
    expect(kim.got.message.map((m) => m.seq)).toEqual([after]);
    expect(kim.client.conversations().find((x) => x.conv === 'cl-hidden')).toMatchObject({ clearedSeq: before, unread: 1 });
    expect((await kim.client.pullBefore('cl-hidden', after)).msgs).toEqual([]);
    // Jo was in it from the start: everything.
    const jo = await c.online('jo', 'j1', 'cl2', ['message'], { history: 'all' });
    await waitUntil(() => jo.got.message.length === 2, 'jo holding both');
    // Set later (the server API), it applies to those added from then on; `all` again shows newcomers everything.
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'cl-open', owner: 'ian', members: ['jo'] });
    const oldNews = (await ian.client.send('cl-open', 'old news')).seq;
    expect((await c.api('GET', '/v1/conversations/cl-open')).body).toMatchObject({ history: 'all' });
    expect((await c.api('POST', '/v1/conversations/cl-open', { history: 'joined' })).body).toEqual({ conv: 'cl-open', history: 'joined' });
    await c.api('POST', '/v1/conversations/cl-open/members', { add: ['kim'] });
    // Online when added, kim learns with `joined` itself where her history of it starts, before any list.
    await waitUntil(() => kim.got.joined.some((j) => j.conv === 'cl-open'), 'kim told she joined cl-open');
    expect(kim.got.cleared).toContainEqual({ conv: 'cl-open', seq: oldNews });
    expect(kim.client.conversations().find((x) => x.conv === 'cl-open')).toMatchObject({ clearedSeq: oldNews, unread: 0 });
    expect((await kim.client.pull('cl-open', 0)).msgs).toEqual([]);
    expect((await c.api('POST', '/v1/conversations/cl-open', { history: 'all' })).status).toBe(200);
    await c.api('POST', '/v1/conversations/cl-open/members', { add: ['lou'] });
    const lou = await c.online('lou', 'l1', 'cl1', []);
    expect((await lou.client.pull('cl-open', 0)).msgs.map((m) => m.body)).toEqual(['old news']);
    // A group's rule only; and only these two values.
    const direct = (await c.api('POST', '/v1/conversations', { kind: 'direct', members: ['ian', 'jo'] })).body['conv'] as string;
    expect((await c.api('POST', `/v1/conversations/${direct}`, { history: 'joined' })).status).toBe(404);
    expect(await c.api('POST', '/v1/conversations/cl-open', { history: 'none' })).toMatchObject({ status: 400, body: { code: ErrorCode.INVALID_FIELD } });
  }, 30_000);
});

