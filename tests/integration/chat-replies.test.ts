import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MessageEvent, PushEvent } from '../../protocol/chat-ops.js';
import { ErrorCode } from '../../protocol/errors.js';
import { EventSubject } from '../../protocol/subjects.js';
import { startChatCluster, type ChatCluster } from '../helpers/chat-cluster.js';
import { codeOf, waitUntil } from '../helpers/wait.js';

/** Replies: a message may answer an earlier one; every copy names it and its sender, who counts it as a mention. */
describe('chat – replies', () => {
  let c: ChatCluster;
  let messages: MessageEvent[];
  let pushes: PushEvent[];
  beforeAll(async () => {
    c = await startChatCluster({ nodes: ['r1', 'r2'] });
    messages = await c.collect<MessageEvent>(EventSubject.MESSAGE);
    pushes = await c.collect<PushEvent>(EventSubject.PUSH);
  }, 60_000);
  afterAll(async () => {
    await c?.stop();
  }, 30_000);

  /** The user's total unread mentions, as the server API counts them for a badge. */
  const apiMentions = async (uid: string) => (await c.api('GET', `/v1/users/${uid}/conversations`)).body['mentions'];
  const mentionRows = (conv: string) => c.db.sql<{ uid: string; seq: number }[]>`SELECT uid, seq FROM mentions WHERE conv_id = ${conv} ORDER BY seq, uid`;

  it('reply – every copy (live, the sender\'s own, history, the server API, the message event) names the message answered and its sender, who counts it as an unread mention', async () => {
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'rp-group', owner: 'amy', members: ['ben', 'cal'] });
    const amy = await c.online('amy', 'd1', 'r1', ['message']);
    const ben = await c.online('ben', 'phone', 'r2', ['message']);
    const benLaptop = await c.online('ben', 'laptop', 'r1', ['message']);
    const q = await ben.client.send('rp-group', 'who brings the cake?');
    const a = await amy.client.send('rp-group', 'I do', { reply: q.seq });
    const shape = { seq: a.seq, from: 'amy', body: 'I do', reply: q.seq, replyFrom: 'ben' };
    for (const d of [ben, benLaptop]) await waitUntil(() => d.got.message.length === 2, 'ben\'s devices holding the reply');
    for (const d of [amy, ben, benLaptop]) expect(d.got.message.find((m) => m.seq === a.seq)).toMatchObject(shape);
    const info = (d: typeof ben) => d.client.conversations().find((x) => x.conv === 'rp-group');
    // Ben's own question is read by him; the reply to it is unread and counts as a mention of him, on both devices.
    for (const d of [ben, benLaptop]) await waitUntil(() => info(d)?.mentions === 1, 'the reply counted as a mention of ben');
    expect(info(ben)).toMatchObject({ unread: 1, mentions: 1 });
    expect((await ben.client.sync()).find((x) => x.conv === 'rp-group')).toMatchObject({ unread: 1, mentions: 1 });
    expect([await apiMentions('ben'), await apiMentions('cal'), await apiMentions('amy')]).toEqual([1, 0, 0]);
    expect((await ben.client.pull('rp-group', q.seq, 10)).msgs[0]).toMatchObject(shape);
    const history = await c.api('GET', '/v1/conversations/rp-group/messages?after=0&limit=10');
    expect((history.body['messages'] as unknown[])[1]).toMatchObject(shape);
    await waitUntil(() => messages.some((m) => m.seq === a.seq && m.conv === 'rp-group'), 'the message event');
    expect(messages.find((m) => m.seq === a.seq && m.conv === 'rp-group')).toMatchObject(shape);
    // A reply that also mentions its author counts once; a reply to one's own message counts for nobody.
    const both = await amy.client.send('rp-group', '@ben @cal and candles', { reply: q.seq, mentions: ['ben', 'cal'] });
    const own = await ben.client.send('rp-group', 'thanks!', { reply: q.seq });
    expect(await mentionRows('rp-group')).toEqual([{ uid: 'ben', seq: a.seq }, { uid: 'ben', seq: both.seq }, { uid: 'cal', seq: both.seq }]);
    expect(own.seq).toBeGreaterThan(both.seq);
    // The business server may reply too (a bot answering a question).
    const bot = await c.api('POST', '/v1/conversations/rp-group/messages', { from: 'bot', body: 'noted', reply: q.seq });
    expect(bot.status).toBe(201);
    expect(bot.body).toMatchObject({ reply: q.seq, replyFrom: 'ben' });
  }, 30_000);

  it('reply – refused for a message that does not exist, is a reaction, or was recalled; a recalled reply no longer counts; the author offline is pushed `mentioned`', async () => {
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'rp-edge', owner: 'dan', members: ['eve'] });
    const dan = await c.online('dan', 'd1', 'r1', []);
    const eve = await c.online('eve', 'd1', 'r2', []);
    const m = await eve.client.send('rp-edge', 'ping');
    const like = await dan.client.react('rp-edge', m.seq, '👍');
    const gone = await eve.client.send('rp-edge', 'oops');
    await eve.client.recall('rp-edge', gone.seq);
    expect(await codeOf(dan.client.send('rp-edge', 'x', { reply: 999 }))).toBe(ErrorCode.NOT_FOUND);
    expect(await codeOf(dan.client.send('rp-edge', 'x', { reply: like.seq }))).toBe(ErrorCode.INVALID_FIELD);
    expect(await codeOf(dan.client.send('rp-edge', 'x', { reply: gone.seq }))).toBe(ErrorCode.CONFLICT);
    expect(await codeOf(dan.client.send('rp-edge', 'x', { reply: 0 }))).toBe(ErrorCode.INVALID_FIELD);
    expect((await c.api('POST', '/v1/conversations/rp-edge/messages/1/recall', { reply: m.seq })).status).toBe(400);
    // Nothing refused was stored: the conversation holds the four accepted messages only.
    expect(await c.db.sql`SELECT seq FROM messages WHERE conv_id = 'rp-edge'`).toHaveLength(4);
    // Eve goes offline: a reply to her is pushed as a mention; recalled, it leaves her count.
    eve.client.close();
    await waitUntil(async () => (await c.api('GET', '/v1/users/eve/presence')).body['online'] === false, 'eve offline');
    const r = await dan.client.send('rp-edge', 'pong', { reply: m.seq });
    await waitUntil(() => pushes.some((p) => p.uid === 'eve' && p.seq === r.seq), 'eve pushed');
    expect(pushes.find((p) => p.uid === 'eve' && p.seq === r.seq)).toEqual({ type: 'push', uid: 'eve', conv: 'rp-edge', seq: r.seq, from: 'dan', mentioned: true });
    expect(await apiMentions('eve')).toBe(1);
    await dan.client.recall('rp-edge', r.seq);
    expect(await apiMentions('eve')).toBe(0);
  }, 30_000);
});
