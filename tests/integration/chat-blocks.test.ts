import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../protocol/errors.js';
import { ImClient, type ImClientEvents } from '../../protocol/sdk/index.js';
import { startChatCluster, type ChatCluster } from '../helpers/chat-cluster.js';
import { codeOf, waitUntil } from '../helpers/wait.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Blocking and read-mark privacy: between two users either of whom blocks the other, their direct conversation goes quiet. */
describe('chat – blocks', () => {
  let c: ChatCluster;
  const clients: ImClient[] = [];
  beforeAll(async () => {
    c = await startChatCluster({ nodes: ['b1', 'b2'] });
  }, 60_000);
  afterAll(async () => {
    for (const x of clients) x.close();
    await c?.stop();
  }, 30_000);

  /** An SDK client of (uid, did) on gateway `node`, connected, recording what it is told. */
  async function online(uid: string, did: string, node: string) {
    const client = new ImClient({ endpoints: [c.gateways.get(node)!], token: c.token(uid, did), WebSocket: WebSocket as never });
    clients.push(client);
    const got = { bodies: [] as string[], typing: [] as ImClientEvents['typing'][], presence: [] as ImClientEvents['presence'][], receipts: [] as ImClientEvents['receipt'][] };
    client.on('message', (m) => got.bodies.push(m.body));
    client.on('typing', (t) => got.typing.push(t));
    client.on('presence', (p) => got.presence.push(p));
    client.on('receipt', (r) => got.receipts.push(r));
    await client.connect();
    return { client, ...got };
  }

  it('blocks – a block stops sends both ways, typing, presence and receipts in the direct conversation; groups go on; unblocking restores it all', async () => {
    const direct = (await c.api('POST', '/v1/conversations', { kind: 'direct', members: ['bo', 'bea'] })).body['conv'] as string;
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'bl-group', owner: 'bo', members: ['bea'] });
    const bo = await online('bo', 'd1', 'b1');
    const bea = await online('bea', 'd1', 'b2');
    const before = await bo.client.send(direct, 'before the block');
    await waitUntil(() => bea.bodies.includes('before the block'), 'bea getting the first message');
    // Before the block, bea coming online learnt that bo was.
    await waitUntil(() => bea.presence.length === 1, 'bea learning bo is online');
    expect(bea.presence).toEqual([{ uid: 'bo', online: true }]);
    bea.presence.length = 0;

    const blocked = await c.api('POST', '/v1/users/bea/blocks', { add: ['bo'] });
    expect(blocked).toMatchObject({ status: 200, body: { uid: 'bea', blocked: ['bo'] } });
    expect((await c.api('GET', '/v1/users/bea/blocks', undefined, 'b2')).body).toEqual({ uid: 'bea', blocked: ['bo'] });
    // In force once the API answered: the blocked user cannot send, nor can the one who blocks.
    expect(await codeOf(bo.client.send(direct, 'after the block'))).toBe(ErrorCode.FORBIDDEN);
    expect(await codeOf(bea.client.send(direct, 'nor this'))).toBe(ErrorCode.FORBIDDEN);
    bo.client.typing(direct);
    bea.client.read(direct, before.seq);
    await waitUntil(async () => {
      const members = (await c.api('GET', `/v1/conversations/${encodeURIComponent(direct)}`)).body['members'] as { uid: string; readSeq: number }[];
      return members.some((m) => m.uid === 'bea' && m.readSeq === before.seq);
    }, 'bea\'s read mark stored');
    // A second device of bo comes and goes: bea hears no presence of it, and bo's list shows no read mark of bea's.
    const phone = await online('bo', 'phone', 'b2');
    expect(phone.client.conversations().find((x) => x.conv === direct)?.peerRead).toBe(0);
    bo.client.close();
    phone.client.close();
    // The group is not covered by the block: its message arrives after anything the direct conversation would have passed on.
    const carol = await online('carol', 'd1', 'b1');
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'bl-group', owner: 'bo', members: ['carol'] });
    const bo2 = await online('bo', 'd2', 'b1');
    await bo2.client.send('bl-group', 'groups go on');
    await waitUntil(() => bea.bodies.includes('groups go on') && carol.bodies.includes('groups go on'), 'the group message');
    await sleep(300);
    expect(bea.bodies).toEqual(['before the block', 'groups go on']);
    expect(bea.typing).toEqual([]);
    // Offline once, at the block (without a last seen): nothing of bo's devices after.
    expect(bea.presence.filter((p) => p.uid === 'bo')).toEqual([{ uid: 'bo', online: false }]);
    expect(bo.receipts).toEqual([]);
    const stored = await c.db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM messages WHERE conv_id = ${direct}`;
    expect(stored[0]!.n).toBe(1);

    expect((await c.api('POST', '/v1/users/bea/blocks', { remove: ['bo'] })).body).toEqual({ uid: 'bea', blocked: [] });
    await waitUntil(() => bea.presence.at(-1)?.online === true, 'bea seeing bo online again');
    await bo2.client.send(direct, 'after the unblock');
    await waitUntil(() => bea.bodies.includes('after the unblock'), 'bea getting the message after the unblock');
    bo2.client.typing(direct);
    await waitUntil(() => bea.typing.length === 1, 'bea seeing bo type again');
    bo2.client.close();
    await waitUntil(() => bea.presence.at(-1)?.online === false, 'bea seeing bo go offline');
    expect(bea.presence.at(-1)).toEqual({ uid: 'bo', online: false, lastSeen: expect.any(Number) });
  }, 60_000);

  it('read receipts off – the user\'s reads are seen by nobody and the user sees nobody\'s, in receipts and in lists; on again, both return', async () => {
    const direct = (await c.api('POST', '/v1/conversations', { kind: 'direct', members: ['ria', 'rob'] })).body['conv'] as string;
    expect((await c.api('POST', '/v1/users/ria/settings', { readReceipts: false })).body).toEqual({ uid: 'ria', readReceipts: false, lastSeen: true });
    expect((await c.api('GET', '/v1/users/ria/settings', undefined, 'b2')).body).toEqual({ uid: 'ria', readReceipts: false, lastSeen: true });
    const ria = await online('ria', 'd1', 'b1');
    const rob = await online('rob', 'd1', 'b2');
    const fromRob = await rob.client.send(direct, 'did you read this?');
    const fromRia = await ria.client.send(direct, 'and this one?');
    await waitUntil(() => ria.bodies.length === 2 && rob.bodies.length === 2, 'both messages on both sides');
    ria.client.read(direct, fromRia.seq);
    rob.client.read(direct, fromRia.seq);
    const readBy = async (uid: string, seq: number) => {
      const members = (await c.api('GET', `/v1/conversations/${encodeURIComponent(direct)}`)).body['members'] as { uid: string; readSeq: number }[];
      return members.some((m) => m.uid === uid && m.readSeq === seq);
    };
    await waitUntil(async () => (await readBy('ria', fromRia.seq)) && (await readBy('rob', fromRia.seq)), 'both read marks stored');
    // A message after the reads: it reaches each side after any receipt the reads could have sent.
    await rob.client.send(direct, 'anyway');
    await waitUntil(() => ria.bodies.includes('anyway'), 'ria getting the last message');
    await sleep(300);
    expect(rob.receipts).toEqual([]);
    expect(ria.receipts).toEqual([]);
    const lists = async (uid: string) => ((await c.api('GET', `/v1/users/${uid}/conversations`)).body['conversations'] as { conv: string; peerRead?: number }[]).find((x) => x.conv === direct);
    expect((await lists('rob'))!.peerRead).toBeUndefined();
    expect((await lists('ria'))!.peerRead).toBeUndefined();
    expect(fromRob.seq).toBeLessThan(fromRia.seq);

    expect((await c.api('POST', '/v1/users/ria/settings', { readReceipts: true })).body).toEqual({ uid: 'ria', readReceipts: true, lastSeen: true });
    expect((await lists('rob'))?.peerRead).toBe(fromRia.seq);
    const last = await rob.client.send(direct, 'now?');
    await waitUntil(() => ria.bodies.includes('now?'), 'ria getting it');
    ria.client.read(direct, last.seq);
    await waitUntil(() => rob.receipts.some((r) => r.uid === 'ria' && r.seq === last.seq), 'rob seeing ria read it');
    expect((await c.api('POST', '/v1/users/ria/settings', { readReceipts: 'no' })).status).toBe(400);
  }, 60_000);

  it('blocks – bad requests get their codes and change nothing', async () => {
    expect((await c.api('POST', '/v1/users/zed/blocks', { add: ['zed'] })).body['code']).toBe(ErrorCode.INVALID_FIELD);
    expect((await c.api('POST', '/v1/users/zed/blocks', { add: 'amy' })).status).toBe(400);
    expect((await c.api('POST', '/v1/users/zed/blocks', { add: ['amy'], remove: ['amy'] })).status).toBe(400);
    expect((await c.api('POST', '/v1/users/zed/blocks', { add: [''] })).status).toBe(400);
    expect((await c.api('POST', '/v1/users/zed/blocks', { add: ['amy'], remove: ['zed'] })).body['code']).toBe(ErrorCode.INVALID_FIELD);
    expect((await c.api('POST', '/v1/users/zed/blocks', { add: ['amy\u0000'] })).status).toBe(400);
    expect((await c.api('GET', '/v1/users/zed/blocks')).body).toEqual({ uid: 'zed', blocked: [] });
  }, 30_000);

  it('members – a member pages through a group by uid with the read marks they may see ("seen by"): receipts off or a block hides a mark, never your own; others get not_member', async () => {
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'mb-group', owner: 'mo', members: ['mp', 'mq', 'mr', 'ms'] });
    const seqs: number[] = [];
    for (const body of ['one', 'two', 'three']) seqs.push((await c.api('POST', '/v1/conversations/mb-group/messages', { body, from: 'bot' })).body['seq'] as number);
    const [s1, , s3] = seqs as [number, number, number];
    const mo = await online('mo', 'd1', 'b1');
    const ms = await online('ms', 'd1', 'b2');
    for (const [who, client] of [['mo', mo.client], ['ms', ms.client]] as const) client.read('mb-group', who === 'mo' ? s1 : s3);
    const mp = await online('mp', 'd1', 'b2');
    mp.client.read('mb-group', s3);
    const mr = await online('mr', 'd1', 'b1');
    mr.client.read('mb-group', s1);
    const mq = await online('mq', 'd1', 'b1');
    mq.client.read('mb-group', s3);
    await waitUntil(async () => (await c.db.sql`SELECT 1 FROM members WHERE conv_id = 'mb-group' AND read_seq > 0`).length === 5, 'the five read marks stored');
    await c.api('POST', '/v1/users/ms/settings', { readReceipts: false });
    await c.api('POST', '/v1/users/mq/blocks', { add: ['mo'] });

    // Two at a time: mq blocks mo (no mark either way), ms has receipts off; mo's own mark is there.
    const p1 = await mo.client.members('mb-group', { limit: 2 });
    const p2 = await mo.client.members('mb-group', { limit: 2, after: p1.members.at(-1)!.uid });
    const p3 = await mo.client.members('mb-group', { limit: 2, after: p2.members.at(-1)!.uid });
    // Delivery marks move with the devices' acks (checked apart below): left out here.
    const marks = (p: typeof p1) => p.members.map(({ deliveredSeq: _, ...m }) => m);
    expect([p1, p2, p3].map((p) => [marks(p), p.more])).toEqual([
      [[{ uid: 'mo', role: 'owner', readSeq: s1 }, { uid: 'mp', role: 'member', readSeq: s3 }], true],
      [[{ uid: 'mq', role: 'member' }, { uid: 'mr', role: 'member', readSeq: s1 }], true],
      [[{ uid: 'ms', role: 'member' }], false],
    ]);
    // A block hides the delivery mark too; receipts off does not.
    expect(p2.members[0]).not.toHaveProperty('deliveredSeq');
    for (const m of [...p1.members, p2.members[1]!, ...p3.members]) expect(m.deliveredSeq).toBeTypeOf('number');
    const all = (await mo.client.members('mb-group')).members;
    expect(all.filter((m) => m.uid !== 'mo' && (m.readSeq ?? 0) >= s3).map((m) => m.uid)).toEqual(['mp']);
    // With receipts off, ms sees its own mark only; mr sees every mark but that of ms (mq's block is of mo alone).
    expect((await ms.client.members('mb-group')).members.filter((m) => m.readSeq !== undefined).map((m) => m.uid)).toEqual(['ms']);
    expect((await mr.client.members('mb-group')).members.map((m) => [m.uid, m.readSeq])).toEqual([['mo', s1], ['mp', s3], ['mq', s3], ['mr', s1], ['ms', undefined]]);
    const outsider = await online('mz', 'd1', 'b2');
    expect(await codeOf(outsider.client.members('mb-group'))).toBe(ErrorCode.NOT_MEMBER);
  }, 30_000);
});
