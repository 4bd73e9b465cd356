import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../protocol/errors.js';
import type { ServerFrameOf } from '../../protocol/frames.js';
import { shardOf } from '../../protocol/shard-hash.js';
import { startChatCluster, type ChatCluster } from '../helpers/chat-cluster.js';
import { rawConnect } from '../helpers/raw-client.js';
import { codeOf, waitUntil } from '../helpers/wait.js';

type History = ServerFrameOf<'history'>;
const RETENTION_SEC = 3;

/** Messages past the cluster's retention (`imctl settings set message-retention`): served to nobody, then deleted. */
describe('chat – message retention', () => {
  let c: ChatCluster;
  beforeAll(async () => {
    c = await startChatCluster({ nodes: ['rt1', 'rt2'] });
  }, 60_000);
  afterAll(async () => {
    await c?.stop();
  }, 30_000);

  it('retention – once set, older messages are served to nobody and their rows go, but each conversation keeps its seqs: lists, unread counts and new messages carry on', async () => {
    const direct = (await c.api('POST', '/v1/conversations', { kind: 'direct', members: ['ann', 'ben'] })).body['conv'] as string;
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'rt-quiet', owner: 'ann', members: ['ben'] });
    const ben = await c.online('ben', 'b1', 'rt2', []);
    const old: number[] = [];
    for (const body of ['old one', 'old two', 'old three']) old.push((await ben.client.send(direct, body, { mentions: ['ann'] })).seq);
    const quiet: number[] = [];
    for (const body of ['quiet one', 'quiet two']) quiet.push((await c.api('POST', '/v1/conversations/rt-quiet/messages', { body })).body['seq'] as number);
    // Kept for good so far (the default): nothing goes while the setting is 0.
    await new Promise((r) => setTimeout(r, (RETENTION_SEC + 1) * 1000));
    const fresh = (await ben.client.send(direct, 'fresh')).seq;
    const set = await c.imctl('settings', 'set', 'message-retention', String(RETENTION_SEC));
    expect(set.code).toBe(0);

    // Every node is told and sweeps at once; one of them does the work.
    const rows = async (conv: string) => (await c.db.sql<{ seq: number; body: Buffer }[]>`SELECT seq, body FROM messages WHERE conv_id = ${conv} ORDER BY seq`).map((r) => [r.seq, r.body.toString()]);
    await waitUntil(async () => (await rows(direct)).length === 1, 'the old rows of the direct conversation deleted', 15_000);
    expect(await rows(direct)).toEqual([[fresh, 'fresh']]);
    // A conversation whose messages all expired keeps its last row, emptied: its seqs stand on it.
    await waitUntil(async () => (await rows('rt-quiet')).length === 1, 'the quiet group swept', 15_000);
    expect(await rows('rt-quiet')).toEqual([[quiet[1], '']]);
    expect((await c.db.sql`SELECT 1 FROM mentions WHERE conv_id = ${direct}`).length).toBe(0);

    // Nobody is served what expired: pulls either way, the server API, a new device.
    const raw = await rawConnect(c.gateways.get('rt1')!, c.token('ann', 'a-raw'));
    await raw.waitFor((f) => f.type === 'convs');
    raw.send({ type: 'pull', rid: 1, conv: direct, after: 0, limit: 50 });
    expect((await raw.waitFor<History>((f) => f.type === 'history' && f.rid === 1)).msgs.map((m) => m.body)).toEqual(['fresh']);
    raw.send({ type: 'pull', rid: 2, conv: direct, before: fresh + 1, limit: 50 });
    expect(await raw.waitFor<History>((f) => f.type === 'history' && f.rid === 2)).toMatchObject({ msgs: [{ seq: fresh, prev: old[2] }], more: false });
    raw.send({ type: 'pull', rid: 3, conv: 'rt-quiet', after: 0, limit: 50 });
    expect((await raw.waitFor<History>((f) => f.type === 'history' && f.rid === 3)).msgs).toEqual([]);
    const api = await c.api('GET', `/v1/conversations/${encodeURIComponent(direct)}/messages`);
    expect((api.body['messages'] as { body: string }[]).map((m) => m.body)).toEqual(['fresh']);

    // Lists keep each conversation's last seq; unread counts only what is still served (ann read nothing).
    // They carry what is no longer served as clearedSeq, as if the user had cleared it.
    const list = (await c.api('GET', '/v1/users/ann/conversations')).body as { unread: number; mentions: number; conversations: { conv: string; lastSeq: number; unread: number }[] };
    expect(list.conversations.find((x) => x.conv === direct)).toMatchObject({ lastSeq: fresh, unread: 1, clearedSeq: old[2] });
    expect(list.conversations.find((x) => x.conv === 'rt-quiet')).toMatchObject({ lastSeq: quiet[1], unread: 0, clearedSeq: quiet[1] });
    expect([list.unread, list.mentions]).toEqual([1, 0]);

    // What expired cannot be reacted to or answered; new messages chain on, and a new device gets only those.
    const ann = await c.online('ann', 'a1', 'rt1', ['message', 'cleared'], { history: 'all' });
    expect(ann.got.cleared).toEqual([
      { conv: direct, seq: old[2] },
      { conv: 'rt-quiet', seq: quiet[1] },
    ]);
    expect(await codeOf(ann.client.react(direct, old[0]!, '👍'))).toBe(ErrorCode.NOT_FOUND);
    expect(await codeOf(ann.client.send(direct, 'about that', { reply: old[2]! }))).toBe(ErrorCode.NOT_FOUND);
    await waitUntil(() => ann.got.message.length === 1, 'the new device getting the served message');
    const next = (await c.api('POST', '/v1/conversations/rt-quiet/messages', { body: 'back again' })).body['seq'] as number;
    await waitUntil(() => ann.got.message.length === 2, 'the new device getting the next message');
    expect(ann.got.message.map((m) => [m.conv, m.body, m.prev])).toEqual([
      [direct, 'fresh', old[2]],
      ['rt-quiet', 'back again', quiet[1]],
    ]);
    expect(next).toBeGreaterThan(quiet[1]!);
    raw.close();
    // Back to keeping messages for good, for the tests below.
    expect((await c.imctl('settings', 'set', 'message-retention', '0')).code).toBe(0);
  }, 60_000);

  it('retention – a conversation of its own (disappearing messages): the business server sets it, members are told, only its old messages go (devices online are told at once), newcomers learn it when they join', async () => {
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'rt-vanish', owner: 'gil', members: ['hua'] });
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'rt-keep', owner: 'gil', members: ['hua'] });
    const gil = await c.online('gil', 'g1', 'rt1', []);
    const hua = await c.online('hua', 'h1', 'rt2', ['retention', 'cleared']);
    const gone = (await gil.client.send('rt-vanish', 'this will vanish')).seq;
    await gil.client.send('rt-keep', 'this stays');
    await new Promise((r) => setTimeout(r, 2_500));
    const stays = (await gil.client.send('rt-vanish', 'not yet')).seq;

    const set = await c.api('POST', '/v1/conversations/rt-vanish', { retention: 2 });
    expect([set.status, set.body]).toEqual([200, { conv: 'rt-vanish', retention: 2 }]);
    await waitUntil(() => hua.got.retention.length === 1, 'hua told of the retention');
    expect(hua.got.retention).toEqual([{ conv: 'rt-vanish', retention: 2 }]);
    expect(hua.client.conversations().find((x) => x.conv === 'rt-vanish')).toMatchObject({ retention: 2 });
    expect((await c.api('GET', '/v1/conversations/rt-vanish')).body).toMatchObject({ retention: 2 });

    // The node that took the change sweeps at once: the old message goes, the new one and the other group's stay.
    const bodies = async (conv: string) => (await c.db.sql<{ body: Buffer }[]>`SELECT body FROM messages WHERE conv_id = ${conv} ORDER BY seq`).map((r) => r.body.toString());
    await waitUntil(async () => (await bodies('rt-vanish')).length === 1, 'the old message of rt-vanish deleted', 15_000);
    expect(await bodies('rt-vanish')).toEqual(['not yet']);
    expect(await bodies('rt-keep')).toEqual(['this stays']);
    expect((await hua.client.pull('rt-vanish', 0)).msgs.map((m) => m.seq)).toEqual([stays]);
    // Devices online are told at once (a `cleared` frame) to drop what went; the next list says the same: no news.
    await waitUntil(() => hua.got.cleared.length === 1, 'hua told of the expiry');
    expect(hua.got.cleared).toEqual([{ conv: 'rt-vanish', seq: gone }]);
    await hua.client.sync();
    expect(hua.got.cleared).toEqual([{ conv: 'rt-vanish', seq: gone }]);

    // A newcomer learns the rule from `joined`; it can be taken back (0) and refuses what is not whole seconds.
    const ivy = await c.online('ivy', 'i1', 'rt1', ['joined']);
    await c.api('POST', '/v1/conversations/rt-vanish/members', { add: ['ivy'] });
    await waitUntil(() => ivy.got.joined.length === 1, 'ivy told of the group');
    expect(ivy.client.conversations().find((x) => x.conv === 'rt-vanish')).toMatchObject({ retention: 2 });
    expect((await c.api('POST', '/v1/conversations/rt-vanish', { retention: 0 })).body).toEqual({ conv: 'rt-vanish', retention: 0 });
    await waitUntil(() => ivy.client.conversations().find((x) => x.conv === 'rt-vanish')?.retention === undefined, 'ivy told it is taken back');
    for (const retention of [-1, 1.5, 'day', 10 ** 10]) {
      const bad = await c.api('POST', '/v1/conversations/rt-vanish', { retention });
      expect([bad.status, bad.body['code']]).toEqual([400, ErrorCode.INVALID_FIELD]);
    }
    expect((await c.api('POST', '/v1/conversations/rt-nowhere', { retention: 60 })).status).toBe(404);
  }, 60_000);

  it('retention – a re-send whose message expired since (its answer lost) is answered expired, not refused, and stores nothing again; a cid never stored is still refused', async () => {
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'rt-lost', owner: 'kim', members: ['lee'] });
    const raw = await rawConnect(c.gateways.get('rt1')!, c.token('kim', 'k-raw'));
    await raw.waitFor((f) => f.type === 'convs');
    /** The answer (`sent` or `error`) to this send, not to an earlier one with its cid. */
    const answer = async (send: { cid: number; body: string; after?: number }) => {
      const from = raw.frames.length;
      raw.send({ type: 'send', conv: 'rt-lost', ...send });
      const f = await raw.waitFor((x) => raw.frames.indexOf(x) >= from && (x.type === 'sent' || x.type === 'error') && x.cid === send.cid);
      return f.type === 'sent' ? { sent: f.seq } : { error: f.type === 'error' ? f.code : undefined };
    };
    const one = await answer({ cid: 1, body: 'one' });
    await answer({ cid: 2, body: 'two', after: 1 });
    await new Promise((r) => setTimeout(r, 2_500));
    const five = await answer({ cid: 5, body: 'five', after: 2 });
    expect((await c.api('POST', '/v1/conversations/rt-lost', { retention: 2 })).status).toBe(200);
    const bodies = async () => (await c.db.sql<{ body: Buffer }[]>`SELECT body FROM messages WHERE conv_id = 'rt-lost' ORDER BY seq`).map((r) => r.body.toString());
    await waitUntil(async () => (await bodies()).length === 1, 'the expired messages of rt-lost deleted', 15_000);

    // The conversation's chatter still remembers those sends, and answers a re-send with its seq. The phone comes
    // back later than that: here, once the conversation has moved to the other node, whose chatter reads Postgres.
    expect(await answer({ cid: 1, body: 'one' })).toEqual(one);
    const shard = shardOf('rt-lost', 32);
    const [row] = await c.db.sql<{ owner: string }[]>`SELECT owner FROM shards WHERE kind = 'chatter' AND shard = ${shard}`;
    expect((await c.imctl('move', 'chatter', String(shard), row!.owner === 'rt1' ? 'rt2' : 'rt1')).code).toBe(0);
    // It never got its answers to 1 and 2: it sends them again, and learns they went (and expired since).
    expect(await answer({ cid: 1, body: 'one' })).toEqual({ error: ErrorCode.EXPIRED });
    expect(await answer({ cid: 2, body: 'two', after: 1 })).toEqual({ error: ErrorCode.EXPIRED });
    // The last one stays (emptied, if it expired too) and is answered with its seq; a cid below it never stored is a rewound counter.
    expect(await answer({ cid: 5, body: 'five', after: 2 })).toEqual(five);
    expect(await answer({ cid: 4, body: 'four', after: 2 })).toEqual({ error: ErrorCode.INVALID_FIELD });
    const six = await answer({ cid: 6, body: 'six', after: 5 });
    expect(six.sent).toBeGreaterThan(five.sent!);
    expect((await bodies()).slice(1)).toEqual(['six']);
    expect(one.sent).toBeLessThan(five.sent!);
    raw.close();
  }, 60_000);

  it('retention – a re-send from a member removed since, whose message expired meanwhile, is answered expired, not not_member', async () => {
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'rt-out', owner: 'moe', members: ['ned'] });
    const raw = await rawConnect(c.gateways.get('rt1')!, c.token('ned', 'n-raw'));
    await raw.waitFor((f) => f.type === 'convs');
    const answer = async (cid: number) => {
      const from = raw.frames.length;
      raw.send({ type: 'send', conv: 'rt-out', cid, body: 'bye' });
      const f = await raw.waitFor((x) => raw.frames.indexOf(x) >= from && (x.type === 'sent' || x.type === 'error') && x.cid === cid);
      return f.type === 'sent' ? 'sent' : f.type === 'error' ? f.code : undefined;
    };
    expect(await answer(1)).toBe('sent');
    expect((await c.api('POST', '/v1/conversations/rt-out/messages', { body: 'ned was here' })).status).toBe(201);
    expect((await c.api('POST', '/v1/conversations/rt-out/members', { remove: ['ned'] })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 2_500));
    expect((await c.api('POST', '/v1/conversations/rt-out', { retention: 2 })).status).toBe(200);
    const senders = async () => (await c.db.sql<{ sender_uid: string }[]>`SELECT sender_uid FROM messages WHERE conv_id = 'rt-out' ORDER BY seq`).map((r) => r.sender_uid);
    await waitUntil(async () => !(await senders()).includes('ned'), 'ned\'s message expired', 15_000);
    // Its chatter forgets the send when the conversation moves: the re-send is then read from Postgres.
    const shard = shardOf('rt-out', 32);
    const [row] = await c.db.sql<{ owner: string }[]>`SELECT owner FROM shards WHERE kind = 'chatter' AND shard = ${shard}`;
    expect((await c.imctl('move', 'chatter', String(shard), row!.owner === 'rt1' ? 'rt2' : 'rt1')).code).toBe(0);
    expect(await answer(1)).toBe(ErrorCode.EXPIRED);
    // A send never stored is still refused: ned is out.
    expect(await answer(2)).toBe(ErrorCode.NOT_MEMBER);
    raw.close();
  }, 60_000);

  it('retention – imctl takes seconds ≥ 0 only: other values are refused (exit 2) and leave the setting as it was', async () => {
    const stored = async () => (await c.db.sql<{ value: string }[]>`SELECT value #>> '{}' AS value FROM cluster_settings WHERE key = 'flag.message-retention'`)[0]?.value;
    expect((await c.imctl('settings', 'set', 'message-retention', '120')).code).toBe(0);
    expect(await stored()).toBe('120');
    for (const bad of ['a week', '1.5']) {
      const r = await c.imctl('settings', 'set', 'message-retention', bad);
      expect([r.code, r.stderr]).toEqual([2, expect.stringContaining('must be an integer ≥ 0')]);
    }
    // A negative number reads as an option, and is refused as one.
    expect(await c.imctl('settings', 'set', 'message-retention', '-1')).toMatchObject({ code: 2, stderr: expect.stringContaining("Unknown option '-1'") });
    expect(await stored()).toBe('120');
    expect((await c.imctl('settings', 'set', 'message-retention', '0')).code).toBe(0);
    expect(await stored()).toBe('0');
  }, 30_000);
});
