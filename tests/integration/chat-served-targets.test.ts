import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../protocol/errors.js';
import { startChatCluster, type ChatCluster } from '../helpers/chat-cluster.js';
import { codeOf, waitUntil } from '../helpers/wait.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What a member may name of a conversation: only messages served to them, and, across a block, nothing that reaches the other. */
describe('chat – targets a member may name', () => {
  let c: ChatCluster;
  beforeAll(async () => {
    c = await startChatCluster({ nodes: ['st1', 'st2'] });
  }, 60_000);
  afterAll(async () => {
    await c?.stop();
  }, 30_000);

  it('history rule – a newcomer who sees only what follows their joining cannot reply to, react to or list the reactors of a message from before: not_found, as for none', async () => {
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'st-joined', owner: 'ann', members: ['ben'], history: 'joined' });
    const ann = await c.online('ann', 'a1', 'st1', []);
    const ben = await c.online('ben', 'b1', 'st2', []);
    const secret = await ann.client.send('st-joined', 'before dee');
    await ben.client.react('st-joined', secret.seq, '👍');
    await c.api('POST', '/v1/conversations/st-joined/members', { add: ['dee'] });
    const dee = await c.online('dee', 'd1', 'st1', ['message']);
    expect((await dee.client.pull('st-joined', 0)).msgs).toEqual([]);

    expect(await codeOf(dee.client.send('st-joined', 'who wrote this?', { reply: secret.seq }))).toBe(ErrorCode.NOT_FOUND);
    expect(await codeOf(dee.client.react('st-joined', secret.seq, '👀'))).toBe(ErrorCode.NOT_FOUND);
    expect(await codeOf(dee.client.reactors('st-joined', secret.seq))).toBe(ErrorCode.NOT_FOUND);
    // Made an admin, she pins only what is served to her.
    expect((await c.api('POST', '/v1/conversations/st-joined/roles', { roles: { dee: 'admin' } })).status).toBe(200);
    expect(await codeOf(dee.client.pinMessage('st-joined', secret.seq))).toBe(ErrorCode.NOT_FOUND);
    // Nothing she was refused was stored: the message, ben's reaction, and nothing of dee's.
    expect(await c.db.sql`SELECT seq FROM messages WHERE conv_id = 'st-joined' AND sender_uid = 'dee'`).toHaveLength(0);

    // What followed her joining she may name as anyone may; those in it from the start still name the old message.
    const hello = await ann.client.send('st-joined', 'welcome dee');
    expect(await codeOf(dee.client.send('st-joined', 'thanks', { reply: hello.seq }))).toBe('resolved');
    await dee.client.react('st-joined', hello.seq, '🎉');
    expect((await dee.client.reactors('st-joined', hello.seq)).reactors).toEqual([expect.objectContaining({ uid: 'dee', emoji: '🎉' })]);
    expect(await codeOf(ben.client.send('st-joined', 'as I said', { reply: secret.seq }))).toBe('resolved');
    expect((await ben.client.reactors('st-joined', secret.seq)).reactors).toEqual([expect.objectContaining({ uid: 'ben', emoji: '👍' })]);

    // An edit of the old message after her joining: its new text is no more hers to read than the old one was, live
    // or in her history; the others get it.
    const fixed = await ann.client.edit('st-joined', secret.seq, 'before dee, fixed');
    await waitUntil(() => dee.got.message.some((m) => m.seq === fixed.seq), 'dee getting the edit live');
    expect(dee.got.message.find((m) => m.seq === fixed.seq)).toMatchObject({ edit: secret.seq, body: '' });
    expect((await dee.client.pull('st-joined', 0)).msgs.find((m) => m.seq === fixed.seq)).toMatchObject({ edit: secret.seq, body: '' });
    expect((await ben.client.pull('st-joined', 0)).msgs.find((m) => m.seq === fixed.seq)).toMatchObject({ edit: secret.seq, body: 'before dee, fixed' });
  }, 30_000);

  it('blocks – across a block neither member of a direct conversation may pin or unpin (forbidden), and the other\'s devices hear nothing; the server API still pins', async () => {
    const direct = (await c.api('POST', '/v1/conversations', { kind: 'direct', members: ['eva', 'fox'] })).body['conv'] as string;
    const eva = await c.online('eva', 'e1', 'st1', ['pins']);
    const fox = await c.online('fox', 'f1', 'st2', ['pins']);
    const note = await fox.client.send(direct, 'note');
    await fox.client.pinMessage(direct, note.seq);
    await waitUntil(() => eva.got.pins.length === 1, 'eva told of the pin before the block');

    expect((await c.api('POST', '/v1/users/eva/blocks', { add: ['fox'] })).status).toBe(200);
    const heard = [eva.got.pins.length, fox.got.pins.length];
    expect(await codeOf(fox.client.pinMessage(direct, note.seq, false))).toBe(ErrorCode.FORBIDDEN);
    expect(await codeOf(fox.client.pinMessage(direct, note.seq))).toBe(ErrorCode.FORBIDDEN);
    expect(await codeOf(eva.client.pinMessage(direct, note.seq, false))).toBe(ErrorCode.FORBIDDEN);
    await sleep(300);
    expect([eva.got.pins.length, fox.got.pins.length]).toEqual(heard);
    expect((await c.api('GET', `/v1/conversations/${encodeURIComponent(direct)}`)).body['pins']).toEqual([expect.objectContaining({ seq: note.seq, by: 'fox' })]);

    // The business server is not a member: its pins go on.
    const api = await c.api('POST', `/v1/conversations/${encodeURIComponent(direct)}/pins`, { seq: note.seq, pinned: false });
    expect([api.status, api.body['pins']]).toEqual([200, []]);
    // Unblocked, pins pass again.
    expect((await c.api('POST', '/v1/users/eva/blocks', { remove: ['fox'] })).status).toBe(200);
    expect(await fox.client.pinMessage(direct, note.seq)).toEqual([expect.objectContaining({ seq: note.seq, by: 'fox' })]);
  }, 30_000);
});
