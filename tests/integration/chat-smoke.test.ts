import { readFile } from 'node:fs/promises';
import path from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImClient } from '../../protocol/sdk/index.js';
import { spawnNodeProcess } from '../../scripts/lib/node-process.js';
import type { ServerFrameOf } from '../../protocol/frames.js';
import { startChatCluster, type ChatCluster } from '../helpers/chat-cluster.js';
import { rawConnect } from '../helpers/raw-client.js';
import { waitUntil } from '../helpers/wait.js';
import { MAX_HISTORY_PAGE_BYTES } from '../../protocol/limits.js';

describe('chat smoke', () => {
  let c: ChatCluster;
  beforeAll(async () => {
    c = await startChatCluster({ nodes: ['n1', 'n2'] });
  }, 60_000);
  afterAll(async () => {
    await c?.stop();
  }, 30_000);

  it('chat – a direct message is acked once durable and delivered to the peer', async () => {
    const created = await c.api('POST', '/v1/conversations', { kind: 'direct', members: ['alice', 'bob'] });
    expect(created.status).toBe(201);
    const conv = created.body['conv'] as string;
    const a = await rawConnect(c.gateways.get('n1')!, c.token('alice', 'a1'));
    const b = await rawConnect(c.gateways.get('n2')!, c.token('bob', 'b1'));
    await a.waitFor((f) => f.type === 'convs');
    await b.waitFor((f) => f.type === 'convs');
    a.send({ type: 'send', conv, cid: 1, body: 'hello bob' });
    const sent = await a.waitFor<ServerFrameOf<'sent'>>((f) => f.type === 'sent');
    expect(sent.seq).toBeGreaterThan(0);
    const msg = await b.waitFor<ServerFrameOf<'msg'>>((f) => f.type === 'msg');
    expect(msg).toMatchObject({ conv, seq: sent.seq, prev: 0, from: 'alice', did: 'a1', cid: 1, body: 'hello bob' });
    a.close();
    b.close();
  }, 30_000);

  it('server API – a conversation and its messages can be read back: members with read marks, pages after or before a seq', async () => {
    const { body } = await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'archive', owner: 'hugo', members: ['ines'] });
    expect(body['conv']).toBe('archive');
    const seqs: number[] = [];
    for (let i = 1; i <= 3; i++) seqs.push((await c.api('POST', '/v1/conversations/archive/messages', { body: `note ${i}`, from: 'bot' })).body['seq'] as number);
    const info = await c.api('GET', '/v1/conversations/archive');
    expect(info.status).toBe(200);
    expect(info.body).toMatchObject({ conv: 'archive', kind: 'group' });
    expect((info.body['members'] as { uid: string; role: string }[]).map((m) => `${m.uid}:${m.role}`)).toEqual(['hugo:owner', 'ines:member']);
    const all = await c.api('GET', '/v1/conversations/archive/messages', undefined, 'n2');
    expect(all.body['more']).toBe(false);
    const msgs = all.body['messages'] as { seq: number; prev: number; from: string; body: string }[];
    expect(msgs.map((m) => [m.seq, m.prev, m.from, m.body])).toEqual(seqs.map((seq, i) => [seq, i === 0 ? 0 : seqs[i - 1], 'bot', `note ${i + 1}`]));
    const first = await c.api('GET', '/v1/conversations/archive/messages?limit=2');
    expect([(first.body['messages'] as { seq: number }[]).map((m) => m.seq), first.body['more']]).toEqual([seqs.slice(0, 2), true]);
    const next = await c.api('GET', `/v1/conversations/archive/messages?after=${seqs[1]}&limit=2`);
    expect([(next.body['messages'] as { seq: number }[]).map((m) => m.seq), next.body['more']]).toEqual([[seqs[2]], false]);
    const back = await c.api('GET', `/v1/conversations/archive/messages?before=${seqs[2]}&limit=1`);
    expect([(back.body['messages'] as { seq: number }[]).map((m) => m.seq), back.body['more']]).toEqual([[seqs[1]], true]);
    expect(await c.api('GET', '/v1/conversations/archive/messages?after=1&before=2')).toMatchObject({ status: 400, body: { code: 'invalid_field' } });
    expect(await c.api('GET', '/v1/conversations/archive/messages?limit=201')).toMatchObject({ status: 400, body: { code: 'invalid_field' } });
    expect(await c.api('GET', '/v1/conversations/nowhere')).toMatchObject({ status: 404, body: { code: 'not_found' } });
  }, 30_000);

  it('chat – a client scrolls back page by page with pull before: the newest older messages first, without skipping or repeating any', async () => {
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'scrollback', owner: 'olga', members: ['piet'] });
    const seqs: number[] = [];
    for (let i = 1; i <= 7; i++) seqs.push((await c.api('POST', '/v1/conversations/scrollback/messages', { body: `old ${i}`, from: 'bot' })).body['seq'] as number);
    // The SDK starts "from now": the old messages come only when asked for, and not as message events.
    const client = new ImClient({ endpoints: [c.gateways.get('n2')!], token: c.token('piet', 'p1'), WebSocket: WebSocket as never });
    const events: unknown[] = [];
    client.on('message', (m) => events.push(m));
    try {
      await client.connect();
      const pages: string[][] = [];
      let before = client.conversations().find((x) => x.conv === 'scrollback')!.lastSeq + 1;
      for (let more = true; more; ) {
        const page = await client.pullBefore('scrollback', before, 3);
        pages.push(page.msgs.map((m) => m.body));
        more = page.more;
        before = page.msgs[0]!.seq;
      }
      expect(pages).toEqual([['old 5', 'old 6', 'old 7'], ['old 2', 'old 3', 'old 4'], ['old 1']]);
      expect(events).toEqual([]);
    } finally {
      client.close();
    }
    // The wire: one direction per pull, and only a member may read.
    const raw = await rawConnect(c.gateways.get('n1')!, c.token('piet', 'p2'));
    await raw.waitFor((f) => f.type === 'convs');
    raw.send({ type: 'pull', rid: 1, conv: 'scrollback', before: seqs[2]!, limit: 200 });
    expect((await raw.waitFor<ServerFrameOf<'history'>>((f) => f.type === 'history' && f.rid === 1)).msgs.map((m) => m.seq)).toEqual(seqs.slice(0, 2));
    raw.send({ type: 'pull', rid: 2, conv: 'scrollback', before: seqs[2]!, after: 0, limit: 5 });
    expect(await raw.waitFor((f) => f.type === 'error' && f.rid === 2)).toMatchObject({ code: 'invalid_field', message: 'pull takes after or before, not both' });
    raw.close();
    const outsider = await rawConnect(c.gateways.get('n1')!, c.token('quentin', 'q1'));
    await outsider.waitFor((f) => f.type === 'convs');
    outsider.send({ type: 'pull', rid: 3, conv: 'scrollback', before: seqs[6]! + 1, limit: 5 });
    expect(await outsider.waitFor((f) => f.type === 'error' && f.rid === 3)).toMatchObject({ code: 'not_member' });
    outsider.close();
  }, 30_000);

  it('chat – a history page stops near 512 KiB (more set) and the next pull goes on from there; a device taking the whole history gets every big message once, in order', async () => {
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'bigpage', owner: 'ken', members: ['lia'] });
    const ken = c.sdk('ken', 'k1', 'n1');
    await ken.connect();
    const seqs: number[] = [];
    // Forty bodies of 15,000 bytes (the most is 16 KiB): 600 kB in all, more than one page may carry.
    for (let i = 0; i < 40; i++) seqs.push((await ken.send('bigpage', `${i}:`.padEnd(15_000, 'x'))).seq);
    const first = await ken.pull('bigpage', 0, 200);
    expect(first.more).toBe(true);
    expect(first.msgs.length).toBeGreaterThan(0);
    expect(first.msgs.length).toBeLessThan(40);
    expect(first.msgs.reduce((n, m) => n + m.body.length, 0)).toBeLessThanOrEqual(MAX_HISTORY_PAGE_BYTES);
    const rest = await ken.pull('bigpage', first.msgs.at(-1)!.seq, 200);
    expect([...first.msgs, ...rest.msgs].map((m) => m.seq)).toEqual(seqs);
    expect(rest.more).toBe(false);
    // Scrolling back keeps the newest ones of the page.
    const back = await ken.pullBefore('bigpage', seqs.at(-1)! + 1, 200);
    expect(back.more).toBe(true);
    expect(back.msgs.map((m) => m.seq)).toEqual(seqs.slice(-back.msgs.length));
    // A new device that takes the whole history repairs it page by page.
    const got: number[] = [];
    const lia = c.sdk('lia', 'l1', 'n2', { history: 'all' });
    lia.on('message', (m) => m.conv === 'bigpage' && got.push(m.seq));
    await lia.connect();
    await waitUntil(() => got.length === 40, 'lia holding all forty');
    expect(got).toEqual(seqs);
    ken.close();
    lia.close();
  }, 30_000);

  it('server API – a system message sent again with the same key is stored once and answered with its first seq', async () => {
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'notices', owner: 'hugo', members: ['ines'] });
    const first = await c.api('POST', '/v1/conversations/notices/messages', { body: 'maintenance at 10', key: 424242 });
    expect(first.status).toBe(201);
    // Again through the other node, as a retrying business server would; then a new key is a new message.
    const again = await c.api('POST', '/v1/conversations/notices/messages', { body: 'maintenance at 10', key: 424242 }, 'n2');
    expect(again).toMatchObject({ status: 201, body: { seq: first.body['seq'] } });
    const other = await c.api('POST', '/v1/conversations/notices/messages', { body: 'done' });
    const stored = (await c.api('GET', '/v1/conversations/notices/messages')).body['messages'] as { seq: number; body: string; cid: number }[];
    expect(stored.map((m) => [m.seq, m.body, m.cid])).toEqual([
      [first.body['seq'], 'maintenance at 10', 0],
      [other.body['seq'], 'done', 0],
    ]);
    expect(await c.api('POST', '/v1/conversations/notices/messages', { body: 'x', key: 2 ** 48 })).toMatchObject({ status: 400, body: { code: 'invalid_field' } });
  }, 30_000);

  it('server API – a keyed system message whose key equals the seq of an earlier unkeyed one is a new message, and both are stored', async () => {
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'keyed-after', owner: 'hugo', members: ['ines'] });
    const plain = await c.api('POST', '/v1/conversations/keyed-after/messages', { body: 'unkeyed' });
    expect(plain.status).toBe(201);
    const seq = plain.body['seq'] as number;
    const keyed = await c.api('POST', '/v1/conversations/keyed-after/messages', { body: 'keyed', key: seq });
    expect(keyed.status).toBe(201);
    expect(keyed.body['seq']).not.toBe(seq);
    // And the other way round: an unkeyed message after a keyed one with the key its seq is about to take.
    const next = (keyed.body['seq'] as number) + 1;
    expect((await c.api('POST', '/v1/conversations/keyed-after/messages', { body: 'keyed ahead', key: next + 1 })).status).toBe(201);
    const last = await c.api('POST', '/v1/conversations/keyed-after/messages', { body: 'unkeyed again' });
    expect(last.status).toBe(201);
    const stored = (await c.api('GET', '/v1/conversations/keyed-after/messages')).body['messages'] as { body: string }[];
    expect(stored.map((m) => m.body)).toEqual(['unkeyed', 'keyed', 'keyed ahead', 'unkeyed again']);
  }, 30_000);

  it('chat – a send repeated (same frame, again after a reconnect, on another gateway) is stored once and answered with its first seq', async () => {
    const { body } = await c.api('POST', '/v1/conversations', { kind: 'direct', members: ['carl', 'dora'] });
    const conv = body['conv'] as string;
    const first = await rawConnect(c.gateways.get('n1')!, c.token('carl', 'c1'));
    for (let i = 0; i < 3; i++) first.send({ type: 'send', conv, cid: 10, body: 'once' });
    await first.waitFor((f) => f.type === 'sent' && f.cid === 10);
    await new Promise((r) => setTimeout(r, 200));
    const answers = first.frames.filter((f): f is ServerFrameOf<'sent'> => f.type === 'sent');
    expect(answers).toHaveLength(3);
    expect(new Set(answers.map((f) => f.seq)).size).toBe(1);
    first.close();
    const again = await rawConnect(c.gateways.get('n2')!, c.token('carl', 'c1'));
    again.send({ type: 'send', conv, cid: 10, body: 'once' });
    const repeat = await again.waitFor<ServerFrameOf<'sent'>>((f) => f.type === 'sent');
    expect(repeat).toMatchObject({ seq: answers[0]!.seq, prev: 0 });
    // A new cid below the stored one is refused (it would break sender order), and so is an unstored predecessor.
    again.send({ type: 'send', conv, cid: 5, body: 'rewound' });
    expect(await again.waitFor((f) => f.type === 'error' && f.cid === 5)).toMatchObject({ code: 'invalid_field' });
    again.send({ type: 'send', conv, cid: 30, body: 'skipped one', after: 20 });
    expect(await again.waitFor((f) => f.type === 'error' && f.cid === 30)).toMatchObject({ code: 'out_of_order' });
    const rows = await c.db.sql`SELECT body FROM messages WHERE conv_id = ${conv}`;
    expect(rows.map((r) => Buffer.from(r['body'] as Buffer).toString())).toEqual(['once']);
    again.close();
  }, 30_000);
  it('chat – two users whose devices have the same id are two devices: the same cid from each is two messages, and one\'s order never refuses the other\'s', async () => {
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'same-did', owner: 'eli', members: ['fox'] });
    const eli = await rawConnect(c.gateways.get('n1')!, c.token('eli', 'phone'));
    const fox = await rawConnect(c.gateways.get('n2')!, c.token('fox', 'phone'));
    eli.send({ type: 'send', conv: 'same-did', cid: 7, body: 'from eli' });
    const a = await eli.waitFor<ServerFrameOf<'sent'>>((f) => f.type === 'sent' && f.cid === 7);
    // Below eli's 7, and fox's first: stored (before, it was refused as "cids must only grow").
    fox.send({ type: 'send', conv: 'same-did', cid: 3, body: 'fox first' });
    expect(await fox.waitFor((f) => (f.type === 'sent' || f.type === 'error') && f.cid === 3)).toMatchObject({ type: 'sent' });
    // The same cid as eli's: a message of its own (before, it was answered with eli's seq and never stored).
    fox.send({ type: 'send', conv: 'same-did', cid: 7, body: 'from fox' });
    const b = await fox.waitFor<ServerFrameOf<'sent'>>((f) => f.type === 'sent' && f.cid === 7);
    expect(b.seq).not.toBe(a.seq);
    eli.send({ type: 'send', conv: 'same-did', cid: 8, body: 'eli again' });
    await eli.waitFor((f) => f.type === 'sent' && f.cid === 8);
    const rows = await c.db.sql<{ sender_uid: string; body: Buffer }[]>`SELECT sender_uid, body FROM messages WHERE conv_id = 'same-did' ORDER BY seq`;
    expect(rows.map((r) => `${r.sender_uid}: ${Buffer.from(r.body).toString()}`)).toEqual(['eli: from eli', 'fox: fox first', 'fox: from fox', 'eli: eli again']);
    eli.close();
    fox.close();
  }, 30_000);

  it('gateway – a node process given a port another gateway holds exits with a clear error instead of sharing its connections', async () => {
    const port = new URL(c.gateways.get('n1')!).port;
    const logDir = path.join(c.logDir, 'port-clash');
    const outcome = await spawnNodeProcess({
      nodeId: 'n9',
      natsUrl: c.nats.url,
      databaseUrl: c.db.url,
      kinds: ['connector', 'chatter'],
      args: ['--shards', '32', '--gateway-port', port, '--dev-tokens'],
      logDir,
    }).then(
      async (p) => {
        await p.stop(2000); // a regression must not leave it running
        return 'it started';
      },
      (err: Error) => err.message,
    );
    expect(outcome).toMatch(/exited \(1\) before it was ready/);
    expect(await readFile(path.join(logDir, 'n9.log'), 'utf8')).toContain(`gateway could not listen on 127.0.0.1:${port}`);
    // It checked the port before joining: the cluster never saw it, and n1 still answers on its port.
    expect(await c.db.sql`SELECT 1 FROM nodes WHERE node_id = 'n9'`).toHaveLength(0);
    const again = await rawConnect(c.gateways.get('n1')!, c.token('pat', 'p1'));
    expect((await again.waitFor((f) => f.type === 'welcome')).type).toBe('welcome');
    again.close();
  }, 30_000);
});
