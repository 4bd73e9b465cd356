import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../protocol/errors.js';
import type { Pin } from '../../protocol/frames.js';
import { MAX_PINNED_MESSAGES } from '../../protocol/limits.js';
import { startChatCluster, type ChatCluster } from '../helpers/chat-cluster.js';
import { codeOf, waitUntil } from '../helpers/wait.js';

const seqs = (pins: Pin[] | undefined): number[] => (pins ?? []).map((p) => p.seq);

/** Pinned messages: a conversation's own list of messages shown on top, the same for every member. */
describe('chat – pinned messages', () => {
  let c: ChatCluster;
  beforeAll(async () => {
    c = await startChatCluster({ nodes: ['pn1', 'pn2'] });
  }, 60_000);
  afterAll(async () => {
    await c.stop();
  }, 30_000);

  it('pins – owners and admins pin for every member, latest first; members online are told, lists carry them; a recall unpins; refusals are coded', async () => {
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'pn-team', owner: 'ada', members: ['ben', 'cy'] });
    const ada = await c.online('ada', 'a1', 'pn1', ['pins']);
    const ben = await c.online('ben', 'b1', 'pn2', ['pins']);
    const first = (await ada.client.send('pn-team', 'release notes')).seq;
    const second = (await ada.client.send('pn-team', 'on-call rota')).seq;
    const bens = (await ben.client.send('pn-team', 'meeting link')).seq;
    const thumbs = (await ben.client.react('pn-team', first, '👍')).seq;

    const pinned = await ada.client.pinMessage('pn-team', first);
    expect(pinned).toEqual([{ seq: first, by: 'ada', at: expect.any(Number) }]);
    await waitUntil(() => ben.got.pins.length === 1, 'ben told of the pin');
    expect(ben.got.pins[0]).toEqual({ conv: 'pn-team', pins: pinned });
    expect(seqs(ben.client.conversations()[0]!.pins)).toEqual([first]);

    // A plain member may not; made an admin, he may.
    expect(await codeOf(ben.client.pinMessage('pn-team', second))).toBe(ErrorCode.FORBIDDEN);
    await c.api('POST', '/v1/conversations/pn-team/roles', { roles: { ben: 'admin' } });
    expect(seqs(await ben.client.pinMessage('pn-team', bens))).toEqual([bens, first]);
    // Pinning again keeps the first pin and the order.
    expect(await ada.client.pinMessage('pn-team', first)).toEqual((await c.api('GET', '/v1/conversations/pn-team')).body['pins']);
    expect(seqs(await ada.client.pinMessage('pn-team', first))).toEqual([bens, first]);

    for (const [seq, code] of [
      [thumbs, ErrorCode.INVALID_FIELD],
      [999, ErrorCode.NOT_FOUND],
    ] as const) {
      expect(await codeOf(ada.client.pinMessage('pn-team', seq))).toBe(code);
    }
    const zed = await c.online('zed', 'z1', 'pn1', []);
    expect(await codeOf(zed.client.pinMessage('pn-team', first))).toBe(ErrorCode.NOT_MEMBER);

    // A recall takes its message off the pins: on the devices as it arrives, and on the server.
    await ben.client.recall('pn-team', bens);
    await waitUntil(() => seqs(ada.client.conversations()[0]!.pins).join() === String(first), 'ada’s pins without the recalled message');
    expect(seqs(ben.client.conversations()[0]!.pins)).toEqual([first]);
    expect(seqs((await c.api('GET', '/v1/conversations/pn-team')).body['pins'] as Pin[])).toEqual([first]);
    expect(await codeOf(ada.client.pinMessage('pn-team', bens))).toBe(ErrorCode.CONFLICT);

    // The business server pins too, naming whom to show or nobody; a device that connects later finds the pins in its list.
    const api = await c.api('POST', '/v1/conversations/pn-team/pins', { seq: second, by: 'ops' });
    expect([api.status, api.body['pins']]).toEqual([200, [{ seq: second, by: 'ops', at: expect.any(Number) }, { seq: first, by: 'ada', at: expect.any(Number) }]]);
    expect((await c.api('POST', '/v1/conversations/pn-team/pins', { seq: second, pinned: false })).body['pins']).toMatchObject([{ seq: first }]);
    expect((await c.api('POST', '/v1/conversations/pn-team/pins', { seq: second })).body['pins']).toEqual([{ seq: second, at: expect.any(Number) }, expect.objectContaining({ seq: first })]);
    // Each change reaches ben, in order: the last he hears of is the pin without a name.
    await waitUntil(() => ben.got.pins.at(-1)!.pins[0]?.by === undefined, 'ben told of the last change');
    expect(seqs(ben.got.pins.at(-1)!.pins)).toEqual([second, first]);
    expect(ben.got.pins.map((e) => seqs(e.pins).join()).slice(-3)).toEqual([`${second},${first}`, `${first}`, `${second},${first}`]);
    const cy = await c.online('cy', 'c1', 'pn2', []);
    expect(cy.client.conversations()[0]!.pins).toEqual([{ seq: second, at: expect.any(Number) }, { seq: first, by: 'ada', at: expect.any(Number) }]);
    // One added while online learns them with joined.
    const dee = await c.online('dee', 'd1', 'pn1', ['joined']);
    await c.api('POST', '/v1/conversations/pn-team/members', { add: ['dee'] });
    await waitUntil(() => dee.got.joined.length === 1, 'dee told she joined');
    expect(seqs(dee.client.conversations().find((x) => x.conv === 'pn-team')!.pins)).toEqual([second, first]);

    // Unpinned, they are gone from lists; unpinning again changes nothing.
    await ada.client.pinMessage('pn-team', second, false);
    expect(await ada.client.pinMessage('pn-team', second, false)).toMatchObject([{ seq: first }]);
    await ada.client.pinMessage('pn-team', first, false);
    expect(ada.client.conversations()[0]).not.toHaveProperty('pins');
    expect((await c.api('GET', '/v1/users/cy/conversations')).body['conversations']).toEqual([expect.not.objectContaining({ pins: expect.anything() })]);
  }, 60_000);

  it(`pins – in a direct conversation either member pins; at most ${MAX_PINNED_MESSAGES} (limit_reached past them); bad server API input is a 400`, async () => {
    const direct = (await c.api('POST', '/v1/conversations', { kind: 'direct', members: ['dora', 'eli'] })).body['conv'] as string;
    const path = `/v1/conversations/${encodeURIComponent(direct)}`;
    const eli = await c.online('eli', 'e1', 'pn2', ['pins']);
    for (let i = 1; i <= MAX_PINNED_MESSAGES + 1; i++) expect((await c.api('POST', `${path}/messages`, { body: `note ${i}` })).status).toBe(201);
    expect(seqs(await eli.client.pinMessage(direct, 1))).toEqual([1]);
    for (let seq = 2; seq <= MAX_PINNED_MESSAGES; seq++) expect((await c.api('POST', `${path}/pins`, { seq })).status).toBe(200);
    expect(await codeOf(eli.client.pinMessage(direct, MAX_PINNED_MESSAGES + 1))).toBe(ErrorCode.LIMIT_REACHED);
    const over = await c.api('POST', `${path}/pins`, { seq: MAX_PINNED_MESSAGES + 1 });
    expect([over.status, over.body['code']]).toEqual([409, ErrorCode.LIMIT_REACHED]);
    // One already pinned still goes; after an unpin, a new one does.
    expect((await eli.client.pinMessage(direct, 7)).length).toBe(MAX_PINNED_MESSAGES);
    await eli.client.pinMessage(direct, 7, false);
    expect(seqs(await eli.client.pinMessage(direct, MAX_PINNED_MESSAGES + 1))[0]).toBe(MAX_PINNED_MESSAGES + 1);

    for (const body of [{}, { seq: 0 }, { seq: 'one' }, { seq: 1, pinned: 'yes' }, { seq: 1, pinned: null }, { seq: 1, by: '' }]) {
      const r = await c.api('POST', `${path}/pins`, body);
      expect([r.status, r.body['code']]).toEqual([400, ErrorCode.INVALID_FIELD]);
    }
    const none = await c.api('POST', '/v1/conversations/pn-nowhere/pins', { seq: 1 });
    expect([none.status, none.body['code']]).toEqual([404, ErrorCode.NOT_FOUND]);
  }, 60_000);
});
