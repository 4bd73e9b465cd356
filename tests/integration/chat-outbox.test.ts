import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Msg } from '../../protocol/frames.js';
import { ImClient, storageOutbox, type SendResult, type StringStorage } from '../../protocol/sdk/index.js';
import { startChatCluster, type ChatCluster } from '../helpers/chat-cluster.js';
import { waitUntil } from '../helpers/wait.js';

/** A Web-Storage-like map that keeps every value written (what a crash at that moment would leave). */
function memoryStorage() {
  const map = new Map<string, string>();
  const written: string[] = [];
  const storage: StringStorage = {
    getItem: (k) => map.get(k) ?? null,
    setItem: (k, v) => (written.push(v), map.set(k, v)),
    removeItem: (k) => map.delete(k),
  };
  return { storage, map, written };
}

/** The outbox: a user's unacknowledged sends survive the app exiting, and count once however often they are sent. */
describe('chat – outbox across app restarts', () => {
  let c: ChatCluster;
  const clients: ImClient[] = [];
  beforeAll(async () => {
    c = await startChatCluster({ nodes: ['o1', 'o2'] });
  }, 60_000);
  afterAll(async () => {
    for (const x of clients) x.close();
    await c?.stop();
  }, 30_000);

  function client(uid: string, did: string, node: string, storage?: StringStorage) {
    const x = new ImClient({ endpoints: [c.gateways.get(node)!], token: c.token(uid, did), WebSocket: WebSocket as never, history: 'all', ...(storage ? { outbox: storageOutbox(storage, `im.outbox.${uid}.${did}`) } : {}) });
    clients.push(x);
    const msgs: Msg[] = [];
    const sent: SendResult[] = [];
    x.on('message', (m) => msgs.push(m));
    x.on('sent', (r) => sent.push(r));
    return { x, msgs, sent };
  }
  const stored = async (conv: string) =>
    (await c.db.sql<{ body: Buffer }[]>`SELECT body FROM messages WHERE conv_id = ${conv} ORDER BY seq`).map((r) => r.body.toString());

  it('outbox – sends made offline survive the app closing: the next run sends them at connect, once each and in order, and the outbox empties', async () => {
    const conv = (await c.api('POST', '/v1/conversations', { kind: 'direct', members: ['ana', 'ben'] })).body['conv'] as string;
    const ben = client('ben', 'd1', 'o2');
    await ben.x.connect();
    const mem = memoryStorage();
    // The first run never gets online (a plane, a tunnel) and is closed with three messages queued.
    const offline = client('ana', 'phone', 'o1', mem.storage);
    const queued = ['one', 'two', 'three'].map((body) => offline.x.send(conv, body));
    offline.x.close();
    for (const p of queued) await expect(p).rejects.toMatchObject({ code: 'closed' });
    expect(JSON.parse(mem.map.get('im.outbox.ana.phone')!).entries.map((e: { body: string }) => e.body)).toEqual(['one', 'two', 'three']);

    const next = client('ana', 'phone', 'o1', mem.storage);
    await next.x.connect();
    await waitUntil(() => ben.msgs.length === 3 && next.sent.length === 3, 'ben holding the three restored messages');
    expect(ben.msgs.map((m) => m.body)).toEqual(['one', 'two', 'three']);
    expect(next.sent.map((r) => r.seq)).toEqual(ben.msgs.map((m) => m.seq));
    expect(await stored(conv)).toEqual(['one', 'two', 'three']);
    // Emptied of sends; what stays is the last cid given out, for the next run to start above.
    await waitUntil(() => (JSON.parse(mem.map.get('im.outbox.ana.phone') ?? '{}') as { entries?: unknown[] }).entries?.length === 0, 'the outbox emptied');
    expect(JSON.parse(mem.map.get('im.outbox.ana.phone')!)).toMatchObject({ lastCid: next.sent.at(-1)!.cid });
  }, 30_000);

  it('outbox – a run that died before its answers came leaves them in the outbox; the next run re-sends them and the server stores each once', async () => {
    const conv = (await c.api('POST', '/v1/conversations', { kind: 'direct', members: ['cai', 'dee'] })).body['conv'] as string;
    const dee = client('dee', 'd1', 'o1');
    await dee.x.connect();
    const mem = memoryStorage();
    const first = client('cai', 'laptop', 'o2', mem.storage);
    await first.x.connect();
    const results = await Promise.all(['a', 'b', 'c'].map((body) => first.x.send(conv, body)));
    // What the outbox held before the answers: a crash right then leaves exactly this behind.
    const beforeAnswers = mem.written.find((v) => JSON.parse(v).entries.length === 3)!;
    first.x.close();
    mem.map.set('im.outbox.cai.laptop', beforeAnswers);

    const again = client('cai', 'laptop', 'o1', mem.storage);
    await again.x.connect();
    await waitUntil(() => again.sent.length === 3, 'the three re-sends answered');
    // Answered with the seqs they were first stored under: the dedup on (device, cid) held across the restart.
    expect(again.sent.map((r) => r.seq)).toEqual(results.map((r) => r.seq));
    await again.x.send(conv, 'd');
    await waitUntil(() => dee.msgs.length === 4, 'dee holding the fourth');
    expect(dee.msgs.map((m) => m.body)).toEqual(['a', 'b', 'c', 'd']);
    expect(await stored(conv)).toEqual(['a', 'b', 'c', 'd']);
  }, 30_000);
});
