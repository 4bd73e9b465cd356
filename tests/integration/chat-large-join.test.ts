import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LARGE_BIND_GRACE_MS } from '../../actors/bind-grace.js';
import type { ImClientEvents } from '../../protocol/sdk/index.js';
import { startChatCluster, type ChatCluster } from '../helpers/chat-cluster.js';
import { waitUntil } from '../helpers/wait.js';

/** Conversations with more members than this are large: one publish per message on the conversation's subject. */
const LARGE_GROUP = 3;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A newcomer to a large group gets its messages through its connector for a second (the bind grace), then only
 * through its gateway's subscription. A session that takes the subject later than that must still get what was
 * published in between, without waiting for the next message to show the gap.
 */
describe('chat – joining a large group', () => {
  let c: ChatCluster;
  beforeAll(async () => {
    c = await startChatCluster({ nodes: ['j1', 'j2'], shards: 8, args: ['--large-group', String(LARGE_GROUP)] });
  }, 60_000);
  afterAll(async () => {
    await c?.stop();
  }, 30_000);

  /**
   * Keeps `uid`'s connector busy until the returned function is called: its read of `side` waits on a lock the test
   * holds on the user's row there, and what the connector is told meanwhile waits behind it.
   */
  async function stall(uid: string, side: string, client: { read(conv: string, seq: number): void }, seq: number): Promise<() => Promise<void>> {
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let locked!: () => void;
    const isLocked = new Promise<void>((r) => (locked = r));
    const tx = c.db.sql.begin(async (sql) => {
      await sql`SELECT 1 FROM members WHERE conv_id = ${side} AND uid = ${uid} FOR UPDATE`;
      locked();
      await released;
    });
    await isLocked;
    client.read(side, seq);
    return async () => {
      release();
      await tx;
    };
  }

  /**
   * Brings each user online on its node with a side group of its own, then holds its connector busy (`stall`). The
   * returned releases let them go.
   */
  async function busyOnline<E extends keyof ImClientEvents>(users: { uid: string; node: string }[], events: readonly ('message' | E)[]) {
    const releases: (() => Promise<void>)[] = [];
    const online = [];
    for (const { uid, node } of users) {
      const side = `${uid}-side`;
      expect((await c.api('POST', '/v1/conversations', { kind: 'group', conv: side, owner: uid, members: [`${uid}-friend`] })).status).toBe(201);
      const x = await c.online(uid, 'd1', node, events);
      const seq = (await c.api('POST', `/v1/conversations/${side}/messages`, { body: 'hello', from: `${uid}-friend` })).body['seq'] as number;
      await waitUntil(() => x.got.message.some((m) => m.conv === side), `${uid} getting the side message`);
      releases.push(await stall(uid, side, x.client, seq));
      online.push(x);
    }
    return { online, releases };
  }

  it('large groups – a newcomer whose session takes the group later than its bind grace still gets, live, the message sent meanwhile (where the gateway heard it and where it did not)', async () => {
    const conv = 'lj-big';
    expect((await c.api('POST', '/v1/conversations', { kind: 'group', conv, owner: 'lj-owner', members: ['lj-b', 'lj-c', 'lj-d'] })).status).toBe(201);
    // The owner's session on j1 keeps j1 subscribed to the group; nobody's on j2 is.
    const owner = await c.online('lj-owner', 'd1', 'j1', ['message']);
    const newcomers = [
      { uid: 'lj-here', node: 'j1' },
      { uid: 'lj-there', node: 'j2' },
    ];
    const { online, releases } = await busyOnline(newcomers, ['message', 'joined']);
    expect((await c.api('POST', `/v1/conversations/${conv}/members`, { add: newcomers.map((n) => n.uid) })).status).toBe(200);
    // Past the grace: the message goes out on the group's subject only, before the newcomers' sessions take it.
    await sleep(LARGE_BIND_GRACE_MS + 500);
    await owner.client.send(conv, 'sent while they were binding');
    for (const release of releases) await release();
    for (const [i, x] of online.entries()) {
      await waitUntil(() => x.got.joined.some((j) => j.conv === conv), `${newcomers[i]!.uid} told it joined`);
      await waitUntil(() => x.got.message.some((m) => m.conv === conv && m.body === 'sent while they were binding'), `${newcomers[i]!.uid} getting the message`, 5_000);
    }
  }, 60_000);

  it('large groups – members of a group that grows large while their connectors are busy still get, live, the message sent after the grace', async () => {
    const conv = 'lm-big';
    // Three members: at the threshold, not past it. The owner's session keeps j1 subscribed once it is large.
    expect((await c.api('POST', '/v1/conversations', { kind: 'group', conv, owner: 'lm-owner', members: ['lm-here', 'lm-there'] })).status).toBe(201);
    const owner = await c.online('lm-owner', 'd1', 'j1', ['message']);
    const members = [
      { uid: 'lm-here', node: 'j1' },
      { uid: 'lm-there', node: 'j2' },
    ];
    const { online, releases } = await busyOnline(members, ['message']);
    // A fourth member: the group grows large, and every member's connector is told to take its subject.
    expect((await c.api('POST', `/v1/conversations/${conv}/members`, { add: ['lm-new'] })).status).toBe(200);
    await sleep(LARGE_BIND_GRACE_MS + 500);
    await owner.client.send(conv, 'sent after it grew');
    for (const release of releases) await release();
    for (const [i, x] of online.entries()) {
      await waitUntil(() => x.got.message.some((m) => m.conv === conv && m.body === 'sent after it grew'), `${members[i]!.uid} getting the message`, 5_000);
    }
  }, 60_000);

  it('large groups – a member removed while their connector is busy gets none of the messages sent after the removal', async () => {
    const conv = 'lk-big';
    // Still large once the victim is out (4 members past the threshold of 3): the group's messages go on its subject.
    expect((await c.api('POST', '/v1/conversations', { kind: 'group', conv, owner: 'lk-owner', members: ['lk-b', 'lk-c', 'lk-d', 'lk-victim'] })).status).toBe(201);
    const owner = await c.online('lk-owner', 'd1', 'j1', ['message']);
    const witness = await c.online('lk-b', 'd1', 'j2', ['message']);
    const victim = await c.online('lk-victim', 'd1', 'j2', ['message']);
    await owner.client.send(conv, 'before');
    await waitUntil(() => victim.got.message.some((m) => m.conv === conv && m.body === 'before'), 'the victim getting the first message');
    const side = 'lk-victim-side';
    expect((await c.api('POST', '/v1/conversations', { kind: 'group', conv: side, owner: 'lk-victim', members: ['lk-friend'] })).status).toBe(201);
    const seq = (await c.api('POST', `/v1/conversations/${side}/messages`, { body: 'hello', from: 'lk-friend' })).body['seq'] as number;
    await waitUntil(() => victim.got.message.some((m) => m.conv === side), 'the victim getting the side message');
    // Its connector cannot unbind the session now: only the chatter's word on the subject can.
    const release = await stall('lk-victim', side, victim.client, seq);
    expect((await c.api('POST', `/v1/conversations/${conv}/members`, { remove: ['lk-victim'] })).status).toBe(200);
    await owner.client.send(conv, 'after the removal');
    await waitUntil(() => witness.got.message.some((m) => m.conv === conv && m.body === 'after the removal'), 'a member on the same gateway getting it');
    await sleep(300);
    await release();
    await sleep(300);
    expect(victim.got.message.filter((m) => m.conv === conv).map((m) => m.body)).toEqual(['before']);
  }, 60_000);
});
