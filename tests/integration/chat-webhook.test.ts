import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MessageEvent, OnlineEvent } from '../../protocol/chat-ops.js';
import type { ServerFrameOf } from '../../protocol/frames.js';
import { DEV_SERVER_KEY } from '../../runtime/config.js';
import { parseExposition, sampleValue } from '../../scripts/lib/prometheus-text.js';
import { startChatCluster, type ChatCluster } from '../helpers/chat-cluster.js';
import { rawConnect } from '../helpers/raw-client.js';
import { waitUntil } from '../helpers/wait.js';

interface Received {
  id: string;
  ts: string;
  signature: string;
  body: string;
  status: number;
}

/** Business events over HTTP: every node forwards its share to the business server's URL, signed. */
describe('chat – webhook', () => {
  const key = randomBytes(24);
  const secret = `whsec_${key.toString('base64')}`;
  const got: Received[] = [];
  /** Answers for the next requests, in order (then 204). */
  const answers: number[] = [];
  let server: Server;
  let c: ChatCluster;

  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (b: Buffer) => chunks.push(b));
      req.on('end', () => {
        const status = answers.shift() ?? 204;
        got.push({ id: String(req.headers['webhook-id']), ts: String(req.headers['webhook-timestamp']), signature: String(req.headers['webhook-signature']), body: Buffer.concat(chunks).toString('utf8'), status });
        res.writeHead(status).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/im`;
    // The node processes read the secret from their environment, as a deployment would.
    const env = { IM_WEBHOOK_SECRET: secret };
    c = await startChatCluster({ nodes: ['h1', 'h2'], args: ['--webhook-url', url, '--webhook-events', 'online,offline,message'], nodeEnv: { h1: env, h2: env } });
  }, 60_000);
  afterAll(async () => {
    await c?.stop();
    await new Promise((r) => server?.close(r));
  }, 30_000);

  /** The events of each request answered 2xx, by webhook-id (a retried request counts once). */
  const accepted = (): (OnlineEvent | MessageEvent)[] => {
    const byId = new Map<string, string>();
    for (const r of got) if (r.status < 300) byId.set(r.id, r.body);
    return [...byId.values()].flatMap((b) => JSON.parse(b) as (OnlineEvent | MessageEvent)[]);
  };

  it('webhook – each event reaches the business server once through one of the nodes, signed; a failed POST is tried again with the same id and body; filtered types stay out', async () => {
    const conv = (await c.api('POST', '/v1/conversations', { kind: 'direct', members: ['wh-a', 'wh-b'] })).body['conv'] as string;
    const a = await rawConnect(c.gateways.get('h1')!, c.token('wh-a', 'a1'));
    const b = await rawConnect(c.gateways.get('h2')!, c.token('wh-b', 'b1'));
    for (const x of [a, b]) await x.waitFor((f) => f.type === 'convs');
    await waitUntil(() => accepted().filter((e) => e.type === 'online').length === 2, 'both online events posted');
    // The business server fails twice: the batch in flight is posted again until it is taken.
    answers.push(503, 500);
    const seqs: number[] = [];
    for (const [x, cid] of [[a, 1], [b, 1], [a, 2], [b, 2], [a, 3]] as const) {
      x.send({ type: 'send', conv, cid, body: `m${seqs.length}` });
      seqs.push((await x.waitFor<ServerFrameOf<'sent'>>((f) => f.type === 'sent' && f.cid === cid && !seqs.includes(f.seq))).seq);
    }
    a.send({ type: 'read', conv, seq: seqs.at(-1)! });
    b.close();
    await waitUntil(() => accepted().filter((e) => e.type === 'message').length >= seqs.length && accepted().some((e) => e.type === 'offline'), 'every message and the offline event posted');
    await new Promise((r) => setTimeout(r, 500));
    const events = accepted();
    // Once each: two nodes take the cluster's events, through one NATS queue group.
    expect(events.filter((e): e is MessageEvent => e.type === 'message').map((e) => e.seq).sort((x, y) => x - y)).toEqual(seqs);
    const presence = (t: string): string[] => events.filter((e): e is OnlineEvent => e.type === t).map((e) => e.uid).sort();
    expect(presence('online')).toEqual(['wh-a', 'wh-b']);
    expect(presence('offline')).toEqual(['wh-b']);
    // `read` is not among --webhook-events.
    expect(events.some((e) => (e.type as string) === 'read')).toBe(false);
    // The failed requests came again, same id and body, and were then taken.
    const failed = got.filter((r) => r.status >= 500);
    expect(failed).toHaveLength(2);
    for (const f of failed) expect(got.some((r) => r.id === f.id && r.body === f.body && r.status < 300)).toBe(true);
    // Signed as Standard Webhooks do: base64 HMAC-SHA256 of "id.timestamp.body" under the secret's key bytes.
    for (const r of got) {
      expect(r.id).toMatch(/^msg_/);
      expect(Math.abs(Number(r.ts) - Date.now() / 1000)).toBeLessThan(60);
      expect(r.signature).toBe(`v1,${createHmac('sha256', key).update(`${r.id}.${r.ts}.${r.body}`).digest('base64')}`);
    }
    // The nodes count what they posted.
    let delivered = 0;
    let retried = 0;
    for (const url of c.http.values()) {
      const samples = parseExposition(await (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${DEV_SERVER_KEY}` } })).text());
      delivered += sampleValue(samples, 'im_webhook_delivered_total') ?? 0;
      retried += sampleValue(samples, 'im_webhook_retried_total') ?? 0;
    }
    expect(retried).toBe(2);
    expect(delivered).toBe(got.filter((r) => r.status < 300).length);
    a.close();
  }, 30_000);
});
