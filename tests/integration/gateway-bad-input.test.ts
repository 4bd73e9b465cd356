import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encode } from '../../protocol/codec.js';
import type { ServerFrameOf } from '../../protocol/frames.js';
import { signToken } from '../../protocol/token.js';
import { startChatCluster, type ChatCluster } from '../helpers/chat-cluster.js';
import { rawConnect, type RawClient } from '../helpers/raw-client.js';

type Err = ServerFrameOf<'error'>;
const isError = (code: string) => (f: { type: string; code?: string }) => f.type === 'error' && f.code === code;

describe('gateway – bad input', () => {
  let c: ChatCluster;
  let url: string;
  let group: string;
  let bystander: RawClient;
  let bystanderPeer: RawClient;
  let bystanderCid = 0;

  /** The bystander and its peer on the same process keep chatting: nothing a bad client does reaches them. */
  const bystanderRoundTrip = async (): Promise<void> => {
    const cid = ++bystanderCid;
    bystander.send({ type: 'send', conv: group, cid, body: `still here ${cid}` });
    const sent = await bystander.waitFor<ServerFrameOf<'sent'>>((f) => f.type === 'sent' && f.cid === cid);
    await bystanderPeer.waitFor((f) => f.type === 'msg' && f.seq === sent.seq);
  };

  beforeAll(async () => {
    c = await startChatCluster({
      nodes: ['n1'],
      args: ['--rate', '20', '--rate-burst', '20', '--rate-close-after', '2', '--client-heartbeat-ms', '2000', '--max-frame-bytes', '8192', '--max-user-conversations', '3'],
      nodeArgs: { n1: ['--max-connections', '6'] },
    });
    url = c.gateways.get('n1')!;
    const r = await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'room', owner: 'by', members: ['stander', 'mallory'] });
    group = r.body['conv'] as string;
    bystander = await rawConnect(url, c.token('by', 'by-1'));
    bystanderPeer = await rawConnect(url, c.token('stander', 'st-1'));
    await bystanderPeer.waitFor((f) => f.type === 'convs');
    // Raw clients do not ping by themselves.
    const keepAlive = setInterval(() => {
      bystander.send({ type: 'ping' });
      bystanderPeer.send({ type: 'ping' });
    }, 1000);
    keepAlive.unref();
  }, 60_000);

  afterAll(async () => {
    await c?.stop();
  }, 30_000);

  it('gateway – a missing, forged or expired token is refused at upgrade with 401 and a JSON code', async () => {
    await expect(rawConnect(url)).rejects.toMatchObject({ status: 401, body: expect.stringContaining('"unauthorized"') });
    await expect(rawConnect(url, signToken({ sub: 'x', did: 'y', ttlSec: 60 }, 'wrong-secret'))).rejects.toMatchObject({ status: 401, body: expect.stringContaining('"unauthorized"') });
    const expired = signToken({ sub: 'x', did: 'y', ttlSec: 60 }, 'natsim-dev-secret-change-me', Math.floor(Date.now() / 1000) - 3600);
    await expect(rawConnect(url, expired)).rejects.toMatchObject({ status: 401, body: expect.stringContaining('"token_expired"') });
    // Longer-lived than the server allows (30 days by default), or with no iat to tell: a revocation could not be
    // forgotten safely, so such tokens are refused.
    const everlasting = signToken({ sub: 'x', did: 'y', ttlSec: 31 * 24 * 3600 }, 'natsim-dev-secret-change-me');
    await expect(rawConnect(url, everlasting)).rejects.toMatchObject({ status: 401, body: expect.stringContaining('maximum of 2592000 seconds') });
    await bystanderRoundTrip();
  });

  it('gateway – undecodable bytes and text messages get bad_frame and close 4000', async () => {
    const m = await rawConnect(url, c.token('mallory', 'm-1'));
    m.sendBytes(new Uint8Array([0xc1, 0xff, 0x00]));
    await m.waitFor(isError('bad_frame'));
    expect((await m.closed).code).toBe(4000);
    const t = await rawConnect(url, c.token('mallory', 'm-2'));
    t.sendBytes('{"type":"send"}');
    expect((await t.closed).code).toBe(4000);
    await bystanderRoundTrip();
  });

  it('gateway – unknown types and missing fields are answered with coded errors and the socket stays open', async () => {
    const m = await rawConnect(url, c.token('mallory', 'm-3'));
    m.send({ type: 'teleport', conv: group });
    await m.waitFor(isError('unknown_type'));
    m.send({ type: 'send', conv: group, cid: 7 });
    const e = await m.waitFor<Err>(isError('invalid_field'));
    expect(e.cid).toBe(7);
    m.send({ type: 'ping', ts: 42 });
    await m.waitFor((f) => f.type === 'pong' && f.ts === 42);
    // A bare ping is answered from its bytes alone; the same ping with a stray field still goes through validation.
    m.send({ type: 'ping' });
    await m.waitFor((f) => f.type === 'pong' && f.ts === undefined);
    m.send({ type: 'ping', ts: 'soon' });
    await m.waitFor(isError('invalid_field'));
    m.close();
    await bystanderRoundTrip();
  });

  it('gateway – a frame over the size limit closes with 1009', async () => {
    const m = await rawConnect(url, c.token('mallory', 'm-4'));
    m.sendBytes(encode({ type: 'send', conv: group, cid: 1, body: 'x'.repeat(10_000) }));
    await m.waitFor(isError('frame_too_large'));
    expect((await m.closed).code).toBe(1009);
    await bystanderRoundTrip();
  });

  it('gateway – sending where you are not a member is refused with not_member and nothing is stored', async () => {
    const outsider = await rawConnect(url, c.token('eve', 'e-1'));
    outsider.send({ type: 'send', conv: group, cid: 1, body: 'let me in' });
    const e = await outsider.waitFor<Err>(isError('not_member'));
    expect(e.cid).toBe(1);
    outsider.send({ type: 'pull', rid: 5, conv: group, after: 0, limit: 10 });
    expect((await outsider.waitFor<Err>((f) => f.type === 'error' && f.rid === 5)).code).toBe('not_member');
    const rows = await c.db.sql`SELECT count(*)::int AS n FROM messages WHERE sender_uid = 'eve'`;
    expect(rows[0]!['n']).toBe(0);
    outsider.close();
    await bystanderRoundTrip();
  });

  it('gateway – acking seqs never delivered gets invalid_field, acking a stranger conversation not_member', async () => {
    const m = await rawConnect(url, c.token('mallory', 'm-5'));
    await m.waitFor((f) => f.type === 'convs');
    m.send({ type: 'ack', conv: group, seq: 9_000_000_000 });
    await m.waitFor(isError('invalid_field'));
    m.send({ type: 'ack', conv: 'not-mine', seq: 1 });
    await m.waitFor(isError('not_member'));
    m.close();
    await bystanderRoundTrip();
  });

  it.each([
    ['frames', 'm-6', (m: RawClient) => m.send({ type: 'ping' })],
    // uWS answers PINGs itself: they count as frames all the same.
    ['WebSocket PINGs', 'm-wsping', (m: RawClient) => m.ws.ping()],
  ])('gateway – a flood of %s gets rate_limited errors, then close 4008 when it does not slow down', async (_what, did, one) => {
    const m = await rawConnect(url, c.token('mallory', did));
    await m.waitFor((f) => f.type === 'convs');
    const flood = setInterval(() => {
      for (let i = 0; i < 20; i++) if (m.ws.readyState === m.ws.OPEN) one(m);
    }, 50);
    await m.waitFor(isError('rate_limited'));
    const closed = await m.closed;
    clearInterval(flood);
    expect(closed.code).toBe(4008);
    await bystanderRoundTrip();
  }, 20_000);

  it('gateway – a device that reconnects keeps its rate bucket: a new connection buys no fresh burst', async () => {
    const first = await rawConnect(url, c.token('mallory', 'm-again'));
    await first.waitFor((f) => f.type === 'convs');
    for (let i = 0; i < 20; i++) first.send({ type: 'ping' });
    await first.waitFor((f) => f.type === 'pong');
    const second = await rawConnect(url, c.token('mallory', 'm-again'));
    expect((await first.closed).code).toBe(4012);
    await second.waitFor((f) => f.type === 'convs');
    for (let i = 0; i < 10; i++) second.send({ type: 'ping' });
    await second.waitFor(isError('rate_limited'), 3_000);
    second.close();
    await bystanderRoundTrip();
  });

  it('gateway – pulls past the number one connection may have under way are refused with overloaded before any read; the others are answered', async () => {
    const puller = await rawConnect(url, c.token('mallory', 'm-pull'));
    await puller.waitFor((f) => f.type === 'convs');
    for (let rid = 1; rid <= 20; rid++) puller.send({ type: 'pull', rid, conv: group, after: 0, limit: 200 });
    const answers = (await Promise.all(Array.from({ length: 20 }, (_, i) => puller.waitFor((f) => (f.type === 'history' || f.type === 'error') && (f as { rid?: number }).rid === i + 1)))) as { type: string; code?: string }[];
    const refused = answers.filter((a) => a.type === 'error');
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.every((a) => a.code === 'overloaded')).toBe(true);
    expect(answers.filter((a) => a.type === 'history').length).toBeGreaterThanOrEqual(16);
    puller.close();
    await bystanderRoundTrip();
  });

  it('gateway – syncs past the two one connection may have under way are refused with overloaded by rid; the others are answered', async () => {
    const syncer = await rawConnect(url, c.token('mallory', 'm-sync'));
    await syncer.waitFor((f) => f.type === 'convs');
    for (let rid = 1; rid <= 8; rid++) syncer.send({ type: 'sync', rid });
    const answers = (await Promise.all(Array.from({ length: 8 }, (_, i) => syncer.waitFor((f) => (f.type === 'convs' || f.type === 'error') && (f as { rid?: number }).rid === i + 1)))) as { type: string; code?: string }[];
    const refused = answers.filter((a) => a.type === 'error');
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.every((a) => a.code === 'overloaded')).toBe(true);
    expect(answers.filter((a) => a.type === 'convs').length).toBeGreaterThanOrEqual(2);
    // Once those are answered, a sync goes through again.
    syncer.send({ type: 'sync', rid: 9 });
    await syncer.waitFor((f) => f.type === 'convs' && (f as { rid?: number }).rid === 9);
    syncer.close();
    await bystanderRoundTrip();
  });

  it('gateway – hides past the 16 one connection may have under way are refused with overloaded by rid; the others are answered', async () => {
    const reader = await rawConnect(url, c.token('mallory', 'm-reads'));
    await reader.waitFor((f) => f.type === 'convs');
    // Within the burst (20 here); sent at once, every frame is taken before any read is answered.
    const n = 19;
    for (let rid = 1; rid <= n; rid++) reader.send({ type: 'hides', rid, conv: 'room' });
    const answers = (await Promise.all(Array.from({ length: n }, (_, i) => reader.waitFor((f) => (f.type === 'hidden' || f.type === 'error') && (f as { rid?: number }).rid === i + 1)))) as { type: string; code?: string }[];
    const refused = answers.filter((a) => a.type === 'error');
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.every((a) => a.code === 'overloaded')).toBe(true);
    expect(answers.filter((a) => a.type === 'hidden').length).toBeGreaterThanOrEqual(16);
    reader.send({ type: 'hides', rid: n + 1, conv: 'room' });
    await reader.waitFor((f) => f.type === 'hidden' && (f as { rid?: number }).rid === n + 1);
    reader.close();
    await bystanderRoundTrip();
  });

  it('gateway – a hide or clear writes from the gateway\'s pool too: past 16 of those (with reads) under way it is refused with overloaded', async () => {
    const writer = await rawConnect(url, c.token('mallory', 'm-writes'));
    await writer.waitFor((f) => f.type === 'convs');
    // Within the burst (20 here) and sent at once: most are taken before the first is answered.
    const n = 19;
    for (let rid = 1; rid < n; rid++) writer.send({ type: 'hide', rid, conv: 'room', seqs: [rid] });
    writer.send({ type: 'clear', rid: n, conv: 'room', seq: 1 });
    const answers = (await Promise.all(Array.from({ length: n }, (_, i) => writer.waitFor((f) => (f.type === 'hidden' || f.type === 'cleared' || f.type === 'error') && (f as { rid?: number }).rid === i + 1)))) as { type: string; code?: string }[];
    const refused = answers.filter((a) => a.type === 'error');
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.every((a) => a.code === 'overloaded')).toBe(true);
    expect(answers.filter((a) => a.type !== 'error').length).toBeGreaterThanOrEqual(16);
    writer.close();
    await bystanderRoundTrip();
  });

  it('gateway – a silent connection is closed with 4009 after 2.5 heartbeats', async () => {
    const m = await rawConnect(url, c.token('mallory', 'm-7'));
    const t0 = Date.now();
    expect((await m.closed).code).toBe(4009);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(4000);
    await bystanderRoundTrip();
  }, 20_000);

  it('gateway – WebSocket PINGs alone keep a connection open (a native client\'s keep-alive), as any frame does', async () => {
    const m = await rawConnect(url, c.token('mallory', 'm-8'));
    const closed = { code: 0 };
    void m.closed.then((x) => (closed.code = x.code));
    // 2.5 heartbeats are 5 s here: 7 s of PINGs only, one a second.
    for (let i = 0; i < 7; i++) {
      m.ws.ping();
      await new Promise((r) => setTimeout(r, 1000));
    }
    expect(closed.code).toBe(0);
    m.close();
  }, 20_000);

  it('server API – a malformed conversation or user id, in the path or the body, is refused with 400 invalid_field (not 503 "retry")', async () => {
    const path = await c.api('POST', '/v1/conversations/%01x/messages', { body: 'x' });
    expect(path).toMatchObject({ status: 400, body: { code: 'invalid_field' } });
    expect(path.body['message']).toContain('conv');
    const long = await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'a'.repeat(129), owner: 'o' });
    expect(long).toMatchObject({ status: 400, body: { code: 'invalid_field' } });
    expect(await c.api('GET', '/v1/users/%7F/blocks')).toMatchObject({ status: 400, body: { code: 'invalid_field' } });
    expect((await c.api('POST', '/v1/conversations/room/messages', { body: 'fine' })).status).toBe(201);
  });

  it('server API – text holding a lone surrogate (no character in UTF-8) is refused with 400 invalid_field and nothing is stored', async () => {
    // JSON can carry one (a frame cannot: the decoder turns such bytes into U+FFFD).
    const stored = async (): Promise<number> => (await c.db.sql`SELECT count(*)::int AS n FROM messages WHERE conv_id = ${group} AND sender_did = 'system'`)[0]!['n'] as number;
    const before = await stored();
    const api = await c.api('POST', `/v1/conversations/${group}/messages`, { body: 'a\udc00b' });
    expect(api).toMatchObject({ status: 400, body: { code: 'invalid_field' } });
    expect(api.body['message']).toContain('surrogate');
    expect(await c.api('POST', `/v1/conversations/${group}`, { title: '\ud83d' })).toMatchObject({ status: 400, body: { code: 'invalid_field' } });
    expect(await c.api('POST', `/v1/conversations/${group}`, { meta: 'x\ud83d' })).toMatchObject({ status: 400, body: { code: 'invalid_field' } });
    expect(await stored()).toBe(before);
    // A valid pair (an emoji) is text like any other.
    expect((await c.api('POST', `/v1/conversations/${group}/messages`, { body: 'a\ud83d\ude00b' })).status).toBe(201);
    expect(await stored()).toBe(before + 1);
    await bystanderRoundTrip();
  });

  it('server API – a title, meta or emoji holding U+0000 (Postgres text holds none) is refused with 400 invalid_field, not a storage error; a message body may hold it', async () => {
    const nul = { status: 400, body: { code: 'invalid_field', message: expect.stringContaining('NUL') } };
    expect(await c.api('POST', `/v1/conversations/${group}`, { title: 'a\u0000b' })).toMatchObject(nul);
    expect(await c.api('POST', `/v1/conversations/${group}`, { meta: '\u0000' })).toMatchObject(nul);
    expect(await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'nul-title', owner: 'o', title: 'x\u0000' })).toMatchObject(nul);
    expect((await c.db.sql`SELECT 1 FROM conversations WHERE conv_id = 'nul-title'`).length).toBe(0);
    const sent = await c.api('POST', `/v1/conversations/${group}/messages`, { body: 'a\u0000b' });
    expect(sent.status).toBe(201);
    const seq = sent.body['seq'] as number;
    const history = await c.api('GET', `/v1/conversations/${group}/messages?after=${seq - 1}&limit=1`);
    expect((history.body['messages'] as { body: string }[])[0]!.body).toBe('a\u0000b');
    expect(await c.api('GET', `/v1/conversations/${group}/messages/${seq}/reactions?emoji=%00`)).toMatchObject(nul);
    expect(await c.api('GET', `/v1/conversations/${group}/messages/${seq}/reactions?emoji=${encodeURIComponent('👍')}`)).toMatchObject({ status: 200, body: { reactors: [] } });
    await bystanderRoundTrip();
  });

  it('server API – a user already in the most conversations allowed is refused with 409 limit_reached, and nothing changes', async () => {
    for (const conv of ['lim-1', 'lim-2', 'lim-3']) expect((await c.api('POST', '/v1/conversations', { kind: 'group', conv, owner: 'busy' })).status).toBe(201);
    const group = await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'lim-4', owner: 'host', members: ['busy', 'idle'] });
    expect(group.status).toBe(409);
    expect(group.body).toMatchObject({ code: 'limit_reached' });
    expect(group.body['message']).toContain('busy');
    const direct = await c.api('POST', '/v1/conversations', { kind: 'direct', members: ['busy', 'idle'] });
    expect(direct).toMatchObject({ status: 409, body: { code: 'limit_reached' } });
    const add = await c.api('POST', '/v1/conversations/room/members', { add: ['idle', 'busy'] });
    expect(add).toMatchObject({ status: 409, body: { code: 'limit_reached' } });
    // Nothing of the refused requests was stored: no lim-4, no direct conversation, nobody added to the room.
    const rows = await c.db.sql`SELECT conv_id, uid FROM members WHERE uid IN ('busy', 'idle', 'host') ORDER BY conv_id`;
    expect(rows.map((r) => `${r['conv_id']}:${r['uid']}`)).toEqual(['lim-1:busy', 'lim-2:busy', 'lim-3:busy']);
    // What does not add a conversation to the user is still fine.
    expect((await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'lim-1', owner: 'busy' })).status).toBe(201);
    expect(await c.api('POST', '/v1/conversations/room/members', { add: ['idle'] })).toMatchObject({ status: 200, body: { added: ['idle'] } });
  });

  it('gateway – a statement Postgres refuses answers storage_error by its code only (not Postgres\' words), and the node keeps serving', async () => {
    // A trigger stands for a statement Postgres fails for reasons of its own; its text must stay in the node's log.
    await c.db.sql.unsafe(`
      CREATE FUNCTION refuse_for_test() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'secret detail of table %', TG_TABLE_NAME; END $$;
      CREATE TRIGGER refuse_conv BEFORE INSERT ON conversations FOR EACH ROW WHEN (NEW.conv_id = 'pg-refuses') EXECUTE FUNCTION refuse_for_test();
      CREATE TRIGGER refuse_hide BEFORE INSERT ON hidden_messages FOR EACH ROW WHEN (NEW.uid = 'hider') EXECUTE FUNCTION refuse_for_test();`);
    let hider: RawClient | undefined;
    try {
      const refused = await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'pg-refuses', owner: 'hider' });
      expect(refused).toMatchObject({ status: 500, body: { code: 'storage_error' } });
      expect(JSON.stringify(refused.body)).not.toMatch(/secret|conversations|refuse/);
      expect((await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'pg-takes', owner: 'hider' })).status).toBe(201);
      const seq = (await c.api('POST', '/v1/conversations/pg-takes/messages', { body: 'to hide', from: 'bot' })).body['seq'] as number;
      hider = await rawConnect(url, c.token('hider', 'h-1'));
      await hider.waitFor((f) => f.type === 'convs');
      hider.send({ type: 'hide', rid: 7, conv: 'pg-takes', seqs: [seq] });
      const err = await hider.waitFor<Err>((f) => f.type === 'error' && f.rid === 7);
      expect(err.code).toBe('storage_error');
      expect(err.message).not.toMatch(/secret|hidden_messages|refuse/);
      await bystanderRoundTrip();
    } finally {
      hider?.close();
      await c.db.sql.unsafe(`DROP TRIGGER refuse_conv ON conversations; DROP TRIGGER refuse_hide ON hidden_messages; DROP FUNCTION refuse_for_test()`);
    }
  });

  it('gateway – over its connection limit a node answers 503 overloaded with the other gateways to try (none in this one-node cluster), and serves the others on', async () => {
    const extra: RawClient[] = [];
    let refused: { status?: number; body?: string } | undefined;
    try {
      for (let i = 0; i < 8 && !refused; i++) {
        try {
          extra.push(await rawConnect(url, c.token(`filler${i}`, 'f')));
        } catch (err) {
          refused = err as { status?: number; body?: string };
        }
      }
      expect(refused?.status).toBe(503);
      expect(JSON.parse(refused!.body!)).toEqual({ code: 'overloaded', message: 'this gateway is full', endpoints: [] });
    } finally {
      // Closed whatever failed: a node left at its limit would refuse the tests after this one.
      for (const x of extra) x.close();
    }
    await bystanderRoundTrip();
  });
});
