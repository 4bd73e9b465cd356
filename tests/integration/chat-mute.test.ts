import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PushEvent } from '../../protocol/chat-ops.js';
import { ErrorCode } from '../../protocol/errors.js';
import { MUTED_FOREVER, type ServerFrameOf } from '../../protocol/frames.js';
import { shardOf } from '../../protocol/shard-hash.js';
import { EventSubject } from '../../protocol/subjects.js';
import { startChatCluster, type ChatCluster } from '../helpers/chat-cluster.js';
import { rawConnect } from '../helpers/raw-client.js';
import { codeOf, waitUntil } from '../helpers/wait.js';

const SHARDS = 32;
/** Muting a conversation: one user's setting on all their devices, and what the app's push service is told. */
describe('chat – mute', () => {
  let c: ChatCluster;
  let pushes: PushEvent[];
  beforeAll(async () => {
    c = await startChatCluster({ nodes: ['m1', 'm2'], shards: SHARDS });
    pushes = await c.collect<PushEvent>(EventSubject.PUSH);
  }, 60_000);
  afterAll(async () => {
    await c?.stop();
  }, 30_000);

  /** An SDK client of (uid, did) on gateway `node`, connected, recording the mutes it hears of. */
  const online = async (uid: string, did: string, node: string) => {
    const { client, got } = await c.online(uid, did, node, ['mute']);
    return { client, mutes: got.mute };
  };

  /** The push event of message `seq` of `conv` for `uid` (waits for it). */
  async function pushFor(uid: string, conv: string, seq: number): Promise<PushEvent> {
    await waitUntil(() => pushes.some((e) => e.uid === uid && e.conv === conv && e.seq === seq), `a push event of ${conv}#${seq} for ${uid}`);
    return pushes.find((e) => e.uid === uid && e.conv === conv && e.seq === seq)!;
  }

  const mutedIn = async (uid: string, conv: string): Promise<unknown> => {
    const list = (await c.api('GET', `/v1/users/${uid}/conversations`)).body['conversations'] as { conv: string; mutedUntil?: number }[];
    return list.find((x) => x.conv === conv)?.mutedUntil;
  };

  it('mute – a mute made on one device shows on the other and in every later list; push events say so until it is lifted or runs out', async () => {
    expect((await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'mu-room', owner: 'mu-a', members: ['mu-b'] })).status).toBe(201);
    const a = await online('mu-a', 'a1', 'm1');
    const b1 = await online('mu-b', 'b1', 'm1');
    const b2 = await online('mu-b', 'b2', 'm2');
    expect(b1.client.conversations().find((x) => x.conv === 'mu-room')!.mutedUntil).toBeUndefined();

    expect(await b1.client.mute('mu-room')).toBe(MUTED_FOREVER);
    await waitUntil(() => b2.mutes.length === 1, 'the other device hearing of the mute');
    expect(b2.mutes).toEqual([{ conv: 'mu-room', until: MUTED_FOREVER }]);
    expect(b2.client.conversations().find((x) => x.conv === 'mu-room')?.mutedUntil).toBe(MUTED_FOREVER);
    // The device that asked gets its answer once, not an echo as well.
    expect(b1.mutes).toEqual([{ conv: 'mu-room', until: MUTED_FOREVER }]);
    expect((await b1.client.sync()).find((x) => x.conv === 'mu-room')?.mutedUntil).toBe(MUTED_FOREVER);
    expect(await mutedIn('mu-b', 'mu-room')).toBe(MUTED_FOREVER);
    // The sender's own list is untouched: a mute is the user's alone.
    expect(await mutedIn('mu-a', 'mu-room')).toBeUndefined();
    // Messages still arrive on a muted conversation's devices: only notifications change.
    const live = await a.client.send('mu-room', 'still delivered');
    await waitUntil(() => b2.client.conversations().find((x) => x.conv === 'mu-room')?.last === live.seq, 'the message reaching a muted device');

    // Offline: the push service is told the conversation is muted.
    b1.client.close();
    b2.client.close();
    await waitUntil(async () => ((await c.api('GET', '/v1/users/mu-b/presence')).body['online'] as boolean) === false, 'mu-b offline');
    const m1 = await a.client.send('mu-room', 'while muted');
    expect(await pushFor('mu-b', 'mu-room', m1.seq)).toEqual({ type: 'push', uid: 'mu-b', conv: 'mu-room', seq: m1.seq, from: 'mu-a', muted: true });

    // Lifted through the server API: pushes are plain again.
    expect(await c.api('POST', '/v1/users/mu-b/conversations/mu-room/mute', { until: 0 }, 'm2')).toEqual({ status: 200, body: { uid: 'mu-b', conv: 'mu-room', until: 0 } });
    const m2 = await a.client.send('mu-room', 'after unmute');
    expect(await pushFor('mu-b', 'mu-room', m2.seq)).toEqual({ type: 'push', uid: 'mu-b', conv: 'mu-room', seq: m2.seq, from: 'mu-a' });
    expect(await mutedIn('mu-b', 'mu-room')).toBeUndefined();

    // A mute for a while: in force until then, and over by itself after.
    const until = Date.now() + 1500;
    expect((await c.api('POST', '/v1/users/mu-b/conversations/mu-room/mute', { until })).body['until']).toBe(until);
    const m3 = await a.client.send('mu-room', 'in the hour');
    expect((await pushFor('mu-b', 'mu-room', m3.seq)).muted).toBe(true);
    const b3 = await online('mu-b', 'b3', 'm2');
    expect(b3.client.conversations().find((x) => x.conv === 'mu-room')?.mutedUntil).toBe(until);
    b3.client.close();
    await waitUntil(() => Date.now() > until + 50, 'the mute running out');
    expect(b3.client.conversations().find((x) => x.conv === 'mu-room')!.mutedUntil).toBeUndefined();
    await waitUntil(async () => ((await c.api('GET', '/v1/users/mu-b/presence')).body['online'] as boolean) === false, 'mu-b offline again');
    const m4 = await a.client.send('mu-room', 'after the hour');
    expect((await pushFor('mu-b', 'mu-room', m4.seq)).muted).toBeUndefined();
    expect(await mutedIn('mu-b', 'mu-room')).toBeUndefined();
  }, 60_000);

  it('mute – kept across a move of the conversation\'s chatter; a member removed and added again is not muted', async () => {
    expect((await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'mv-room', owner: 'mv-a', members: ['mv-b', 'mv-c'] })).status).toBe(201);
    const a = await online('mv-a', 'a1', 'm1');
    const b = await online('mv-b', 'b1', 'm2');
    await b.client.mute('mv-room');
    b.client.close();
    const shard = shardOf('mv-room', SHARDS);
    const [row] = await c.db.sql<{ owner: string }[]>`SELECT owner FROM shards WHERE kind = 'chatter' AND shard = ${shard}`;
    expect((await c.imctl('move', 'chatter', String(shard), row!.owner === 'm1' ? 'm2' : 'm1')).code).toBe(0);
    // The new owner read the mute from Postgres.
    await waitUntil(async () => ((await c.api('GET', '/v1/users/mv-b/presence')).body['online'] as boolean) === false, 'mv-b offline');
    const sent = await a.client.send('mv-room', 'after the move');
    expect((await pushFor('mv-b', 'mv-room', sent.seq)).muted).toBe(true);
    expect((await pushFor('mv-c', 'mv-room', sent.seq)).muted).toBeUndefined();

    // Removed and added again: a new membership, not muted.
    await c.api('POST', '/v1/conversations/mv-room/members', { remove: ['mv-b'] });
    await c.api('POST', '/v1/conversations/mv-room/members', { add: ['mv-b'] });
    const again = await a.client.send('mv-room', 'welcome back');
    expect((await pushFor('mv-b', 'mv-room', again.seq)).muted).toBeUndefined();
    expect(await mutedIn('mv-b', 'mv-room')).toBeUndefined();
  }, 60_000);

  it('mute – a bad until, an outsider and an unknown conversation get coded errors by rid (raw socket and server API); nothing is stored', async () => {
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'mx-room', owner: 'mx-a', members: ['mx-b'] });
    const raw = await rawConnect(c.gateways.get('m1')!, c.token('mx-eve', 'e1'));
    await raw.waitFor((f) => f.type === 'convs');
    const answer = (rid: number) => raw.waitFor<ServerFrameOf<'error'> | ServerFrameOf<'mute'>>((f) => (f.type === 'error' || f.type === 'mute') && 'rid' in f && f.rid === rid);
    raw.send({ type: 'mute', rid: 1, conv: 'mx-room', until: -1 });
    expect(await answer(1)).toMatchObject({ type: 'error', code: ErrorCode.INVALID_FIELD });
    raw.send({ type: 'mute', rid: 2, conv: 'mx-room', until: MUTED_FOREVER + 1 });
    expect(await answer(2)).toMatchObject({ type: 'error', code: ErrorCode.INVALID_FIELD });
    raw.send({ type: 'mute', rid: 3, conv: 'mx-room' });
    expect(await answer(3)).toMatchObject({ type: 'error', code: ErrorCode.INVALID_FIELD });
    raw.send({ type: 'mute', rid: 4, conv: 'mx-room', until: 0 });
    expect(await answer(4)).toMatchObject({ type: 'error', code: ErrorCode.NOT_MEMBER, conv: 'mx-room' });
    raw.send({ type: 'mute', rid: 5, conv: 'mx-nowhere', until: 0 });
    expect(await answer(5)).toMatchObject({ type: 'error', code: ErrorCode.NOT_FOUND });
    // A member on the same socket's gateway is unaffected, and answered by rid.
    const member = await rawConnect(c.gateways.get('m1')!, c.token('mx-b', 'b1'));
    await member.waitFor((f) => f.type === 'convs');
    member.send({ type: 'mute', rid: 9, conv: 'mx-room', until: 12345 });
    expect(await member.waitFor((f) => f.type === 'mute')).toEqual({ type: 'mute', rid: 9, conv: 'mx-room', until: 12345 });

    expect(await c.api('POST', '/v1/users/mx-eve/conversations/mx-room/mute', { until: 0 })).toMatchObject({ status: 403, body: { code: ErrorCode.NOT_MEMBER } });
    expect(await c.api('POST', '/v1/users/mx-a/conversations/mx-room/mute', { until: 'soon' })).toMatchObject({ status: 400, body: { code: ErrorCode.INVALID_FIELD } });
    expect(await c.api('POST', '/v1/users/mx-a/conversations/mx-room/mute', {})).toMatchObject({ status: 400, body: { code: ErrorCode.INVALID_FIELD } });
    const rows = await c.db.sql<{ uid: string; muted_until: number }[]>`SELECT uid, muted_until FROM members WHERE conv_id = 'mx-room' ORDER BY uid`;
    expect(rows).toEqual([{ uid: 'mx-a', muted_until: 0 }, { uid: 'mx-b', muted_until: 12345 }]);
    // The SDK rejects for an outsider.
    const eve = await online('mx-eve', 'e2', 'm2');
    expect(await codeOf(eve.client.mute('mx-room'))).toBe(ErrorCode.NOT_MEMBER);
    raw.close();
    member.close();
  }, 30_000);
});
