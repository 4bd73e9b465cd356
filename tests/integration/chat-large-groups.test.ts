import { readFile } from 'node:fs/promises';
import path from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LARGE_GROUP_CHANGE_GRACE_MS } from '../../actors/chat-services.js';
import { LARGE_BIND_GRACE_MS } from '../../actors/bind-grace.js';
import { REBIND_DELAY_MS } from '../../actors/gateway/gateway.js';
import type { PushEvent } from '../../protocol/chat-ops.js';
import type { Msg } from '../../protocol/frames.js';
import { ImClient } from '../../protocol/sdk/index.js';
import { shardFunctionFingerprint, shardOf } from '../../protocol/shard-hash.js';
import { conversationSubject, EventSubject } from '../../protocol/subjects.js';
import { spawnNodeProcess } from '../../scripts/lib/node-process.js';
import { startChatCluster, type ChatCluster } from '../helpers/chat-cluster.js';
import { rawConnect } from '../helpers/raw-client.js';
import { waitUntil } from '../helpers/wait.js';

/** Conversations with more members than this are large: one publish per message on the conversation's subject. */
const LARGE_GROUP = 3;
const SHARDS = 8;
/** Members one group may have in this cluster. */
const MAX_GROUP = 6;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Large groups are delivered differently from small ones (one publish on the conversation's subject, which the
 * gateways copy to the member sessions they hold). What changes membership or size must move sessions between
 * the two ways without a live member missing a message, and without a removed member hearing more.
 */
