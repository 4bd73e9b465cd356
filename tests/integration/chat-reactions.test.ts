import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MessageEvent, PushEvent } from '../../protocol/chat-ops.js';
import { ErrorCode } from '../../protocol/errors.js';
import type { Msg } from '../../protocol/frames.js';
import type { ImClient } from '../../protocol/sdk/index.js';
import { EventSubject } from '../../protocol/subjects.js';
import { startChatCluster, type ChatCluster } from '../helpers/chat-cluster.js';
import { codeOf, waitUntil } from '../helpers/wait.js';

/** Reactions: messages of their own, in order with the rest; history lists each message's current ones. */
describe('chat – reactions', () => {
  let c: ChatCluster;
  let messages: MessageEvent[];
  let pushes: PushEvent[];
  beforeAll(async () => {
    c = await startChatCluster({ nodes: ['x1', 'x2'] });
    messages = await c.collect<MessageEvent>(EventSubject.MESSAGE);
    pushes = await c.collect<PushEvent>(EventSubject.PUSH);
  }, 60_000);
  afterAll(async () => {
    await c?.stop();
  }, 30_000);

  /** An SDK client of (uid, did) on gateway `node`, connected, recording the messages it is given. */
  async function online(uid: string, did: string, node: string, history: 'all' | 'latest' = 'latest') {
    const { client, got } = await c.online(uid, did, node, ['message'], { history });
    return { client, msgs: got.message };
  }

  it('react – every member gets each reaction in order; a new one replaces the user\'s last, an empty one takes it back; history and the server API list the current ones', async () => {
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'rx-group', owner: 'ann', members: ['bob', 'cat', 'zed'] });
    const ann = await online('ann', 'phone', 'x1');
    const laptop = await online('ann', 'laptop', 'x2');
    const bob = await online('bob', 'd1', 'x2');
    const cat = await online('cat', 'd1', 'x1');
    const m = await ann.client.send('rx-group', 'lunch at noon?');
    await waitUntil(() => bob.msgs.length === 1 && cat.msgs.length === 1, 'the message reaching bob and cat');
    const b1 = await bob.client.react('rx-group', m.seq, '👍');
    const c1 = await cat.client.react('rx-group', m.seq, '❤️');
    const b2 = await bob.client.react('rx-group', m.seq, '👨‍👩‍👧‍👦');
    const own = await ann.client.react('rx-group', m.seq, '🎉');
    const c2 = await cat.client.react('rx-group', m.seq, '');
    const seqs = [m.seq, b1.seq, c1.seq, b2.seq, own.seq, c2.seq];
    expect([...seqs].sort((x, y) => x - y)).toEqual(seqs);
    const expected = [
      { seq: m.seq, from: 'ann', body: 'lunch at noon?', react: undefined },
      { seq: b1.seq, from: 'bob', body: '👍', react: m.seq },
      { seq: c1.seq, from: 'cat', body: '❤️', react: m.seq },
      { seq: b2.seq, from: 'bob', body: '👨‍👩‍👧‍👦', react: m.seq },
      { seq: own.seq, from: 'ann', body: '🎉', react: m.seq },
      { seq: c2.seq, from: 'cat', body: '', react: m.seq },
    ];
    const shape = (x: Msg) => ({ seq: x.seq, from: x.from, body: x.body, react: x.react });
    for (const d of [ann, laptop, bob, cat]) {
      await waitUntil(() => d.msgs.length === expected.length, 'every device holding every reaction');
      expect(d.msgs.map(shape)).toEqual(expected);
    }
    // Cat took hers back; bob's second replaced his first: in the order the current ones were made.
    const current = [{ uid: 'bob', emoji: '👨‍👩‍👧‍👦', seq: b2.seq }, { uid: 'ann', emoji: '🎉', seq: own.seq }];
    const page = await bob.client.pull('rx-group', 0, 10);
    expect(page.msgs[0]).toMatchObject({ seq: m.seq, body: 'lunch at noon?', reactions: current });
    expect(page.msgs.slice(1).every((x) => x.reactions === undefined)).toBe(true);
    expect((await bob.client.pullBefore('rx-group', m.seq + 1, 1)).msgs[0]!.reactions).toEqual(current);
    const api = await c.api('GET', '/v1/conversations/rx-group/messages?limit=1');
    expect((api.body['messages'] as Msg[])[0]!.reactions).toEqual(current);
    // A member catching up later gets the message with what it has now, and the reactions after it, in order.
    const late = await online('cat', 'd2', 'x2', 'all');
    await waitUntil(() => late.msgs.length === expected.length, 'a new device catching up');
    expect(late.msgs.map(shape)).toEqual(expected);
    expect(late.msgs[0]!.reactions).toEqual(current);
    // The business event carries `react`; zed, offline, was pushed the message and none of the reactions.
    const barrier = await ann.client.send('rx-group', 'see you there');
    await waitUntil(() => pushes.some((e) => e.uid === 'zed' && e.seq === barrier.seq), 'zed pushed the second message');
    expect(pushes.filter((e) => e.uid === 'zed' && e.conv === 'rx-group').map((e) => e.seq)).toEqual([m.seq, barrier.seq]);
    expect(messages.find((e) => e.conv === 'rx-group' && e.seq === b2.seq)).toMatchObject({ from: 'bob', body: '👨‍👩‍👧‍👦', react: m.seq });
  }, 60_000);

  it('react – a reaction to the message of a member with no device online is pushed to them alone, with its emoji; taking it back is not, nor one to a system message', async () => {
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'rx-push', owner: 'pat', members: ['quinn', 'rae'] });
    const pat = await online('pat', 'd1', 'x1');
    const quinn = await online('quinn', 'd1', 'x2');
    const m = await pat.client.send('rx-push', 'who is in?');
    pat.client.close();
    const sys = await c.api('POST', '/v1/conversations/rx-push/messages', { body: 'room booked' });
    const r = await quinn.client.react('rx-push', m.seq, '🙋');
    await quinn.client.react('rx-push', m.seq, '');
    await quinn.client.react('rx-push', sys.body['seq'] as number, '👍');
    const barrier = await quinn.client.send('rx-push', 'me too');
    // Each member's push events come from their own connector (maybe on another node): wait for both.
    await waitUntil(() => ['pat', 'rae'].every((u) => pushes.some((p) => p.uid === u && p.conv === 'rx-push' && p.seq === barrier.seq)), 'pat and rae pushed the last message');
    expect(pushes.filter((p) => p.uid === 'pat' && p.conv === 'rx-push')).toEqual([
      { type: 'push', uid: 'pat', conv: 'rx-push', seq: sys.body['seq'], from: 'system' },
      { type: 'push', uid: 'pat', conv: 'rx-push', seq: r.seq, from: 'quinn', reaction: { seq: m.seq, emoji: '🙋' } },
      { type: 'push', uid: 'pat', conv: 'rx-push', seq: barrier.seq, from: 'quinn' },
    ]);
    // Rae, offline too, is pushed the messages but none of the reactions (none is to a message of hers).
    expect(pushes.filter((p) => p.uid === 'rae' && p.conv === 'rx-push').map((p) => p.seq)).toEqual([m.seq, sys.body['seq'], barrier.seq]);
  }, 30_000);

  it('react – reactions are nothing new to read: the SDK, `convs` and the server API leave them out of unread', async () => {
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'rx-unread', owner: 'dan', members: ['eve', 'fay'] });
    const dan = await online('dan', 'd1', 'x1');
    const eve = await online('eve', 'd1', 'x2');
    const fay = await online('fay', 'd1', 'x1');
    const unreadOf = (client: ImClient) => client.conversations().find((x) => x.conv === 'rx-unread')?.unread;
    const m1 = await dan.client.send('rx-unread', 'one');
    await dan.client.send('rx-unread', 'two');
    await waitUntil(() => fay.msgs.length === 2, 'fay holding both');
    const r = await fay.client.react('rx-unread', m1.seq, '👀');
    await dan.client.react('rx-unread', m1.seq, '✅');
    await waitUntil(() => eve.msgs.length === 4, 'eve holding both reactions');
    expect(unreadOf(eve.client)).toBe(2);
    expect((await eve.client.sync()).find((x) => x.conv === 'rx-unread')).toMatchObject({ unread: 2 });
    expect((await c.api('GET', '/v1/users/eve/conversations')).body).toMatchObject({ uid: 'eve', unread: 2 });
    expect(r.seq).toBeGreaterThan(m1.seq);
  }, 30_000);

  it('react – refused with a coded error: no such seq, a recalled message, a reaction or an edit itself, too long, not a member; nothing refused is stored', async () => {
    const direct = (await c.api('POST', '/v1/conversations', { kind: 'direct', members: ['gus', 'hal'] })).body['conv'] as string;
    const gus = await online('gus', 'd1', 'x1');
    const hal = await online('hal', 'd1', 'x2');
    const out = await online('ivy', 'd1', 'x2');
    const m = await gus.client.send(direct, 'first');
    const gone = await gus.client.send(direct, 'sent by mistake');
    const r = await hal.client.react(direct, m.seq, '👍');
    await hal.client.react(direct, gone.seq, '😮');
    const recall = await gus.client.recall(direct, gone.seq);
    const edit = await gus.client.edit(direct, m.seq, 'first, edited');
    expect(await codeOf(hal.client.react(direct, gone.seq, '😢'))).toBe(ErrorCode.CONFLICT);
    expect(await codeOf(hal.client.react(direct, r.seq, '👍'))).toBe(ErrorCode.INVALID_FIELD);
    expect(await codeOf(hal.client.react(direct, recall.seq, '👍'))).toBe(ErrorCode.INVALID_FIELD);
    expect(await codeOf(hal.client.react(direct, edit.seq, '👍'))).toBe(ErrorCode.INVALID_FIELD);
    expect(await codeOf(hal.client.react(direct, edit.seq + 1000, '👍'))).toBe(ErrorCode.NOT_FOUND);
    expect(await codeOf(hal.client.react(direct, m.seq, 'x'.repeat(33)))).toBe(ErrorCode.FRAME_TOO_LARGE);
    expect(await codeOf(out.client.react(direct, m.seq, '👍'))).toBe(ErrorCode.NOT_MEMBER);
    // Refusals left it as it was: 6 messages stored, the edited one keeps hal's reaction, the recalled one lists none.
    const stored = await c.db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM messages WHERE conv_id = ${direct}`;
    expect(stored[0]!.n).toBe(6);
    const page = await gus.client.pull(direct, 0, 10);
    expect(page.msgs.slice(0, 2).map((x) => ({ body: x.body, edited: x.edited, recalled: x.recalled, reactions: x.reactions }))).toEqual([
      { body: 'first, edited', edited: edit.seq, recalled: undefined, reactions: [{ uid: 'hal', emoji: '👍', seq: r.seq }] },
      { body: '', edited: undefined, recalled: recall.seq, reactions: undefined },
    ]);
  }, 30_000);
});
