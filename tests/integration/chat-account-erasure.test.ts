import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MembersEvent } from '../../protocol/chat-ops.js';
import { EventSubject } from '../../protocol/subjects.js';
import { startChatCluster, type ChatCluster } from '../helpers/chat-cluster.js';
import { rawConnect } from '../helpers/raw-client.js';
import { waitUntil } from '../helpers/wait.js';

/** `POST /v1/users/:uid/erase`: an account's deletion, as a business server does it when a user asks to be forgotten. */
describe('chat – erasing an account', () => {
  let c: ChatCluster;
  let members: MembersEvent[];
  beforeAll(async () => {
    c = await startChatCluster({ nodes: ['e1', 'e2'] });
    members = await c.collect<MembersEvent>(EventSubject.MEMBERS);
  }, 60_000);
  afterAll(async () => {
    await c?.stop();
  }, 30_000);

  it('erase – signs the user out for good, leaves every group, blanks what they wrote (in groups they left too; others\' messages stay), forgets their settings, blocks and last seen', async () => {
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'er-room', owner: 'er-o', members: ['er-eve', 'er-x'] });
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'er-old', owner: 'er-o', members: ['er-eve'] });
    const direct = (await c.api('POST', '/v1/conversations', { kind: 'direct', members: ['er-eve', 'er-x'] })).body['conv'] as string;
    await c.api('POST', '/v1/users/er-eve/blocks', { add: ['er-z'] });
    await c.api('POST', '/v1/users/er-y/blocks', { add: ['er-eve'] });
    await c.api('POST', '/v1/users/er-eve/settings', { lastSeen: false });
    // A last seen on record from an earlier visit.
    const before = await rawConnect(c.gateways.get('e2')!, c.token('er-eve', 'old'));
    await before.waitFor((f) => f.type === 'convs');
    before.close();
    await waitUntil(async () => (await c.api('GET', '/v1/users/er-eve/presence')).body['lastSeen'] !== undefined, 'a last seen recorded');

    const eve = c.sdk('er-eve', 'd1', 'e1');
    const x = c.sdk('er-x', 'd1', 'e2');
    await Promise.all([eve.connect(), x.connect()]);
    const mine = [await eve.send('er-room', 'secret one'), await eve.send('er-room', 'secret two'), await eve.send(direct, 'secret three')];
    // A group she wrote in and left before: what she wrote stays there, until the erasure.
    await eve.send('er-old', 'secret zero');
    await eve.leave('er-old');
    const theirs = await x.send('er-room', 'not hers');
    await eve.hide('er-room', [theirs.seq]);
    const heldToken = c.token('er-eve', 'd2');
    const closed = new Promise<number | undefined>((resolve) => eve.on('state', (s) => s.state === 'closed' && resolve(s.code)));

    const r = await c.api('POST', '/v1/users/er-eve/erase', { messages: 'blank' }, 'e2');
    expect(r).toEqual({ status: 200, body: { uid: 'er-eve', devices: ['d1'], groups: 1, messagesBlanked: 4 } });
    expect(await closed).toBe(4014);
    // The tokens she held are void on every gateway.
    for (const node of ['e1', 'e2']) await expect(rawConnect(c.gateways.get(node)!, heldToken)).rejects.toMatchObject({ status: 401 });

    // Out of the group; the direct conversation keeps its two members, for the peer's sake.
    expect(((await c.api('GET', '/v1/users/er-eve/conversations')).body['conversations'] as { conv: string }[]).map((x) => x.conv)).toEqual([direct]);
    const room = (await c.api('GET', '/v1/conversations/er-room')).body['members'] as { uid: string }[];
    expect(room.map((m) => m.uid)).toEqual(['er-o', 'er-x']);
    await waitUntil(() => members.some((e) => e.conv === 'er-room' && e.removed.includes('er-eve')), 'a members event for the group she left');
    const history = (await c.api('GET', '/v1/conversations/er-room/messages')).body['messages'] as { seq: number; from: string; body: string }[];
    expect(history.map((m) => [m.seq, m.from, m.body])).toEqual([
      [mine[0]!.seq, 'er-eve', ''],
      [mine[1]!.seq, 'er-eve', ''],
      [theirs.seq, 'er-x', 'not hers'],
    ]);
    expect(((await c.api('GET', `/v1/conversations/${encodeURIComponent(direct)}/messages`)).body['messages'] as { body: string }[]).map((m) => m.body)).toEqual(['']);
    expect(((await c.api('GET', '/v1/conversations/er-old/messages')).body['messages'] as { body: string }[]).map((m) => m.body)).toEqual(['']);
    expect(await c.db.sql`SELECT conv_id FROM former_members WHERE uid = 'er-eve'`).toHaveLength(0);
    expect(await c.db.sql`SELECT seq FROM hidden_messages WHERE uid = 'er-eve'`).toHaveLength(0);
    expect((await c.api('GET', '/v1/users/er-eve/blocks')).body).toEqual({ uid: 'er-eve', blocked: [] });
    expect((await c.api('GET', '/v1/users/er-y/blocks')).body).toEqual({ uid: 'er-y', blocked: [] });
    expect((await c.api('GET', '/v1/users/er-eve/settings')).body).toEqual({ uid: 'er-eve', readReceipts: true, lastSeen: true });
    expect((await c.api('GET', '/v1/users/er-eve/presence')).body).toEqual({ uid: 'er-eve', online: false, devices: [] });

    // Again (an erasure that failed half way is finished so): nothing left to do, nothing breaks.
    expect((await c.api('POST', '/v1/users/er-eve/erase', { messages: 'blank' })).body).toEqual({ uid: 'er-eve', devices: [], groups: 0, messagesBlanked: 0 });
    expect(await c.api('POST', '/v1/users/er-eve/erase', { messages: 'all' })).toMatchObject({ status: 400, body: { code: 'invalid_field' } });
    // The others go on.
    await x.send('er-room', 'still here');
  }, 60_000);

  it('erase – erased with messages kept, then with them blanked: the second finds what they wrote in the groups they were in', async () => {
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'ek-room', owner: 'ek-o', members: ['ek-kim'] });
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'ek-quiet', owner: 'ek-o', members: ['ek-kim'] });
    const kim = c.sdk('ek-kim', 'd1', 'e1');
    await kim.connect();
    await kim.send('ek-room', 'kept for now');
    expect((await c.api('POST', '/v1/users/ek-kim/erase', {})).body).toMatchObject({ groups: 2, messagesBlanked: 0 });
    const bodies = async () => ((await c.api('GET', '/v1/conversations/ek-room/messages')).body['messages'] as { body: string }[]).map((m) => m.body);
    expect(await bodies()).toEqual(['kept for now']);
    // Only the group where something of theirs is kept stays on record.
    expect((await c.db.sql`SELECT conv_id FROM former_members WHERE uid = 'ek-kim'`).map((r) => r['conv_id'])).toEqual(['ek-room']);
    expect((await c.api('POST', '/v1/users/ek-kim/erase', { messages: 'blank' })).body).toMatchObject({ groups: 0, messagesBlanked: 1 });
    expect(await bodies()).toEqual(['']);
    expect(await c.db.sql`SELECT conv_id FROM former_members WHERE uid = 'ek-kim'`).toHaveLength(0);
  }, 60_000);
});
