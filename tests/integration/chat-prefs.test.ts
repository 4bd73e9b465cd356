import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../protocol/errors.js';
import type { ServerFrameOf } from '../../protocol/frames.js';
import { startChatCluster, type ChatCluster } from '../helpers/chat-cluster.js';
import { rawConnect } from '../helpers/raw-client.js';
import { codeOf, waitUntil } from '../helpers/wait.js';

type Convs = ServerFrameOf<'convs'>;
type Prefs = ServerFrameOf<'prefs'>;
/** Pinned and archived conversations: one user's list preferences, on all their devices. */
describe('chat – pin and archive', () => {
  let c: ChatCluster;
  beforeAll(async () => {
    c = await startChatCluster({ nodes: ['p1', 'p2'], args: ['--max-pinned', '3'] });
  }, 60_000);
  afterAll(async () => {
    await c?.stop();
  }, 30_000);

  it('prefs – a pin lists the conversation first on every device of the user and in later lists; an archive marks it and it still gets messages; undone, the list is by recency again; nobody else sees either', async () => {
    const direct = (await c.api('POST', '/v1/conversations', { kind: 'direct', members: ['pia', 'quin'] })).body['conv'] as string;
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'pf-old', owner: 'pia' });
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'pf-new', owner: 'pia', members: ['quin'] });
    // Oldest message first: the direct conversation, then pf-old, then pf-new.
    for (const conv of [direct, 'pf-old', 'pf-new']) await c.api('POST', `/v1/conversations/${encodeURIComponent(conv)}/messages`, { body: `hello ${conv}` });
    const { client: phone, got } = await c.online('pia', 'phone', 'p1', ['prefs']);
    const laptop = await rawConnect(c.gateways.get('p2')!, c.token('pia', 'laptop'));
    await laptop.waitFor((f) => f.type === 'convs');
    expect(phone.conversations().map((x) => x.conv)).toEqual(['pf-new', 'pf-old', direct]);

    const pinned = await phone.pin(direct);
    expect(pinned.pinnedAt).toBeGreaterThan(Date.now() - 60_000);
    expect(pinned.archivedAt).toBe(0);
    // The other device hears of it; the one that asked has its answer (one event, no echo).
    expect(await laptop.waitFor<Prefs>((f) => f.type === 'prefs')).toEqual({ type: 'prefs', conv: direct, ...pinned });
    // Long enough for an echo to this device to have come, had there been one.
    await phone.sync();
    await new Promise((r) => setTimeout(r, 200));
    expect(got.prefs).toEqual([{ conv: direct, ...pinned }]);
    expect(phone.conversations().map((x) => x.conv)).toEqual([direct, 'pf-new', 'pf-old']);
    expect(phone.conversations()[0]!.pinnedAt).toBe(pinned.pinnedAt);
    // Pinning again keeps the first time; a later pin lists before it.
    expect((await phone.pin(direct)).pinnedAt).toBe(pinned.pinnedAt);
    await new Promise((r) => setTimeout(r, 5));
    await phone.pin('pf-old');
    expect(phone.conversations().map((x) => x.conv)).toEqual(['pf-old', direct, 'pf-new']);
    laptop.send({ type: 'sync', rid: 1 });
    const list = (await laptop.waitFor<Convs>((f) => f.type === 'convs' && f.rid === 1)).list;
    expect(list.map((x) => x.conv)).toEqual(['pf-old', direct, 'pf-new']);
    expect(list.find((x) => x.conv === direct)).toMatchObject({ pinnedAt: pinned.pinnedAt });
    expect(list.find((x) => x.conv === 'pf-new')).not.toHaveProperty('pinnedAt');

    // Archived: marked, and messages keep coming.
    laptop.send({ type: 'prefs', rid: 2, conv: 'pf-new', archived: true });
    const archived = await laptop.waitFor<Prefs>((f) => f.type === 'prefs' && f.rid === 2);
    expect(archived.archivedAt).toBeGreaterThan(0);
    await waitUntil(() => phone.conversations().find((x) => x.conv === 'pf-new')?.archivedAt === archived.archivedAt, 'the phone hearing of the archive');
    const sys = (await c.api('POST', '/v1/conversations/pf-new/messages', { body: 'still here' })).body['seq'] as number;
    await laptop.waitFor((f) => f.type === 'msg' && f.conv === 'pf-new' && f.seq === sys);

    // Undone: by recency again (pf-new has the newest message).
    await phone.pin(direct, false);
    await phone.pin('pf-old', false);
    await phone.archive('pf-new', false);
    const again = await phone.sync();
    expect(again.map((x) => x.conv)).toEqual(['pf-new', 'pf-old', direct]);
    for (const row of again) expect(row).not.toHaveProperty('pinnedAt');
    for (const row of again) expect(row).not.toHaveProperty('archivedAt');

    // Quin's list knows nothing of pia's preferences.
    await phone.pin(direct);
    const quin = await rawConnect(c.gateways.get('p1')!, c.token('quin', 'q1'));
    const quinList = (await quin.waitFor<Convs>((f) => f.type === 'convs')).list;
    // Both conversations pia shares with quin are there (one pinned by her), so the check below has rows to hold against.
    expect(quinList.map((x) => x.conv).sort()).toEqual([direct, 'pf-new'].sort());
    for (const row of quinList) expect(row).not.toHaveProperty('pinnedAt');
    expect(quin.frames.some((f) => f.type === 'prefs')).toBe(false);
    for (const x of [laptop, quin]) x.close();
  }, 30_000);

  it('prefs – a conversation you are not in is not_member; a prefs frame with nothing to change is invalid_field; both answer by rid', async () => {
    const { client } = await c.online('rex', 'r1', 'p2', []);
    expect(await codeOf(client.pin('pf-old'))).toBe(ErrorCode.NOT_MEMBER);
    expect(await codeOf(client.archive('no-such-conv'))).toBe(ErrorCode.NOT_MEMBER);
    const raw = await rawConnect(c.gateways.get('p2')!, c.token('rex', 'r2'));
    await raw.waitFor((f) => f.type === 'convs');
    raw.send({ type: 'prefs', rid: 7, conv: 'pf-old' });
    expect(await raw.waitFor((f) => f.type === 'error' && f.rid === 7)).toMatchObject({ code: ErrorCode.INVALID_FIELD });
    raw.send({ type: 'prefs', rid: 8, conv: 'pf-old', pinned: 'yes' });
    expect(await raw.waitFor((f) => f.type === 'error' && f.rid === 8)).toMatchObject({ code: ErrorCode.INVALID_FIELD });
    raw.close();
  }, 30_000);

  it('prefs – the server API pins or archives for a user: every device of theirs is told, lists carry it; not a member is 403, nothing to change 400', async () => {
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'pf-support', owner: 'helpdesk', members: ['rex'] });
    const phone = await c.online('rex', 'phone', 'p2', ['prefs']);
    const res = await c.api('POST', '/v1/users/rex/conversations/pf-support/prefs', { pinned: true });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ uid: 'rex', conv: 'pf-support', archivedAt: 0 });
    const pinnedAt = res.body['pinnedAt'] as number;
    expect(pinnedAt).toBeGreaterThan(Date.now() - 60_000);
    await waitUntil(() => phone.got.prefs.length === 1, 'the phone told of the pin');
    expect(phone.got.prefs[0]).toEqual({ conv: 'pf-support', pinnedAt, archivedAt: 0, markedUnreadAt: 0 });
    expect(phone.client.conversations()[0]).toMatchObject({ conv: 'pf-support', pinnedAt });
    expect((await c.api('GET', '/v1/users/rex/conversations')).body['conversations']).toMatchObject([{ conv: 'pf-support', pinnedAt }]);
    const refused = await c.api('POST', '/v1/users/sid/conversations/pf-support/prefs', { archived: true });
    expect([refused.status, refused.body['code']]).toEqual([403, ErrorCode.NOT_MEMBER]);
    const empty = await c.api('POST', '/v1/users/rex/conversations/pf-support/prefs', { pinned: 'yes' });
    expect([empty.status, empty.body['code']]).toEqual([400, ErrorCode.INVALID_FIELD]);
  }, 30_000);

  it('prefs – a user has at most --max-pinned conversations pinned: a new pin past it is limit_reached and changes nothing; pinning one again, archiving and unpinning still go', async () => {
    const groups = ['pf-l1', 'pf-l2', 'pf-l3', 'pf-l4'];
    for (const conv of groups) await c.api('POST', '/v1/conversations', { kind: 'group', conv, owner: 'tess' });
    const { client } = await c.online('tess', 't1', 'p1', []);
    for (const conv of groups.slice(0, 3)) await client.pin(conv);
    expect(await codeOf(client.pin('pf-l4'))).toBe(ErrorCode.LIMIT_REACHED);
    const api = await c.api('POST', '/v1/users/tess/conversations/pf-l4/prefs', { pinned: true, archived: true });
    expect([api.status, api.body['code']]).toEqual([409, ErrorCode.LIMIT_REACHED]);
    // Nothing of the refused request was stored, the archive with the pin neither.
    const list = (await c.api('GET', '/v1/users/tess/conversations')).body['conversations'] as { conv: string; pinnedAt?: number; archivedAt?: number }[];
    expect(list.filter((x) => x.pinnedAt !== undefined).map((x) => x.conv).sort()).toEqual(groups.slice(0, 3));
    expect(list.find((x) => x.conv === 'pf-l4')).not.toHaveProperty('archivedAt');
    // At the limit: a pinned one pinned again keeps its time; an archive alone goes.
    const first = client.conversations().find((x) => x.conv === 'pf-l1')!.pinnedAt;
    expect((await client.pin('pf-l1')).pinnedAt).toBe(first);
    expect((await client.archive('pf-l4')).archivedAt).toBeGreaterThan(0);
    // One unpinned makes room.
    expect((await client.pin('pf-l2', false)).pinnedAt).toBe(0);
    expect((await client.pin('pf-l4')).pinnedAt).toBeGreaterThan(0);
  }, 30_000);
  it('prefs – mark as unread: every device of the user shows it, lists carry it, nobody else sees it; the next read mark on any device takes it off', async () => {
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'pf-unread', owner: 'uma', members: ['vic'] });
    const seq = (await c.api('POST', '/v1/conversations/pf-unread/messages', { body: 'read me later' })).body['seq'] as number;
    const phone = await c.online('uma', 'phone', 'p1', ['prefs']);
    const laptop = await c.online('uma', 'laptop', 'p2', ['prefs']);
    // Read, then marked unread at once: the mark goes after the read (both through the user's connector), so it stays.
    phone.client.read('pf-unread', seq);
    const marked = await phone.client.markUnread('pf-unread');
    expect(marked.markedUnreadAt).toBeGreaterThan(Date.now() - 60_000);
    await waitUntil(() => laptop.client.conversations().find((x) => x.conv === 'pf-unread')?.markedUnreadAt === marked.markedUnreadAt, 'the laptop told of the mark');
    expect((await c.api('GET', '/v1/users/uma/conversations')).body['conversations']).toMatchObject([{ conv: 'pf-unread', markedUnreadAt: marked.markedUnreadAt }]);
    expect(((await c.api('GET', '/v1/users/vic/conversations')).body['conversations'] as object[])[0]).not.toHaveProperty('markedUnreadAt');
    // Opening it on the laptop (a read mark, even one that moves nothing) takes the mark off everywhere.
    laptop.client.read('pf-unread', seq);
    await waitUntil(() => phone.client.conversations().find((x) => x.conv === 'pf-unread')?.markedUnreadAt === undefined, 'the phone seeing the mark gone');
    expect(((await c.api('GET', '/v1/users/uma/conversations')).body['conversations'] as object[])[0]).not.toHaveProperty('markedUnreadAt');
    // The server API marks too, and takes the mark off with unread: false.
    const api = await c.api('POST', '/v1/users/uma/conversations/pf-unread/prefs', { unread: true });
    expect(api.body).toMatchObject({ uid: 'uma', conv: 'pf-unread', markedUnreadAt: expect.any(Number) });
    await waitUntil(() => phone.client.conversations().find((x) => x.conv === 'pf-unread')?.markedUnreadAt !== undefined, 'the phone told of the server API mark');
    expect((await phone.client.markUnread('pf-unread', false)).markedUnreadAt).toBe(0);
    expect((await c.api('POST', '/v1/users/uma/conversations/pf-unread/prefs', { unread: 'yes' })).status).toBe(400);
  }, 30_000);
});
