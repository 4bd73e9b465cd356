import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../protocol/errors.js';
import type { ServerFrameOf } from '../../protocol/frames.js';
import { shardOf } from '../../protocol/shard-hash.js';
import { startChatCluster, type ChatCluster } from '../helpers/chat-cluster.js';
import { rawConnect } from '../helpers/raw-client.js';
import { codeOf, waitUntil } from '../helpers/wait.js';

type Convs = ServerFrameOf<'convs'>;
const SHARDS = 32;
/** Announcement groups and slow mode: who may post, and how often; the cluster enforces both on clients' sends. */
describe('chat – who may post', () => {
  let c: ChatCluster;
  beforeAll(async () => {
    // Large above 3 members: the second test's group is delivered through its subject.
    c = await startChatCluster({ nodes: ['po1', 'po2'], shards: SHARDS, args: ['--large-group', '3'] });
  }, 60_000);
  afterAll(async () => {
    await c.stop();
  }, 30_000);

  it('posting – in an admins-only group members may not post (nothing stored, no typing passed on) but may react; the rule and role changes apply live; back to all, they post again', async () => {
    const created = await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'po-news', owner: 'olga', members: ['pete', 'quinn'], posting: 'admins' });
    expect(created.status).toBe(201);
    const olga = await c.online('olga', 'o1', 'po1', []);
    const pete = await c.online('pete', 'p1', 'po2', ['message', 'posting', 'typing']);
    expect(pete.client.conversations()).toMatchObject([{ conv: 'po-news', posting: 'admins' }]);
    expect((await c.api('GET', '/v1/conversations/po-news')).body).toMatchObject({ posting: 'admins' });

    const news = (await olga.client.send('po-news', 'we ship today')).seq;
    await waitUntil(() => pete.got.message.length === 1, 'pete getting the owner’s post');
    expect(await codeOf(pete.client.send('po-news', 'me too'))).toBe(ErrorCode.FORBIDDEN);
    expect(await codeOf(pete.client.send('po-news', 'agreed', { reply: news }))).toBe(ErrorCode.FORBIDDEN);
    // A reaction is not a post.
    await pete.client.react('po-news', news, '🎉');
    // Members' typing is not passed on; the owner's is.
    const quinn = await rawConnect(c.gateways.get('po1')!, c.token('quinn', 'q1'));
    expect((await quinn.waitFor<Convs>((f) => f.type === 'convs')).list).toMatchObject([{ conv: 'po-news', posting: 'admins' }]);
    pete.client.typing('po-news');
    olga.client.typing('po-news');
    expect(await quinn.waitFor((f) => f.type === 'typing')).toMatchObject({ from: 'olga' });
    // A message of olga's follows both typings through the chatter and quinn's connector: once quinn has it, a typing
    // of pete's passed on (whichever way it raced olga's) would be there too.
    await olga.client.send('po-news', 'typed');
    await quinn.waitFor((f) => f.type === 'msg' && (f as { body: string }).body === 'typed');
    expect(quinn.frames.filter((f) => f.type === 'typing').map((f) => (f as { from: string }).from)).toEqual(['olga']);
    const stored = await c.api('GET', '/v1/conversations/po-news/messages');
    expect((stored.body['messages'] as { from: string; body: string }[]).map((m) => `${m.from}: ${m.body}`)).toEqual(['olga: we ship today', 'pete: 🎉', 'olga: typed']);

    // Made an admin, pete posts; a member again, he does not.
    await c.api('POST', '/v1/conversations/po-news/roles', { roles: { pete: 'admin' } });
    await pete.client.send('po-news', 'admin now');
    await c.api('POST', '/v1/conversations/po-news/roles', { roles: { pete: 'member' } });
    expect(await codeOf(pete.client.send('po-news', 'demoted'))).toBe(ErrorCode.FORBIDDEN);

    // Back to everyone: told live, and members post again.
    expect((await c.api('POST', '/v1/conversations/po-news', { posting: 'all' })).body).toEqual({ conv: 'po-news', posting: 'all' });
    await waitUntil(() => pete.got.posting.length === 1, 'pete told of the new rule');
    expect(pete.got.posting).toEqual([{ conv: 'po-news', posting: 'all' }]);
    expect(await quinn.waitFor((f) => f.type === 'posting')).toEqual({ type: 'posting', conv: 'po-news', posting: 'all' });
    expect(pete.client.conversations()[0]).not.toHaveProperty('posting');
    await pete.client.send('po-news', 'finally');
    // The server API's system messages are never bound by the rule.
    await c.api('POST', '/v1/conversations/po-news', { posting: 'admins' });
    expect((await c.api('POST', '/v1/conversations/po-news/messages', { body: 'maintenance at noon' })).status).toBe(201);
    quinn.close();
  }, 30_000);

  it('posting – a large announcement group: a member added live learns the rule from joined; refusals are coded; direct conversations have no rule', async () => {
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'po-big', owner: 'vera', members: ['w1', 'w2', 'w3', 'w4'], posting: 'admins' });
    const late = await c.online('w9', 'd9', 'po2', ['joined', 'message']);
    await c.api('POST', '/v1/conversations/po-big/members', { add: ['w9'] });
    await waitUntil(() => late.got.joined.length === 1, 'w9 told of the group');
    expect(late.client.conversations().find((x) => x.conv === 'po-big')).toMatchObject({ posting: 'admins' });
    expect(await codeOf(late.client.send('po-big', 'hi all'))).toBe(ErrorCode.FORBIDDEN);
    const vera = await c.online('vera', 'v1', 'po1', []);
    await vera.client.send('po-big', 'welcome');
    await waitUntil(() => late.got.message.length === 1, 'w9 getting the owner’s post');

    const bad = await c.api('POST', '/v1/conversations/po-big', { posting: 'owners' });
    expect([bad.status, bad.body['code']]).toEqual([400, ErrorCode.INVALID_FIELD]);
    const none = await c.api('POST', '/v1/conversations/po-big', {});
    expect([none.status, none.body['code']]).toEqual([400, ErrorCode.INVALID_FIELD]);
    const direct = (await c.api('POST', '/v1/conversations', { kind: 'direct', members: ['vera', 'w9'] })).body['conv'] as string;
    expect((await c.api('POST', `/v1/conversations/${encodeURIComponent(direct)}`, { posting: 'admins' })).status).toBe(404);
    const badCreate = await c.api('POST', '/v1/conversations', { kind: 'group', owner: 'vera', posting: 'nobody' });
    expect([badCreate.status, badCreate.body['code']]).toEqual([400, ErrorCode.INVALID_FIELD]);
  }, 30_000);

  it('slow mode – a plain member posts once per its seconds: sooner is rate_limited, which the SDK sends again later, in order; owners and reactions are not slowed; rule changes reach members live, newcomers by joined; groups only', async () => {
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'po-slow', owner: 'sid', members: ['tia'], slowMode: 2 });
    expect((await c.api('GET', '/v1/conversations/po-slow')).body).toMatchObject({ slowMode: 2 });
    const sid = await c.online('sid', 's1', 'po1', ['sendRetry']);
    const tia = await c.online('tia', 't1', 'po2', ['sendRetry', 'slowMode']);
    expect(tia.client.conversations()).toMatchObject([{ conv: 'po-slow', slowMode: 2 }]);

    const one = (await tia.client.send('po-slow', 'one')).seq;
    const [two, thumbs] = await Promise.all([tia.client.send('po-slow', 'two'), tia.client.react('po-slow', one, '👍')]);
    expect(tia.got.sendRetry.length).toBeGreaterThan(0);
    expect(tia.got.sendRetry[0]!.error).toMatchObject({ code: ErrorCode.RATE_LIMITED, message: expect.stringMatching(/^slow mode in po-slow: tia may post once every 2 s; try again in [12] s$/) });
    // The wait, for an app to show: the SDK waits it out before sending again.
    expect([1000, 2000]).toContain(tia.got.sendRetry[0]!.error.retryAfterMs);
    expect(thumbs.seq).toBeGreaterThan(two.seq);
    // The owner is not slowed.
    await Promise.all([sid.client.send('po-slow', 'a'), sid.client.send('po-slow', 'b'), sid.client.send('po-slow', 'c')]);
    expect(sid.got.sendRetry).toEqual([]);
    const stored = await c.api('GET', '/v1/conversations/po-slow/messages');
    expect((stored.body['messages'] as { from: string; body: string }[]).map((m) => `${m.from}: ${m.body}`)).toEqual(['tia: one', 'tia: two', 'tia: 👍', 'sid: a', 'sid: b', 'sid: c']);

    // Off: told live, and she posts back to back.
    expect((await c.api('POST', '/v1/conversations/po-slow', { slowMode: 0 })).body).toEqual({ conv: 'po-slow', slowMode: 0 });
    await waitUntil(() => tia.got.slowMode.length === 1, 'tia told slow mode is off');
    expect(tia.got.slowMode).toEqual([{ conv: 'po-slow', slowMode: 0 }]);
    expect(tia.client.conversations()[0]).not.toHaveProperty('slowMode');
    const retries = tia.got.sendRetry.length;
    await Promise.all([tia.client.send('po-slow', 'x'), tia.client.send('po-slow', 'y')]);
    expect(tia.got.sendRetry.length).toBe(retries);

    // On again: a member added now learns it from joined.
    await c.api('POST', '/v1/conversations/po-slow', { slowMode: 600 });
    await waitUntil(() => tia.got.slowMode.length === 2, 'tia told of the new slow mode');
    const uli = await c.online('uli', 'u1', 'po1', ['joined']);
    await c.api('POST', '/v1/conversations/po-slow/members', { add: ['uli'] });
    await waitUntil(() => uli.got.joined.length === 1, 'uli told he joined');
    expect(uli.client.conversations().find((x) => x.conv === 'po-slow')).toMatchObject({ slowMode: 600 });
    // Her wait stands when the conversation moves to the other node: its new chatter reads her last post back.
    await tia.client.send('po-slow', 'under the new rule');
    const shard = shardOf('po-slow', SHARDS);
    const [row] = await c.db.sql<{ owner: string }[]>`SELECT owner FROM shards WHERE kind = 'chatter' AND shard = ${shard}`;
    expect((await c.imctl('move', 'chatter', String(shard), row!.owner === 'po1' ? 'po2' : 'po1')).code).toBe(0);
    const slowed = tia.got.sendRetry.length;
    void tia.client.send('po-slow', 'too soon').catch(() => undefined);
    await waitUntil(() => tia.got.sendRetry.length > slowed, 'tia slowed on the new node');
    expect(tia.got.sendRetry.at(-1)!.error).toMatchObject({ code: ErrorCode.RATE_LIMITED, message: expect.stringContaining('slow mode in po-slow') });

    const direct = (await c.api('POST', '/v1/conversations', { kind: 'direct', members: ['sid', 'tia'] })).body['conv'] as string;
    expect((await c.api('POST', `/v1/conversations/${encodeURIComponent(direct)}`, { slowMode: 5 })).status).toBe(404);
    for (const slowMode of [-1, 86_401, 1.5, 'fast']) {
      const r = await c.api('POST', '/v1/conversations/po-slow', { slowMode });
      expect([r.status, r.body['code']]).toEqual([400, ErrorCode.INVALID_FIELD]);
    }
  }, 30_000);
});
