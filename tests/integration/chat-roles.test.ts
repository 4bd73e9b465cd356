import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChatCluster, type ChatCluster } from '../helpers/chat-cluster.js';
import { waitUntil } from '../helpers/wait.js';

/** Group roles: the business server gives them through the server API; members see them in member pages, and those online are told as roles change. */
describe('chat – roles', () => {
  let c: ChatCluster;
  beforeAll(async () => {
    c = await startChatCluster({ nodes: ['o1'] });
  }, 60_000);
  afterAll(async () => {
    await c?.stop();
  }, 30_000);

  const rolesOf = async (conv: string): Promise<Record<string, string>> =>
    Object.fromEntries(((await c.api('GET', `/v1/conversations/${conv}`)).body['members'] as { uid: string; role: string }[]).map((m) => [m.uid, m.role]));

  it('roles – the server API makes members admins (or owners, or plain members again); members see the roles; a bad request changes nothing', async () => {
    const conv = (await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'ro-team', owner: 'ola', members: ['pam', 'rik'] })).body['conv'] as string;
    expect(await rolesOf(conv)).toEqual({ ola: 'owner', pam: 'member', rik: 'member' });
    expect(await c.api('POST', `/v1/conversations/${conv}/roles`, { roles: { pam: 'admin' } })).toEqual({ status: 200, body: { conv, roles: { pam: 'admin' } } });
    expect(await rolesOf(conv)).toEqual({ ola: 'owner', pam: 'admin', rik: 'member' });
    // A member's page shows it too.
    const { client, got } = await c.online('rik', 'r1', 'o1', ['roles']);
    expect((await client.members(conv)).members.map((m) => [m.uid, m.role])).toEqual([['ola', 'owner'], ['pam', 'admin'], ['rik', 'member']]);

    // All or nothing: one name that is not a member, and nobody changes.
    const partly = await c.api('POST', `/v1/conversations/${conv}/roles`, { roles: { rik: 'admin', zed: 'admin' } });
    expect(partly).toMatchObject({ status: 403, body: { code: 'not_member', message: expect.stringContaining('zed') } });
    expect(await rolesOf(conv)).toEqual({ ola: 'owner', pam: 'admin', rik: 'member' });
    for (const body of [{ roles: { rik: 'king' } }, { roles: {} }, { roles: ['rik'] }, {}]) {
      expect((await c.api('POST', `/v1/conversations/${conv}/roles`, body)).body).toMatchObject({ code: 'invalid_field' });
    }
    const direct = (await c.api('POST', '/v1/conversations', { kind: 'direct', members: ['ola', 'pam'] })).body['conv'] as string;
    expect((await c.api('POST', `/v1/conversations/${encodeURIComponent(direct)}/roles`, { roles: { pam: 'admin' } })).body).toMatchObject({ code: 'invalid_field' });
    expect((await c.api('POST', '/v1/conversations/no-such-group/roles', { roles: { pam: 'admin' } })).status).toBe(404);
    // Back to a plain member; two at once. The members online are told as it happens; refusals told them nothing.
    expect((await c.api('POST', `/v1/conversations/${conv}/roles`, { roles: { pam: 'member', rik: 'owner' } })).status).toBe(200);
    expect(await rolesOf(conv)).toEqual({ ola: 'owner', pam: 'member', rik: 'owner' });
    await waitUntil(() => got.roles.length === 1, 'rik told of the new roles');
    expect(got.roles).toEqual([{ conv, roles: { pam: 'member', rik: 'owner' } }]);
  }, 30_000);
});