describe('chat – large groups', () => {
  let c: ChatCluster;
  const clients: ImClient[] = [];
  beforeAll(async () => {
    c = await startChatCluster({ nodes: ['l1', 'l2'], shards: SHARDS, args: ['--large-group', String(LARGE_GROUP), '--max-group-members', String(MAX_GROUP)] });
  }, 60_000);
  afterAll(async () => {
    for (const x of clients) x.close();
    await c?.stop();
  }, 30_000);

  /** An SDK client of `uid` on gateway `node`, connected; its received messages collect in `got`. */
  async function online(uid: string, node: string): Promise<{ client: ImClient; got: Msg[] }> {
    const client = new ImClient({ endpoints: [c.gateways.get(node)!], token: c.token(uid, 'phone'), WebSocket: WebSocket as never, history: 'all' });
    clients.push(client);
    const got: Msg[] = [];
    client.on('message', (m) => got.push(m));
    await client.connect();
    return { client, got };
  }
  const bodies = (got: Msg[], conv: string) => got.filter((m) => m.conv === conv).map((m) => m.body);

  it('large groups – members online while a group grows past the threshold keep receiving its messages live, and so does the newcomer', async () => {
    const conv = 'grows';
    expect((await c.api('POST', '/v1/conversations', { kind: 'group', conv, owner: 'gaby', members: ['gus', 'gil'] })).status).toBe(201);
    const gaby = await online('gaby', 'l1');
    const gus = await online('gus', 'l2');
    const gil = await online('gil', 'l1');
    await gaby.client.send(conv, 'small');
    await waitUntil(() => bodies(gus.got, conv).includes('small') && bodies(gil.got, conv).includes('small'), 'the small-group message');

    expect((await c.api('POST', `/v1/conversations/${conv}/members`, { add: ['gwen'] })).body).toMatchObject({ added: ['gwen'] });
    const gwen = await online('gwen', 'l2');
    await gaby.client.send(conv, 'large one');
    await gus.client.send(conv, 'large two');
    for (const [who, x] of [['gus', gus], ['gil', gil], ['gwen', gwen]] as const) {
      await waitUntil(() => bodies(x.got, conv).includes('large one'), `"large one" reaching ${who}`);
    }
    for (const [who, x] of [['gaby', gaby], ['gil', gil], ['gwen', gwen]] as const) {
      await waitUntil(() => bodies(x.got, conv).includes('large two'), `"large two" reaching ${who}`);
    }
    // In order, once each (gus sent "large two" himself: his own message is linked from its `sent`).
    expect(bodies(gil.got, conv)).toEqual(['small', 'large one', 'large two']);
  }, 60_000);

  it('large groups – a member removed from a large group hears nothing more of it; the others still do', async () => {
    const conv = 'shrinks';
    expect((await c.api('POST', '/v1/conversations', { kind: 'group', conv, owner: 'hal', members: ['hana', 'hugo', 'hedy'] })).status).toBe(201);
    const hal = await online('hal', 'l1');
    const hana = await online('hana', 'l2');
    const hedy = await online('hedy', 'l1');
    await hal.client.send(conv, 'to all four');
    await waitUntil(() => bodies(hana.got, conv).includes('to all four') && bodies(hedy.got, conv).includes('to all four'), 'the first message');

    await c.api('POST', `/v1/conversations/${conv}/members`, { remove: ['hana'] });
    await hal.client.send(conv, 'after hana left');
    await waitUntil(() => bodies(hedy.got, conv).includes('after hana left'), 'the message after the removal');
    await sleep(1000);
    expect(bodies(hana.got, conv)).toEqual(['to all four']);
  }, 60_000);

  it('large groups – typing reaches the other members, not the typist\'s own devices (as in a small group)', async () => {
    const conv = 'types';
    expect((await c.api('POST', '/v1/conversations', { kind: 'group', conv, owner: 'tao', members: ['tess', 'tim', 'toby'] })).status).toBe(201);
    const tao = await online('tao', 'l1');
    const tess = await online('tess', 'l2');
    const laptop = new ImClient({ endpoints: [c.gateways.get('l2')!], token: c.token('tao', 'laptop'), WebSocket: WebSocket as never, history: 'all' });
    clients.push(laptop);
    await laptop.connect();
    const typing = { tess: [] as string[], laptop: [] as string[] };
    tess.client.on('typing', (t) => typing.tess.push(t.from));
    laptop.on('typing', (t) => typing.laptop.push(t.from));
    // Bound once a message reaches them through the subject.
    await tao.client.send(conv, 'hello all');
    await waitUntil(() => bodies(tess.got, conv).includes('hello all'), 'the first message');
    await sleep(LARGE_BIND_GRACE_MS);
    tao.client.typing(conv);
    await waitUntil(() => typing.tess.length === 1, 'tess hearing tao type');
    await sleep(500);
    expect(typing).toEqual({ tess: ['tao'], laptop: [] });
  }, 60_000);

  it('large groups – a session still bound to a large group its user is no longer in is unbound when its connector restarts', async () => {
    const conv = 'stale';
    expect((await c.api('POST', '/v1/conversations', { kind: 'group', conv, owner: 'sam', members: ['sid', 'sue', 'sol'] })).status).toBe(201);
    const createdAt = Date.now();
    const sam = await online('sam', 'l1');
    const sol = await online('sol', 'l2');
    const sue = await online('sue', 'l2');
    await sue.client.send(conv, 'one');
    await waitUntil(() => bodies(sam.got, conv).includes('one'), '"one" reaching sam');
    // Sam leaves in a way his connector never hears of (as when its notice is lost): only Postgres knows.
    await c.db.sql`DELETE FROM members WHERE conv_id = ${conv} AND uid = 'sam'`;
    // His connector starts again on the other node; the gateway attaches his session there afresh.
    const shard = shardOf('sam', SHARDS);
    const [row] = await c.db.sql<{ owner: string }[]>`SELECT owner FROM shards WHERE kind = 'connector' AND shard = ${shard}`;
    const moved = await c.imctl('move', 'connector', String(shard), row!.owner === 'l1' ? 'l2' : 'l1');
    expect(moved.code).toBe(0);
    await sleep(2000);
    // The chatter never heard of the removal either (only Postgres did), and for a while after creating a large
    // group it also delivers through the members' connectors: past that, only the gateway's binding is left to test.
    await sleep(Math.max(0, createdAt + LARGE_BIND_GRACE_MS + 500 - Date.now()));
    await sue.client.send(conv, 'two');
    await waitUntil(() => bodies(sol.got, conv).includes('two'), '"two" reaching sol');
    await sleep(1000);
    expect(bodies(sam.got, conv)).toEqual(['one']);
  }, 60_000);

  it('large groups – a large group created while its members are online reaches them live from its first message', async () => {
    const conv = 'born-large';
    const [kai, kim, kit] = [await online('kai', 'l1'), await online('kim', 'l2'), await online('kit', 'l1')];
    expect((await c.api('POST', '/v1/conversations', { kind: 'group', conv, owner: 'kai', members: ['kim', 'kit', 'kip'] })).status).toBe(201);
    await kai.client.send(conv, 'welcome');
    await waitUntil(() => bodies(kim.got, conv).includes('welcome') && bodies(kit.got, conv).includes('welcome'), '"welcome" reaching kim and kit');
  }, 60_000);

  it('large groups – members are not pushed every message, but those a message mentions or replies to are, and the author of a message reacted to', async () => {
    const pushes = await c.collect<PushEvent>(EventSubject.PUSH);
    const conv = 'named';
    expect((await c.api('POST', '/v1/conversations', { kind: 'group', conv, owner: 'nia', members: ['ned', 'nel', 'nik', 'nor'] })).status).toBe(201);
    // Past the bind grace, while which the connectors deliver too (and so push everyone offline).
    await sleep(LARGE_BIND_GRACE_MS + 300);
    const nor = await online('nor', 'l2');
    const said = await nor.client.send(conv, 'first!');
    nor.client.close();
    const nia = await online('nia', 'l1');
    const ned = await online('ned', 'l2');
    const named = await nia.client.send(conv, '@nel @ned look', { mentions: ['nel', 'ned', 'nobody'] });
    await nia.client.send(conv, 'nothing for anyone');
    const r = await ned.client.react(conv, said.seq, '🎉');
    const answer = await ned.client.send(conv, '@nel welcome', { reply: said.seq, mentions: ['nel'] });
    // Each member's push events come from their own connector (maybe on another node): wait for all, then a little more.
    const pushed = (seq: number, uid: string) => pushes.some((p) => p.conv === conv && p.seq === seq && p.uid === uid);
    await waitUntil(() => pushed(r.seq, 'nor') && pushed(named.seq, 'nel') && pushed(answer.seq, 'nor') && pushed(answer.seq, 'nel'), 'nel and nor pushed');
    await sleep(200);
    expect(pushes.filter((p) => p.conv === conv).sort((a, b) => a.seq - b.seq || a.uid.localeCompare(b.uid))).toEqual([
      { type: 'push', uid: 'nel', conv, seq: named.seq, from: 'nia', mentioned: true },
      { type: 'push', uid: 'nor', conv, seq: r.seq, from: 'ned', reaction: { seq: said.seq, emoji: '🎉' } },
      { type: 'push', uid: 'nel', conv, seq: answer.seq, from: 'ned', mentioned: true },
      { type: 'push', uid: 'nor', conv, seq: answer.seq, from: 'ned', mentioned: true },
    ]);
  });

  it('groups – a group at its most members refuses more with 409 limit_reached, and its chatter goes on with the members it has', async () => {
    const conv = 'full';
    const members = ['fa2', 'fa3', 'fa4', 'fa5', 'fa6'];
    expect((await c.api('POST', '/v1/conversations', { kind: 'group', conv, owner: 'fa1', members })).status).toBe(201);
    const refused = await c.api('POST', `/v1/conversations/${conv}/members`, { add: ['fa7'] });
    expect(refused).toEqual({ status: 409, body: { code: 'limit_reached', message: `a group may have at most ${MAX_GROUP} members; it has ${MAX_GROUP} and 1 would join: nothing was changed` } });
    expect((await c.api('POST', '/v1/conversations', { kind: 'group', owner: 'fb1', members: ['fb2', 'fb3', 'fb4', 'fb5', 'fb6', 'fb7'] })).status).toBe(409);
    const shown = await c.api('GET', `/v1/conversations/${conv}`);
    expect((shown.body['members'] as { uid: string }[]).map((m) => m.uid)).toEqual(['fa1', ...members]);
    expect(shown.body['more']).toBe(false);
    // The server API pages the members by uid: a group may have far too many for one answer.
    const page = async (query: string) => {
      const r = await c.api('GET', `/v1/conversations/${conv}?${query}`);
      return { status: r.status, uids: ((r.body['members'] ?? []) as { uid: string }[]).map((m) => m.uid), more: r.body['more'], code: r.body['code'] };
    };
    expect(await page('limit=2')).toEqual({ status: 200, uids: ['fa1', 'fa2'], more: true, code: undefined });
    expect(await page('limit=2&after=fa2')).toEqual({ status: 200, uids: ['fa3', 'fa4'], more: true, code: undefined });
    expect(await page('limit=10&after=fa4')).toEqual({ status: 200, uids: ['fa5', 'fa6'], more: false, code: undefined });
    expect(await page('limit=0')).toMatchObject({ status: 400, code: 'invalid_field' });
    expect(await page('limit=10001')).toMatchObject({ status: 400, code: 'invalid_field' });
    expect(await page('after=')).toMatchObject({ status: 400, code: 'invalid_field' });
    const fa1 = await online('fa1', 'l1');
    const fa6 = await online('fa6', 'l2');
    await fa1.client.send(conv, 'still here');
    await waitUntil(() => bodies(fa6.got, conv).includes('still here'), '"still here" reaching fa6');
  }, 60_000);

  it('groups – creating a group again with more members adds them, and they can talk at once', async () => {
    const conv = 'again';
    await c.api('POST', '/v1/conversations', { kind: 'group', conv, owner: 'abe', members: ['amy'] });
    const abe = await online('abe', 'l1');
    const ada = await online('ada', 'l2');
    await abe.client.send(conv, 'two of us');
    expect((await c.api('POST', '/v1/conversations', { kind: 'group', conv, owner: 'abe', members: ['ada'] })).body).toEqual({ conv, kind: 'group' });
    await ada.client.send(conv, 'ada here');
    await waitUntil(() => bodies(abe.got, conv).includes('ada here'), '"ada here" reaching abe');
  }, 60_000);

  it('large groups – changing the threshold with imctl moves a group between the two ways live, and no member misses a message', async () => {
    const conv = 'flip';
    expect((await c.api('POST', '/v1/conversations', { kind: 'group', conv, owner: 'fay', members: ['fin', 'flo'] })).status).toBe(201);
    const [fay, flo] = [await online('fay', 'l1'), await online('flo', 'l1')];
    // fog and fum never connect: a small group's messages raise push events for them, a large group's (unnamed) none.
    expect((await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'flip-push', owner: 'fix', members: ['fog', 'fum'] })).status).toBe(201);
    // A system message through the server API: from nobody online, so every member is offline to it.
    const post = async (body: string) => expect((await c.api('POST', '/v1/conversations/flip-push/messages', { body })).status).toBe(201);
    const pushes = await c.collect<PushEvent>(EventSubject.PUSH);
    const fogPushes = () => pushes.filter((p) => p.uid === 'fog' && p.conv === 'flip-push').length;
    // A bare client on the other gateway: it never pulls, so what it has came live (a re-sync alone would not do).
    const fin = await rawConnect(c.gateways.get('l2')!, c.token('fin', 'phone'));
    await fin.waitFor((f) => f.type === 'convs');
    const live = (body: string) => fin.frames.some((f) => f.type === 'msg' && f.conv === conv && f.body === body);
    // The conversation's own subject: a large group's messages are published there, a small group's never.
    let published = 0;
    const tap = c.nc.subscribe(conversationSubject(conv), { callback: () => void published++ });
    await c.nc.flush();
    let n = 0;
    const say = async (): Promise<string> => {
      const body = `m${++n}`;
      await fay.client.send(conv, body);
      await waitUntil(() => bodies(flo.got, conv).includes(body), `"${body}" reaching flo`);
      await waitUntil(() => live(body), `"${body}" pushed to fin`);
      return body;
    };
    try {
      await say();
      expect(published).toBe(0);
      await post('small');
      await waitUntil(() => fogPushes() === 1, 'a push event for fog');

      // 3 members > 2: large from now on, without a restart; messages sent at once still reach everyone.
      // imctl waits for both nodes' heartbeats to report the new value.
      expect((await c.imctl('settings', 'set', 'large-group', '2')).stdout).toContain('applied by 2 of 2 live node(s): l1, l2');
      await say();
      await say();
      // Within the grace every member's connector is told as well, but a large group notifies only those a message names.
      await post('large, in the grace');
      // Past the grace in which the chatter also goes through the connectors: only the gateways' bindings deliver.
      await sleep(LARGE_GROUP_CHANGE_GRACE_MS + 1000);
      const before = published;
      await say();
      await say();
      expect(published).toBe(before + 2);

      // And back: small again, delivered through the connectors, nothing on the subject.
      await c.imctl('settings', 'set', 'large-group', String(LARGE_GROUP));
      await sleep(500);
      const after = published;
      await say();
      await sleep(REBIND_DELAY_MS + 500); // the gateways have unbound the sessions by now
      await say();
      expect(published).toBe(after);
      // Every message once and in order through both changes.
      expect(bodies(flo.got, conv)).toEqual(Array.from({ length: n }, (_, i) => `m${i + 1}`));
      // Small again: fog is notified again, and only of the two small-group messages (the push events of the one
      // in the grace would have come seconds before this one).
      await post('small again');
      await waitUntil(() => fogPushes() === 2, 'the second push event for fog');
      await sleep(300);
      expect(pushes.filter((p) => p.uid === 'fog' && p.conv === 'flip-push').map((p) => p.seq)).toHaveLength(2);
    } finally {
      tap.unsubscribe();
      fin.close();
      await c.imctl('settings', 'set', 'large-group', String(LARGE_GROUP));
    }
  }, 90_000);

  it('imctl – locate names the shard and node serving a conversation or a user, with what Postgres holds of them', async () => {
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'findme', owner: 'fay', members: ['fox'], title: 'Finders' });
    const sent = await c.api('POST', '/v1/conversations/findme/messages', { body: 'hi' });
    const row = async (kind: string, key: string) => (await c.db.sql<{ shard: number; owner: string; epoch: number }[]>`SELECT shard, owner, epoch FROM shards WHERE kind = ${kind} AND shard = ${shardOf(key, SHARDS)}`)[0]!;
    const conv = await c.imctl('locate', 'conv', 'findme', '--json');
    expect(conv.code, conv.stderr).toBe(0);
    expect(JSON.parse(conv.stdout)).toEqual({ conv: 'findme', actor: 'chatter', ...(await row('chatter', 'findme')), state: 'active', exists: true, kind: 'group', title: 'Finders', members: 2, lastSeq: sent.body['seq'] });
    const user = await c.imctl('locate', 'user', 'fox');
    expect(user.code, user.stderr).toBe(0);
    const at = await row('connector', 'fox');
    expect(user.stdout).toMatch(new RegExp(`connector fox\\s+${at.shard}\\s+${at.owner}\\s+${at.epoch}\\s+active`));
    expect(user.stdout).toContain('conversations 1');
    expect(JSON.parse((await c.imctl('locate', 'conv', 'nowhere', '--json')).stdout)).toMatchObject({ actor: 'chatter', exists: false });
    expect((await c.imctl('locate', 'room', 'x')).code).toBe(2);
  });

  it('cluster – a node whose shard function differs from the one the cluster was created with is refused before it joins', async () => {
    // As a node of another version would see it: the cluster recorded another function's fingerprint.
    await c.db.sql`UPDATE cluster_settings SET value = to_jsonb('0.0.0'::text) WHERE key = 'shard-function'`;
    const logDir = path.join(c.logDir, 'other-hash');
    try {
      const outcome = await spawnNodeProcess({ nodeId: 'l8', natsUrl: c.nats.url, databaseUrl: c.db.url, args: ['--shards', String(SHARDS)], logDir }).then(
        async (p) => {
          await p.stop(2000); // a regression must not leave it running
          return 'it started';
        },
        (err: Error) => err.message,
      );
      expect(outcome).toMatch(/exited \(2\) before it was ready/);
      expect(await readFile(path.join(logDir, 'l8.log'), 'utf8')).toContain('shard function differs from the one this cluster was created with');
      expect(JSON.parse((await c.imctl('nodes', '--json')).stdout).nodes.map((n: { nodeId: string }) => n.nodeId).sort()).toEqual(['l1', 'l2']);
    } finally {
      await c.db.sql`UPDATE cluster_settings SET value = to_jsonb(${shardFunctionFingerprint()}::text) WHERE key = 'shard-function'`;
    }
  }, 60_000);

  it('large groups – a node started with another --large-group than the cluster runs with the cluster’s value; imctl shows and changes it', async () => {
    const logDir = path.join(c.logDir, 'mismatch');
    const l9 = await spawnNodeProcess({ nodeId: 'l9', natsUrl: c.nats.url, databaseUrl: c.db.url, args: ['--shards', String(SHARDS)], logDir });
    try {
      expect(await readFile(path.join(logDir, 'l9.log'), 'utf8')).toContain(`--large-group is 100 on this node but ${LARGE_GROUP} in this cluster (imctl settings set changed it): using ${LARGE_GROUP}`);
      expect(JSON.parse((await c.imctl('nodes', '--json')).stdout).nodes.map((n: { nodeId: string }) => n.nodeId).sort()).toEqual(['l1', 'l2', 'l9']);
    } finally {
      await l9.stop(10_000);
    }

    const settings = async () => JSON.parse((await c.imctl('settings', '--json')).stdout).settings as { name: string; value: string }[];
    expect(await settings()).toEqual([
      expect.objectContaining({ name: 'edit-window', value: '900', changeable: true }),
      expect.objectContaining({ name: 'large-group', value: String(LARGE_GROUP), changeable: true }),
      expect.objectContaining({ name: 'max-token-lifetime', value: String(30 * 24 * 3600), changeable: true }),
      expect.objectContaining({ name: 'message-retention', value: '0', changeable: true }),
      expect.objectContaining({ name: 'recall-window', value: '120', changeable: true }),
      expect.objectContaining({ name: 'shard-function', value: shardFunctionFingerprint(), changeable: false }),
      expect.objectContaining({ name: 'shards.chatter', value: String(SHARDS), changeable: false }),
      expect.objectContaining({ name: 'shards.connector', value: String(SHARDS), changeable: false }),
    ]);
    for (const wrong of ['large-grup', 'shards.chatter', 'shard-function']) {
      const refused = await c.imctl('settings', 'set', wrong, '5');
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain(`no cluster setting "${wrong}" that can be changed`);
    }
    expect((await c.imctl('settings', 'set', 'large-group', 'many')).stderr).toContain('must be an integer ≥ 1');
    expect((await c.imctl('settings', 'set', 'large-group', '0')).stderr).toContain('must be an integer ≥ 1');
    // A token that lives two days is taken while the cluster allows 30, and refused by every gateway once it allows one.
    const twoDays = c.token('tia', 'phone', 2 * 86_400);
    (await rawConnect(c.gateways.get('l2')!, twoDays)).close();
    try {
      expect((await c.imctl('settings', 'set', 'max-token-lifetime', '86400')).stdout).toContain('every node applies it now');
      const shown = JSON.parse((await c.imctl('settings', '--json')).stdout) as { nodes: { nodeId: string; settings: Record<string, string> }[] };
      expect(shown.nodes.map((n) => [n.nodeId, n.settings['max-token-lifetime'], n.settings['large-group']]).sort()).toEqual([
        ['l1', '86400', String(LARGE_GROUP)],
        ['l2', '86400', String(LARGE_GROUP)],
      ]);
      expect((await settings())[2]).toMatchObject({ name: 'max-token-lifetime', value: '86400' });
      expect((await settings())[6]).toMatchObject({ name: 'shards.chatter', value: String(SHARDS) });
      for (const gw of ['l1', 'l2']) {
        await waitUntil(
          () => rawConnect(c.gateways.get(gw)!, twoDays).then((x) => (x.close(), false), (err: { status?: number }) => err.status === 401),
          `${gw} refusing the two-day token`,
        );
      }
    } finally {
      await c.imctl('settings', 'set', 'max-token-lifetime', String(30 * 24 * 3600));
    }
    await waitUntil(() => rawConnect(c.gateways.get('l1')!, twoDays).then((x) => (x.close(), true), () => false), 'l1 taking the two-day token again');
  }, 60_000);
});
