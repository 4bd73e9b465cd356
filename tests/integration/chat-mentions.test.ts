import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PushEvent } from '../../protocol/chat-ops.js';
import { ErrorCode } from '../../protocol/errors.js';
import { MAX_MENTION_ALL_MEMBERS } from '../../protocol/limits.js';
import { EventSubject } from '../../protocol/subjects.js';
import { rawConnect } from '../helpers/raw-client.js';
import { startChatCluster, type ChatCluster } from '../helpers/chat-cluster.js';
import { codeOf, waitUntil } from '../helpers/wait.js';

/** Mentions: a message names members; each counts their unread mentions, and the push service is told. */
describe('chat – mentions', () => {
  let c: ChatCluster;
  let pushes: PushEvent[];
  beforeAll(async () => {
    c = await startChatCluster({ nodes: ['y1', 'y2'] });
    pushes = await c.collect<PushEvent>(EventSubject.PUSH);
  }, 60_000);
  afterAll(async () => {
    await c?.stop();
  }, 30_000);

  /** The user's total unread mentions, as the server API counts them for a badge. */
  const apiMentions = async (uid: string) => (await c.api('GET', `/v1/users/${uid}/conversations`)).body['mentions'];

  it('mentions – a member named in a message counts it on every device, in lists and the server API, until read; the sender and non-members count none', async () => {
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'mn-group', owner: 'amy', members: ['ben', 'cal'] });
    const amy = await c.online('amy', 'd1', 'y1', ['message']);
    const ben = await c.online('ben', 'phone', 'y2', ['message', 'read']);
    const benLaptop = await c.online('ben', 'laptop', 'y1', ['message']);
    const m1 = await amy.client.send('mn-group', 'hi @ben @cal @amy @zoe', { mentions: ['ben', 'cal', 'amy', 'zoe'] });
    await amy.client.send('mn-group', 'nobody named');
    const m3 = await amy.client.send('mn-group', '@ben again', { mentions: ['ben'] });
    const info = (client: typeof ben.client) => client.conversations().find((x) => x.conv === 'mn-group');
    for (const d of [ben, benLaptop]) await waitUntil(() => d.got.message.length === 3, 'ben\'s devices holding all three');
    expect(ben.got.message.map((m) => m.mentions)).toEqual([['ben', 'cal', 'amy', 'zoe'], undefined, ['ben']]);
    for (const d of [ben, benLaptop]) expect(info(d.client)).toMatchObject({ unread: 3, mentions: 2 });
    expect((await ben.client.sync()).find((x) => x.conv === 'mn-group')).toMatchObject({ unread: 3, mentions: 2 });
    expect(info(amy.client)?.mentions).toBe(0);
    expect([await apiMentions('ben'), await apiMentions('cal'), await apiMentions('amy')]).toEqual([2, 1, 0]);
    // Only members other than the sender have a mention to count.
    const rows = await c.db.sql<{ uid: string; seq: number }[]>`SELECT uid, seq FROM mentions WHERE conv_id = 'mn-group' ORDER BY uid, seq`;
    expect(rows).toEqual([{ uid: 'ben', seq: m1.seq }, { uid: 'ben', seq: m3.seq }, { uid: 'cal', seq: m1.seq }]);
    expect((await ben.client.pull('mn-group', 0, 10)).msgs[0]!.mentions).toEqual(['ben', 'cal', 'amy', 'zoe']);
    // A read mark past the first leaves one, on both devices (the echo carries the exact count); reading all clears it.
    ben.client.read('mn-group', m1.seq);
    for (const d of [ben, benLaptop]) await waitUntil(() => info(d.client)?.mentions === 1, 'one mention left after the mark');
    expect(ben.got.read.at(-1)).toMatchObject({ seq: m1.seq, unread: 2, mentions: 1 });
    benLaptop.client.read('mn-group', m3.seq);
    for (const d of [ben, benLaptop]) await waitUntil(() => info(d.client)?.mentions === 0, 'no mention left');
    expect(await apiMentions('ben')).toBe(0);
    // The business server's messages may mention members too.
    const notice = await c.api('POST', '/v1/conversations/mn-group/messages', { from: 'bot', body: '@ben your turn', mentions: ['ben'] });
    expect(notice.status).toBe(201);
    for (const d of [ben, benLaptop]) await waitUntil(() => info(d.client)?.mentions === 1, 'the bot\'s mention counted');
    expect(ben.got.message.at(-1)).toMatchObject({ from: 'bot', mentions: ['ben'] });
    expect((await c.api('POST', '/v1/conversations/mn-group/messages', { body: 'x', mentions: ['ben', 'ben'] })).status).toBe(400);
  }, 30_000);

  it('mentions – push events say `mentioned` (a muted conversation too); a recall takes its mention out of the count; a member removed loses theirs', async () => {
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'mn-push', owner: 'dee', members: ['eli'] });
    const dee = await c.online('dee', 'd1', 'y2', []);
    expect((await c.api('POST', '/v1/users/eli/conversations/mn-push/mute', { until: 8_640_000_000_000_000 })).status).toBe(200);
    const named = await dee.client.send('mn-push', '@eli look', { mentions: ['eli'] });
    const plain = await dee.client.send('mn-push', 'just talk');
    await waitUntil(() => pushes.some((p) => p.uid === 'eli' && p.seq === plain.seq), 'eli pushed both');
    expect(pushes.filter((p) => p.uid === 'eli' && p.conv === 'mn-push')).toEqual([
      { type: 'push', uid: 'eli', conv: 'mn-push', seq: named.seq, from: 'dee', muted: true, mentioned: true },
      { type: 'push', uid: 'eli', conv: 'mn-push', seq: plain.seq, from: 'dee', muted: true },
    ]);
    const again = await dee.client.send('mn-push', '@eli are you there', { mentions: ['eli'] });
    expect(await apiMentions('eli')).toBe(2);
    await dee.client.recall('mn-push', again.seq);
    expect(await apiMentions('eli')).toBe(1);
    await c.api('POST', '/v1/conversations/mn-push/members', { remove: ['eli'] });
    await c.api('POST', '/v1/conversations/mn-push/members', { add: ['eli'] });
    expect(await apiMentions('eli')).toBe(0);
    // Erasing a user erases the mentions counted for them.
    await dee.client.send('mn-push', '@eli welcome back', { mentions: ['eli'] });
    expect(await apiMentions('eli')).toBe(1);
    expect((await c.api('POST', '/v1/users/eli/erase', {})).status).toBe(200);
    expect(await c.db.sql`SELECT 1 FROM mentions WHERE uid = 'eli'`).toHaveLength(0);
  }, 30_000);

  it('mentions – an owner or admin may mention all: every other member counts it and is pushed `mentioned`; a plain member is refused, live as roles change; the server API may', async () => {
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'mn-all', owner: 'fay', members: ['gil', 'hal'] });
    const fay = await c.online('fay', 'd1', 'y1', []);
    const gil = await c.online('gil', 'd1', 'y2', ['message']);
    const all = await fay.client.send('mn-all', '@all standup now', { mentionAll: true });
    await waitUntil(() => gil.got.message.length === 1, 'gil holding the message');
    expect(gil.got.message[0]).toMatchObject({ seq: all.seq, mentionAll: true });
    expect(gil.client.conversations().find((x) => x.conv === 'mn-all')).toMatchObject({ unread: 1, mentions: 1 });
    expect([await apiMentions('gil'), await apiMentions('hal'), await apiMentions('fay')]).toEqual([1, 1, 0]);
    expect(await c.db.sql`SELECT uid FROM mentions WHERE conv_id = 'mn-all' ORDER BY uid`).toEqual([{ uid: 'gil' }, { uid: 'hal' }]);
    expect((await gil.client.pull('mn-all', 0, 10)).msgs[0]).toMatchObject({ seq: all.seq, mentionAll: true });
    await waitUntil(() => pushes.some((p) => p.uid === 'hal' && p.seq === all.seq && p.conv === 'mn-all'), 'hal pushed');
    expect(pushes.find((p) => p.uid === 'hal' && p.conv === 'mn-all')).toEqual({ type: 'push', uid: 'hal', conv: 'mn-all', seq: all.seq, from: 'fay', mentioned: true });
    // A plain member may not; made an admin, they may; a member again, they may not (the chatter hears of each change).
    expect(await codeOf(gil.client.send('mn-all', '@all hey', { mentionAll: true }))).toBe(ErrorCode.FORBIDDEN);
    expect((await c.api('POST', '/v1/conversations/mn-all/roles', { roles: { gil: 'admin' } })).status).toBe(200);
    await gil.client.send('mn-all', '@all lunch', { mentionAll: true });
    expect((await c.api('POST', '/v1/conversations/mn-all/roles', { roles: { gil: 'member' } })).status).toBe(200);
    expect(await codeOf(gil.client.send('mn-all', '@all again', { mentionAll: true }))).toBe(ErrorCode.FORBIDDEN);
    expect(await apiMentions('hal')).toBe(2);
    // The business server may mention all in any conversation.
    expect((await c.api('POST', '/v1/conversations/mn-all/messages', { body: 'maintenance at 6', mentionAll: true })).status).toBe(201);
    expect(await apiMentions('hal')).toBe(3);
    expect(await c.db.sql`SELECT seq FROM messages WHERE conv_id = 'mn-all'`).toHaveLength(3);
  }, 30_000);

  it('mentions – mentioning all is refused with limit_reached in a conversation of more than 10,000 members, and allowed at 10,000', async () => {
    const members = Array.from({ length: MAX_MENTION_ALL_MEMBERS }, (_, i) => `mb${i}`);
    expect((await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'mn-big', owner: 'mo', members })).status).toBe(201);
    const mo = await c.online('mo', 'd1', 'y1', []);
    expect(await codeOf(mo.client.send('mn-big', '@all hello', { mentionAll: true }))).toBe(ErrorCode.LIMIT_REACHED);
    expect((await c.api('POST', '/v1/conversations/mn-big/messages', { body: '@all hello', mentionAll: true })).body).toMatchObject({ code: 'limit_reached' });
    expect((await c.api('POST', '/v1/conversations/mn-big/members', { remove: ['mb0'] })).status).toBe(200);
    const started = performance.now();
    const all = await mo.client.send('mn-big', '@all hello', { mentionAll: true });
    console.log(`mention all of ${MAX_MENTION_ALL_MEMBERS} members: acked in ${(performance.now() - started).toFixed(0)} ms`);
    expect(await c.db.sql`SELECT count(*)::int AS n FROM mentions WHERE conv_id = 'mn-big' AND seq = ${all.seq}`).toEqual([{ n: MAX_MENTION_ALL_MEMBERS - 1 }]);
    // Two such in a row would stall the node's commits for everyone: the third within the minute waits (rate_limited,
    // which the SDK re-sends later); plain messages go on, and the business server is not held to it.
    await mo.client.send('mn-big', '@all again', { mentionAll: true });
    const raw = await rawConnect(c.gateways.get('y1')!, c.token('mo', 'd2'));
    await raw.waitFor((f) => f.type === 'convs');
    raw.send({ type: 'send', conv: 'mn-big', cid: 1, body: '@all once more', mentionAll: true });
    const refused = await raw.waitFor((f) => f.type === 'error' && f.cid === 1);
    expect(refused).toMatchObject({ code: ErrorCode.RATE_LIMITED, message: expect.stringContaining('try again in') });
    raw.send({ type: 'send', conv: 'mn-big', cid: 2, body: 'plain' });
    expect(await raw.waitFor((f) => f.type === 'sent' && f.cid === 2)).toBeTruthy();
    expect((await c.api('POST', '/v1/conversations/mn-big/messages', { body: 'system @all', mentionAll: true })).status).toBe(201);
    raw.close();
  }, 60_000);
});
