import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MessageEvent, PushEvent } from '../../protocol/chat-ops.js';
import { ErrorCode } from '../../protocol/errors.js';
import { MAX_REACTION_KINDS } from '../../protocol/limits.js';
import { REACTION_DELIVERIES_PER_SEC } from '../../actors/send-budget.js';
import type { Msg, ServerFrame } from '../../protocol/frames.js';
import { applyReaction, NO_REACTIONS, reactionsOf, type ImClient } from '../../protocol/sdk/index.js';
import { EventSubject } from '../../protocol/subjects.js';
import { startChatCluster, type ChatCluster } from '../helpers/chat-cluster.js';
import { rawConnect } from '../helpers/raw-client.js';
import { codeOf, waitUntil } from '../helpers/wait.js';

/** Reactions: messages of their own, in order with the rest; history gives each message's counts. */
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

  it('react – every member gets each reaction in order; a new one replaces the user\'s last, an empty one takes it back; history and the server API give the counts, and each reaction names the one it replaced', async () => {
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
    // Cat took hers back; bob's second replaced his first: counts in the order first used, each reader's own, and
    // the last reaction counted.
    const counts = [{ emoji: '👨‍👩‍👧‍👦', n: 1 }, { emoji: '🎉', n: 1 }];
    const page = await bob.client.pull('rx-group', 0, 10);
    expect(page.msgs[0]).toMatchObject({ seq: m.seq, body: 'lunch at noon?', reactions: { counts, at: c2.seq, mine: '👨‍👩‍👧‍👦' } });
    expect(page.msgs.slice(1).every((x) => x.reactions === undefined)).toBe(true);
    // Each reaction names the one it replaced.
    expect(page.msgs.slice(1).map((x) => x.was)).toEqual([undefined, undefined, '👍', undefined, '❤️']);
    expect(bob.msgs.slice(1).map((x) => x.was)).toEqual([undefined, undefined, '👍', undefined, '❤️']);
    expect((await cat.client.pullBefore('rx-group', m.seq + 1, 1)).msgs[0]!.reactions).toEqual({ counts, at: c2.seq });
    const api = await c.api('GET', '/v1/conversations/rx-group/messages?limit=1');
    expect((api.body['messages'] as Msg[])[0]!.reactions).toEqual({ counts, at: c2.seq });
    // A member catching up later gets the message with its counts now, and the reactions after it, in order;
    // applying those on top changes nothing (all are counted already).
    const late = await online('cat', 'd2', 'x2', 'all');
    await waitUntil(() => late.msgs.length === expected.length, 'a new device catching up');
    expect(late.msgs.map(shape)).toEqual(expected);
    expect(late.msgs[0]!.reactions).toEqual({ counts, at: c2.seq });
    expect(late.msgs.slice(1).reduce((r, x) => applyReaction(r, x, 'cat'), reactionsOf(late.msgs[0]!))).toEqual({ counts, at: c2.seq });
    // Devices that saw it all live end at the same counts from none.
    expect(laptop.msgs.slice(1).reduce((r, x) => applyReaction(r, x, 'ann'), NO_REACTIONS)).toEqual({ counts, at: c2.seq, mine: '🎉' });
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
      { body: 'first, edited', edited: edit.seq, recalled: undefined, reactions: { counts: [{ emoji: '👍', n: 1 }], at: r.seq } },
      { body: '', edited: undefined, recalled: recall.seq, reactions: undefined },
    ]);
  }, 30_000);

  /** Each message's counts as recomputed from the reaction messages alone (+1 each, -1 for what it replaced), as migration 290 fills them. */
  async function recounted(conv: string): Promise<{ target: number; emoji: string; n: number }[]> {
    return c.db.sql<{ target: number; emoji: string; n: number }[]>`
      SELECT reacts::int AS target, emoji, sum(d)::int AS n FROM (
        SELECT reacts, convert_from(body, 'UTF8') AS emoji, 1 AS d FROM messages WHERE conv_id = ${conv} AND reacts IS NOT NULL AND body <> ''::bytea
        UNION ALL SELECT reacts, react_was, -1 FROM messages WHERE conv_id = ${conv} AND reacts IS NOT NULL AND react_was IS NOT NULL
      ) x GROUP BY 1, 2 HAVING sum(d) <> 0 ORDER BY 1, 2`;
  }

  it('react – reactions sent back to back, before the first is durable, still count right: each names the one it replaced', async () => {
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'rx-burst', owner: 'kim', members: ['lee', 'max'] });
    const kim = await online('kim', 'k1', 'x1');
    const lee = await online('lee', 'l1', 'x2');
    const max = await online('max', 'm1', 'x1');
    const m = await kim.client.send('rx-burst', 'vote');
    const emojis = ['👍', '❤️', '🎉', '', '👍', '😮', '❤️', '', '🎉', '👍'];
    // Not awaited one by one: they go out together and meet in the group commit.
    await Promise.all([lee, max].flatMap((d, i) => emojis.map((e, k) => d.client.react('rx-burst', m.seq, emojis[(k + i) % emojis.length] ?? e))));
    const last = { lee: emojis.at(-1)!, max: emojis[0]! };
    const page = await kim.client.pull('rx-burst', 0, 1);
    const want = last.lee === last.max ? [{ emoji: last.lee, n: 2 }] : [{ emoji: last.lee, n: 1 }, { emoji: last.max, n: 1 }];
    expect([...page.msgs[0]!.reactions!.counts].sort((a, b) => a.emoji.localeCompare(b.emoji))).toEqual(want.sort((a, b) => a.emoji.localeCompare(b.emoji)));
    // What the commit kept is what the reactions say, and what a device applying them live ends at.
    const kept = await c.db.sql`SELECT target::int AS target, emoji, n FROM reaction_counts WHERE conv_id = 'rx-burst' AND n <> 0 ORDER BY 1, 2`;
    expect(kept).toEqual(await recounted('rx-burst'));
    // And each reaction's `was` is its sender's reaction before it (as migration 290 works it out for older ones).
    const wrong = await c.db.sql`
      SELECT seq FROM (
        SELECT seq, react_was, NULLIF(convert_from(lag(body) OVER (PARTITION BY reacts, sender_uid ORDER BY seq), 'UTF8'), '') AS before
        FROM messages WHERE conv_id = 'rx-burst' AND reacts IS NOT NULL
      ) x WHERE react_was IS DISTINCT FROM before`;
    expect(wrong).toEqual([]);
    await waitUntil(() => kim.msgs.length === 1 + 2 * emojis.length, 'kim holding every reaction');
    const live = kim.msgs.slice(1).reduce((r, x) => applyReaction(r, x, 'kim'), NO_REACTIONS);
    expect(live.counts.map((x) => x.n).reduce((a, b) => a + b, 0)).toBe(2);
    expect(live.at).toBe(page.msgs[0]!.reactions!.at);
  }, 30_000);

  it('react – who reacted comes a page at a time by uid, optionally for one reaction; only members may ask', async () => {
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'rx-who', owner: 'ora', members: ['pam', 'quy', 'ron'] });
    const ora = await online('ora', 'd1', 'x1');
    const pam = await online('pam', 'd1', 'x2');
    const quy = await online('quy', 'd1', 'x1');
    const ron = await online('ron', 'd1', 'x2');
    const out = await online('sid', 'd1', 'x2');
    const m = await ora.client.send('rx-who', 'pizza?');
    const p1 = await pam.client.react('rx-who', m.seq, '🍕');
    const q1 = await quy.client.react('rx-who', m.seq, '👎');
    const r1 = await ron.client.react('rx-who', m.seq, '🍕');
    await quy.client.react('rx-who', m.seq, '');
    const q2 = await quy.client.react('rx-who', m.seq, '🍕');
    const first = await ora.client.reactors('rx-who', m.seq, { limit: 2 });
    expect(first).toEqual({ conv: 'rx-who', seq: m.seq, reactors: [{ uid: 'pam', emoji: '🍕', seq: p1.seq }, { uid: 'quy', emoji: '🍕', seq: q2.seq }], more: true });
    expect(await ora.client.reactors('rx-who', m.seq, { limit: 2, after: 'quy' })).toEqual({ conv: 'rx-who', seq: m.seq, reactors: [{ uid: 'ron', emoji: '🍕', seq: r1.seq }], more: false });
    expect((await ora.client.reactors('rx-who', m.seq, { emoji: '👎' })).reactors).toEqual([]);
    expect(q1.seq).toBeLessThan(q2.seq);
    expect(await codeOf(out.client.reactors('rx-who', m.seq))).toBe(ErrorCode.NOT_MEMBER);
    const api = await c.api('GET', `/v1/conversations/rx-who/messages/${m.seq}/reactions?limit=1&after=pam&emoji=${encodeURIComponent('🍕')}`);
    expect(api.body).toEqual({ conv: 'rx-who', seq: m.seq, reactors: [{ uid: 'quy', emoji: '🍕', seq: q2.seq }], more: true });
    expect((await c.api('GET', `/v1/conversations/rx-who/messages/0/reactions`)).status).toBe(400);
    expect((await c.api('GET', `/v1/conversations/rx-who/messages/${m.seq}/reactions?after=${'x'.repeat(200)}`)).status).toBe(400);
    expect((await c.api('GET', `/v1/conversations/rx-who/messages/${m.seq}/reactions?emoji=${'x'.repeat(33)}`)).status).toBe(400);
    // Recalled, the message shows no reactions in history: nor does the list of who reacted.
    await ora.client.recall('rx-who', m.seq);
    expect(await ora.client.reactors('rx-who', m.seq)).toEqual({ conv: 'rx-who', seq: m.seq, reactors: [], more: false });
    expect((await c.api('GET', `/v1/conversations/rx-who/messages/${m.seq}/reactions`)).body).toEqual({ conv: 'rx-who', seq: m.seq, reactors: [], more: false });
  }, 30_000);

  it('react – a message takes at most 50 different reactions (a new one past that is limit_reached; one it has still goes), and history never lists more', async () => {
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'rx-kinds', owner: 'tia', members: ['uma'] });
    const tia = await online('tia', 'd1', 'x1');
    const uma = await online('uma', 'd1', 'x2');
    const m = await tia.client.send('rx-kinds', 'so popular');
    // Fifty kinds, one user each, as if fifty other users had reacted (seeded: the counts are all the check reads).
    const kinds = Array.from({ length: MAX_REACTION_KINDS }, (_, i) => `:k${i}:`);
    await c.db.sql`INSERT INTO reaction_counts (conv_id, target, emoji, n, since, at) SELECT 'rx-kinds', ${m.seq}, e, 1, ${m.seq}, ${m.seq} FROM unnest(${kinds}::text[]) AS e`;
    expect(await codeOf(uma.client.react('rx-kinds', m.seq, '🆕'))).toBe(ErrorCode.LIMIT_REACHED);
    const r = await uma.client.react('rx-kinds', m.seq, ':k7:');
    const page = await tia.client.pull('rx-kinds', 0, 1);
    expect(page.msgs[0]!.reactions).toMatchObject({ at: r.seq });
    expect(page.msgs[0]!.reactions!.counts.find((x) => x.emoji === ':k7:')).toEqual({ emoji: ':k7:', n: 2 });
    // Past the cap (only a race could get there), a page still lists at most 50.
    await c.db.sql`INSERT INTO reaction_counts (conv_id, target, emoji, n, since, at) VALUES ('rx-kinds', ${m.seq}, ':extra:', 1, ${r.seq + 1}, ${r.seq})`;
    expect((await tia.client.pull('rx-kinds', 0, 1)).msgs[0]!.reactions!.counts).toHaveLength(MAX_REACTION_KINDS);
  }, 30_000);

  it('react – an erased account\'s reactions leave the counts with what they wrote', async () => {
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'rx-erase', owner: 'val', members: ['wes'] });
    const val = await online('val', 'd1', 'x1');
    const wes = await online('wes', 'd1', 'x2');
    const m = await val.client.send('rx-erase', 'bye');
    await wes.client.react('rx-erase', m.seq, '👋');
    await wes.client.react('rx-erase', m.seq, '😢');
    await val.client.react('rx-erase', m.seq, '😢');
    await c.api('POST', '/v1/users/wes/erase', { messages: 'blank' });
    expect((await val.client.pull('rx-erase', 0, 1)).msgs[0]!.reactions!.counts).toEqual([{ emoji: '😢', n: 1 }]);
    expect(await c.db.sql`SELECT count(*)::int AS n FROM messages WHERE conv_id = 'rx-erase' AND sender_uid = 'wes' AND (body <> ''::bytea OR react_was IS NOT NULL)`).toEqual([{ n: 0 }]);
  }, 30_000);

  it('react – a reaction (like an edit) does not move a conversation up the list, on the server or in the SDK; a new message does', async () => {
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'rx-order-a', owner: 'xia', members: ['yan'] });
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'rx-order-b', owner: 'xia', members: ['yan'] });
    const xia = await online('xia', 'd1', 'x1');
    const yan = await online('yan', 'd1', 'x2');
    const a = await xia.client.send('rx-order-a', 'older');
    await new Promise((r) => setTimeout(r, 20));
    await xia.client.send('rx-order-b', 'newer');
    await new Promise((r) => setTimeout(r, 20));
    await yan.client.react('rx-order-a', a.seq, '👍');
    await xia.client.edit('rx-order-a', a.seq, 'older, edited');
    await waitUntil(() => yan.msgs.filter((m) => m.conv === 'rx-order-a').length === 3, 'yan holding the edit');
    const order = (list: { conv: string }[]) => list.map((x) => x.conv).filter((x) => x.startsWith('rx-order'));
    expect(order(yan.client.conversations())).toEqual(['rx-order-b', 'rx-order-a']);
    expect(order(await yan.client.sync())).toEqual(['rx-order-b', 'rx-order-a']);
    expect(order((await c.api('GET', '/v1/users/yan/conversations')).body['conversations'] as { conv: string }[])).toEqual(['rx-order-b', 'rx-order-a']);
    await new Promise((r) => setTimeout(r, 20));
    await xia.client.send('rx-order-a', 'newest');
    await waitUntil(() => yan.msgs.filter((m) => m.conv === 'rx-order-a').length === 4, 'yan holding the new message');
    expect(order(yan.client.conversations())).toEqual(['rx-order-a', 'rx-order-b']);
    expect(order(await yan.client.sync())).toEqual(['rx-order-a', 'rx-order-b']);
  }, 30_000);
  it('reactions – in a big group they may reach so many members a second: a storm past it is rate_limited (retryable), the rest and later ones go', async () => {
    const members = Array.from({ length: 4_999 }, (_, i) => `rs${i}`);
    expect((await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'rx-storm', owner: 'sal', members })).status).toBe(201);
    const target = (await c.api('POST', '/v1/conversations/rx-storm/messages', { body: 'react to me' })).body['seq'] as number;
    const raw = await rawConnect(c.gateways.get('x1')!, c.token('sal', 'd1'));
    await raw.waitFor((f) => f.type === 'convs');
    const STORM = 150;
    for (let cid = 1; cid <= STORM; cid++) raw.send({ type: 'send', conv: 'rx-storm', cid, body: cid % 2 ? '👍' : '🎉', react: target });
    // Refusals come at once, stored ones after their commit: wait for every answer.
    const answers = (): ServerFrame[] => raw.frames.filter((f) => (f.type === 'sent' || f.type === 'error') && f.cid !== undefined && f.cid <= STORM);
    await waitUntil(() => answers().length === STORM, 'every reaction of the storm answered', 20_000);
    const sent = answers().filter((f) => f.type === 'sent').length;
    const refused = answers().filter((f) => f.type === 'error');
    // A second's budget (40 reactions in a group of 5,000) goes at once; the storm's rest waits.
    expect(sent).toBeGreaterThanOrEqual(REACTION_DELIVERIES_PER_SEC / 5_000);
    expect(refused.length).toBeGreaterThan(0);
    for (const f of refused) expect(f).toMatchObject({ code: ErrorCode.RATE_LIMITED, message: expect.stringMatching(/^reactions in rx-storm may reach/) });
    // A second later a reaction goes again.
    await new Promise((r) => setTimeout(r, 1_100));
    raw.send({ type: 'send', conv: 'rx-storm', cid: STORM + 1, body: '❤️', react: target });
    expect(await raw.waitFor((f) => (f.type === 'sent' || f.type === 'error') && f.cid === STORM + 1)).toMatchObject({ type: 'sent' });
    raw.close();
  }, 60_000);
});

