import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../protocol/errors.js';
import { shardOf } from '../../protocol/shard-hash.js';
import { startChatCluster, type ChatCluster } from '../helpers/chat-cluster.js';
import { codeOf, waitUntil } from '../helpers/wait.js';

const SHARDS = 8;
type Row = { from: string; body: string; recall?: number };

/** Moderation: the business server silences plain members of a group for a while; the chatter refuses their posts. */
describe('chat – silencing members', () => {
  let c: ChatCluster;
  beforeAll(async () => {
    c = await startChatCluster({ nodes: ['si1', 'si2'], shards: SHARDS });
  }, 60_000);
  afterAll(async () => {
    await c.stop();
  }, 30_000);

  const stored = async (conv: string): Promise<string[]> =>
    ((await c.api('GET', `/v1/conversations/${conv}/messages`)).body['messages'] as Row[]).map((m) => `${m.from}: ${m.recall ? `recall ${m.recall}` : m.body}`);

  it('silence – a silenced member may only recall until it is lifted (nothing else stored, no typing passed on); they, lists and the server API see it; it holds when the chatter moves', async () => {
    expect((await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'si-room', owner: 'sara', members: ['tom', 'uma'] })).status).toBe(201);
    const sara = await c.online('sara', 's1', 'si1', ['message']);
    const tom = await c.online('tom', 't1', 'si2', ['silenced']);
    const uma = await c.online('uma', 'u1', 'si1', ['typing', 'message']);
    const hello = (await tom.client.send('si-room', 'hello')).seq;
    const rules = (await sara.client.send('si-room', 'be nice')).seq;

    const until = Date.now() + 600_000;
    const r = await c.api('POST', '/v1/conversations/si-room/silence', { uids: ['tom'], until });
    expect([r.status, r.body]).toEqual([200, { conv: 'si-room', uids: ['tom'], until }]);
    await waitUntil(() => tom.got.silenced.length === 1, 'tom told he is silenced');
    expect(tom.got.silenced).toEqual([{ conv: 'si-room', until }]);
    expect(tom.client.conversations()[0]).toMatchObject({ conv: 'si-room', silencedUntil: until });

    for (const refused of [tom.client.send('si-room', 'you cannot stop me'), tom.client.send('si-room', 'no', { reply: rules }), tom.client.react('si-room', rules, '👎'), tom.client.edit('si-room', hello, 'rude words')]) {
      expect(await codeOf(refused)).toBe(ErrorCode.FORBIDDEN);
    }
    // Typing is not passed on while he is silenced; the others' is.
    tom.client.typing('si-room');
    sara.client.typing('si-room');
    await waitUntil(() => uma.got.typing.length === 1, 'uma seeing sara type');
    await sleep(300);
    expect(uma.got.typing.map((t) => t.from)).toEqual(['sara']);
    // He may still take back what he said.
    await tom.client.recall('si-room', hello);
    expect(await stored('si-room')).toEqual(['tom: ', 'sara: be nice', `tom: recall ${hello}`]);

    // The business server and a fresh list see it.
    const room = await c.api('GET', '/v1/conversations/si-room');
    expect((room.body['members'] as { uid: string; silencedUntil: number }[]).map((m) => [m.uid, m.silencedUntil])).toEqual([['sara', 0], ['tom', until], ['uma', 0]]);
    // Members' pages show it to the owner and to tom, not to other members.
    const silenceOf = async (asker: { client: { members(conv: string): Promise<{ members: { uid: string; silencedUntil?: number }[] }> } }): Promise<(number | undefined)[]> =>
      (await asker.client.members('si-room')).members.map((m) => m.silencedUntil);
    expect(await silenceOf(sara)).toEqual([undefined, until, undefined]);
    expect(await silenceOf(tom)).toEqual([undefined, until, undefined]);
    expect(await silenceOf(uma)).toEqual([undefined, undefined, undefined]);
    const list = await c.api('GET', '/v1/users/tom/conversations');
    expect(list.body['conversations']).toMatchObject([{ conv: 'si-room', silencedUntil: until }]);
    // Uma's list has the room, without tom's silence on it.
    const umaList = (await c.api('GET', '/v1/users/uma/conversations')).body['conversations'] as { conv: string }[];
    expect(umaList.map((x) => x.conv)).toEqual(['si-room']);
    for (const row of umaList) expect(row).not.toHaveProperty('silencedUntil');

    // Read from Postgres by the chatter's next owner: still refused there.
    const shard = shardOf('si-room', SHARDS);
    const [row] = await c.db.sql<{ owner: string }[]>`SELECT owner FROM shards WHERE kind = 'chatter' AND shard = ${shard}`;
    expect((await c.imctl('move', 'chatter', String(shard), row!.owner === 'si1' ? 'si2' : 'si1')).code).toBe(0);
    expect(await codeOf(tom.client.send('si-room', 'moved?'))).toBe(ErrorCode.FORBIDDEN);

    // Lifted: he is told, and posts again.
    expect((await c.api('POST', '/v1/conversations/si-room/silence', { uids: ['tom'], until: 0 })).body).toEqual({ conv: 'si-room', uids: ['tom'], until: 0 });
    await waitUntil(() => tom.got.silenced.length === 2, 'tom told the silence is lifted');
    expect(tom.got.silenced[1]).toEqual({ conv: 'si-room', until: 0 });
    expect(tom.client.conversations()[0]).not.toHaveProperty('silencedUntil');
    await tom.client.send('si-room', 'sorry');
    await waitUntil(() => uma.got.message.some((m) => m.body === 'sorry'), 'uma getting tom’s apology');
  }, 60_000);

  it('silence – it ends by itself at its time; making the member an admin lifts it; owners, admins and non-members are refused, all or none, with coded errors', async () => {
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'si-club', owner: 'vic', members: ['wes', 'xia'] });
    const wes = await c.online('wes', 'w1', 'si1', ['silenced']);
    const xia = await c.online('xia', 'x1', 'si2', ['silenced']);

    // A short silence: refused before its time, let through after it with nothing lifted.
    const soon = Date.now() + 1500;
    await c.api('POST', '/v1/conversations/si-club/silence', { uids: ['wes', 'xia', 'xia'], until: soon });
    expect(await codeOf(wes.client.send('si-club', 'early'))).toBe(ErrorCode.FORBIDDEN);
    await sleep(Math.max(0, soon - Date.now() + 100));
    await wes.client.send('si-club', 'on time');
    expect(wes.client.conversations()[0]).not.toHaveProperty('silencedUntil');

    // Made an admin, xia is silenced no more (and told), and stays so when made a member again.
    await c.api('POST', '/v1/conversations/si-club/silence', { uids: ['xia'], until: Date.now() + 600_000 });
    await waitUntil(() => xia.got.silenced.length === 2, 'xia told of the second silence');
    await c.api('POST', '/v1/conversations/si-club/roles', { roles: { xia: 'admin' } });
    await waitUntil(() => xia.got.silenced.length === 3, 'xia told her silence is lifted');
    expect(xia.got.silenced[2]).toEqual({ conv: 'si-club', until: 0 });
    await c.api('POST', '/v1/conversations/si-club/roles', { roles: { xia: 'member' } });
    await xia.client.send('si-club', 'free to talk');

    // All or none: with an owner or a non-member named, wes is not silenced either.
    const later = Date.now() + 600_000;
    for (const [uids, status, code] of [
      [['wes', 'vic'], 403, ErrorCode.FORBIDDEN],
      [['wes', 'zed'], 403, ErrorCode.NOT_MEMBER],
    ] as const) {
      const r = await c.api('POST', '/v1/conversations/si-club/silence', { uids, until: later });
      expect([r.status, r.body['code']]).toEqual([status, code]);
    }
    await c.api('POST', '/v1/conversations/si-club/roles', { roles: { xia: 'admin' } });
    const admin = await c.api('POST', '/v1/conversations/si-club/silence', { uids: ['xia'], until: later });
    expect([admin.status, admin.body['code'], admin.body['message']]).toEqual([403, ErrorCode.FORBIDDEN, expect.stringContaining('xia')]);
    await wes.client.send('si-club', 'still here');

    for (const body of [{ uids: [], until: later }, { uids: ['wes'], until: -1 }, { uids: ['wes'] }, { uids: 'wes', until: later }]) {
      const r = await c.api('POST', '/v1/conversations/si-club/silence', body);
      expect([r.status, r.body['code']]).toEqual([400, ErrorCode.INVALID_FIELD]);
    }
    const direct = (await c.api('POST', '/v1/conversations', { kind: 'direct', members: ['vic', 'wes'] })).body['conv'] as string;
    for (const conv of [encodeURIComponent(direct), 'si-nowhere']) {
      const r = await c.api('POST', `/v1/conversations/${conv}/silence`, { uids: ['wes'], until: later });
      expect([r.status, r.body['code']]).toEqual([404, ErrorCode.NOT_FOUND]);
    }
    expect(await stored('si-club')).toEqual(['wes: on time', 'xia: free to talk', 'wes: still here']);
  }, 60_000);
});
