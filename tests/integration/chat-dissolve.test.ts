import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MembersEvent } from '../../protocol/chat-ops.js';
import { ErrorCode } from '../../protocol/errors.js';
import { EventSubject } from '../../protocol/subjects.js';
import { startChatCluster, type ChatCluster } from '../helpers/chat-cluster.js';
import { rawConnect } from '../helpers/raw-client.js';
import { codeOf, waitUntil } from '../helpers/wait.js';

/** A group the business server dissolves: every member leaves it, and it takes nothing more. */
describe('chat – dissolve a group', () => {
  let c: ChatCluster;
  beforeAll(async () => {
    // Large above 3 members: the second group is delivered through its subject.
    c = await startChatCluster({ nodes: ['ds1', 'ds2'], args: ['--large-group', '3'] });
  }, 60_000);
  afterAll(async () => {
    await c?.stop();
  }, 30_000);

  it('dissolve – every member is removed and told at once, small and large groups alike; it takes no sends, members or re-creation; its messages stay for the server API', async () => {
    const events = await c.collect<MembersEvent>(EventSubject.MEMBERS);
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'ds-small', owner: 'ada', members: ['bo', 'cy'] });
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'ds-big', owner: 'ada', members: ['bo', 'm1', 'm2', 'm3'] });
    const bo = await c.online('bo', 'b1', 'ds2', ['left', 'message']);
    const cy = await rawConnect(c.gateways.get('ds1')!, c.token('cy', 'c1'));
    await cy.waitFor((f) => f.type === 'convs');
    for (const conv of ['ds-small', 'ds-big']) await c.api('POST', `/v1/conversations/${conv}/messages`, { body: `hello ${conv}` });
    await waitUntil(() => bo.got.message.length === 2, 'bo getting both messages');

    expect((await c.api('POST', '/v1/conversations/ds-small/dissolve', {})).body).toEqual({ conv: 'ds-small', removed: 3 });
    expect((await c.api('POST', '/v1/conversations/ds-big/dissolve', {})).body).toEqual({ conv: 'ds-big', removed: 5 });
    await waitUntil(() => bo.got.left.length === 2, 'bo told he left both');
    expect(bo.got.left.map((l) => l.conv).sort()).toEqual(['ds-big', 'ds-small']);
    expect(bo.client.conversations()).toEqual([]);
    expect(await cy.waitFor((f) => f.type === 'left')).toEqual({ type: 'left', conv: 'ds-small' });
    await waitUntil(() => events.filter((e) => e.removed.length > 0).length === 2, 'the business server told of both');
    expect(events.find((e) => e.conv === 'ds-big' && e.removed.length > 0)).toMatchObject({ removed: ['ada', 'bo', 'm1', 'm2', 'm3'] });

    // Nothing more goes in.
    expect(await codeOf(bo.client.send('ds-small', 'anyone?'))).toBe(ErrorCode.NOT_FOUND);
    expect((await c.api('POST', '/v1/conversations/ds-small/messages', { body: 'system' })).status).toBe(404);
    expect((await c.api('POST', '/v1/conversations/ds-small/members', { add: ['bo'] })).status).toBe(404);
    expect((await c.api('POST', '/v1/conversations/ds-small', { posting: 'admins' })).status).toBe(404);
    const again = await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'ds-small', owner: 'ada', members: ['bo'] });
    expect([again.status, again.body['code']]).toEqual([409, ErrorCode.CONFLICT]);
    expect((await c.api('POST', '/v1/conversations/ds-small/dissolve', {})).status).toBe(404);
    // Lists no longer have it; the business server still reads it, and its messages.
    expect((await c.api('GET', '/v1/users/bo/conversations')).body['conversations']).toEqual([]);
    expect((await c.api('GET', '/v1/conversations/ds-small')).body).toMatchObject({ conv: 'ds-small', members: [], dissolvedAt: expect.any(Number) });
    expect(((await c.api('GET', '/v1/conversations/ds-small/messages')).body['messages'] as { body: string }[]).map((m) => m.body)).toEqual(['hello ds-small']);
    // Direct conversations cannot be dissolved.
    const direct = (await c.api('POST', '/v1/conversations', { kind: 'direct', members: ['ada', 'bo'] })).body['conv'] as string;
    expect((await c.api('POST', `/v1/conversations/${encodeURIComponent(direct)}/dissolve`, {})).status).toBe(404);
    cy.close();
  }, 30_000);
});
