import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect, type NatsConnection } from 'nats';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebhookForwarder } from '../../actors/webhook-forwarder.js';
import { EventSubject } from '../../protocol/subjects.js';
import { silentLogger } from '../../runtime/logger.js';
import { startTestNats, type TestNats } from '../helpers/nats.js';
import { waitUntil } from '../helpers/wait.js';

const enc = new TextEncoder();
const batch = (...events: object[]): Uint8Array => enc.encode(JSON.stringify(events));

describe('webhook forwarder – a real HTTP server on loopback', () => {
  let server: Server | undefined;
  let forwarder: WebhookForwarder | undefined;
  // A real nats-server: the forwarder is built on a live connection, as a node builds it, and one test takes its events from NATS.
  let nats: TestNats;
  let nc: NatsConnection;
  beforeAll(async () => {
    nats = await startTestNats();
    nc = await connect({ servers: nats.url });
  });
  afterAll(async () => {
    await nc?.close();
    await nats?.stop();
  });
  afterEach(async () => {
    forwarder?.close();
    await new Promise((r) => (server ? server.close(r) : r(undefined)));
  });

  /** A receiver answering each request with `answer(n)` (n counts from 0); returns its URL and the bodies it got. */
  const receiver = async (answer: (n: number, res: ServerResponse) => void): Promise<{ url: string; bodies: { id: string; events: { n: number }[] }[] }> => {
    const bodies: { id: string; events: { n: number }[] }[] = [];
    let n = 0;
    server = createServer((req: IncomingMessage, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (b: Buffer) => chunks.push(b));
      req.on('end', () => {
        bodies.push({ id: String(req.headers['webhook-id']), events: JSON.parse(Buffer.concat(chunks).toString('utf8')) as { n: number }[] });
        answer(n++, res);
      });
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, bodies };
  };
  const start = (url: string, extra: { queueBytes?: number; batchBytes?: number; giveUpMs?: number } = {}): WebhookForwarder =>
    (forwarder = new WebhookForwarder({ nc, config: { url, secret: 'k', events: ['message'] }, log: silentLogger(), ...extra }));

  it('webhook forwarder – during a secret rotation each request carries a signature under the new secret and one under the previous, so a receiver on either verifies it', async () => {
    const got: { id: string; ts: string; signature: string; body: string }[] = [];
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (b: Buffer) => chunks.push(b));
      req.on('end', () => {
        got.push({ id: String(req.headers['webhook-id']), ts: String(req.headers['webhook-timestamp']), signature: String(req.headers['webhook-signature']), body: Buffer.concat(chunks).toString('utf8') });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const oldKey = Buffer.from('old-key-bytes');
    forwarder = new WebhookForwarder({ nc, config: { url, secret: 'new-secret', previousSecret: `whsec_${oldKey.toString('base64')}`, events: ['message'] }, log: silentLogger() });
    forwarder.take(batch({ n: 1 }));
    await waitUntil(() => got.length === 1, 'the request');
    const r = got[0]!;
    const sign = (key: Buffer | string): string => `v1,${createHmac('sha256', key).update(`${r.id}.${r.ts}.${r.body}`).digest('base64')}`;
    expect(r.signature.split(' ')).toEqual([sign('new-secret'), sign(oldKey)]);
  });

  it('webhook forwarder – once started it posts the events NATS carries of the kinds configured, and no others', async () => {
    const r = await receiver((_n, res) => res.writeHead(200).end());
    const f = start(r.url);
    f.start();
    await nc.flush(); // the subscriptions are on the server before anything is published
    const pub = await connect({ servers: nats.url });
    try {
      // One publisher: the server hands its messages on in order, so once n 3 is posted n 2 would have come before it.
      pub.publish(EventSubject.MESSAGE, batch({ n: 1 }));
      pub.publish(EventSubject.READ, batch({ n: 2 }));
      pub.publish(EventSubject.MESSAGE, batch({ n: 3 }));
      await pub.flush();
    } finally {
      await pub.close();
    }
    await waitUntil(() => r.bodies.flatMap((b) => b.events.map((e) => e.n)).includes(3), 'the second message event posted');
    expect(r.bodies.flatMap((b) => b.events.map((e) => e.n))).toEqual([1, 3]);
  });

  it('webhook forwarder – a batch refused with a 4xx is not sent again, and the next one goes', async () => {
    const r = await receiver((n, res) => res.writeHead(n === 0 ? 400 : 200).end());
    const f = start(r.url);
    f.take(batch({ n: 1 }));
    await waitUntil(() => f.stats.refused === 1, 'the refusal');
    f.take(batch({ n: 2 }));
    await waitUntil(() => f.stats.delivered === 1, 'the next batch');
    expect(r.bodies.map((b) => b.events)).toEqual([[{ n: 1 }], [{ n: 2 }]]);
    expect(f.stats).toMatchObject({ retried: 0, dropped: 0 });
  });

  it('webhook forwarder – while the business server is away events queue, the oldest dropped past the limit; the rest go in order in one request once it answers', async () => {
    let release: (() => void) | undefined;
    const r = await receiver((n, res) => {
      if (n === 0) release = () => res.writeHead(200).end();
      else res.writeHead(200).end();
    });
    const f = start(r.url, { queueBytes: 40 });
    f.take(batch({ n: 0 })); // in flight, held by the receiver
    await waitUntil(() => release !== undefined, 'the first request');
    for (let n = 1; n <= 10; n++) f.take(batch({ n }));
    expect(f.stats.dropped).toBeGreaterThan(0);
    release!();
    await waitUntil(() => r.bodies.length === 2 && f.backlogBytes === 0, 'the rest posted');
    const kept = r.bodies[1]!.events.map((e) => e.n);
    // The newest survive, in the order they came; what was dropped is counted.
    expect(kept).toEqual(Array.from({ length: kept.length }, (_, i) => 11 - kept.length + i));
    expect(kept.length + f.stats.dropped).toBe(10);
  });

  it('webhook forwarder – a request the receiver keeps failing with 500 (one event it chokes on) is split, the other events go, and the bad one is given up in time', async () => {
    let release: (() => void) | undefined;
    const r = await receiver((n, res) => {
      if (n === 0) release = () => res.writeHead(200).end();
      else res.writeHead(JSON.stringify(r.bodies.at(-1)!.events).includes('"poison"') ? 500 : 200).end();
    });
    const f = start(r.url, { giveUpMs: 1_000 });
    f.take(batch({ n: 0 })); // in flight, held: the next three go in one request
    await waitUntil(() => release !== undefined, 'the first request');
    f.take(batch({ n: 1 }));
    f.take(enc.encode(JSON.stringify([{ n: 2, poison: true }])));
    f.take(batch({ n: 3 }));
    release!();
    await waitUntil(() => f.stats.abandoned === 1 && f.backlogBytes === 0, 'the bad event given up', 20_000);
    const delivered = r.bodies.filter((b) => !JSON.stringify(b.events).includes('"poison"')).map((b) => b.events.map((e) => e.n));
    // Together three times, then one a request, in order; the poison one alone until given up.
    expect(delivered).toEqual([[0], [1], [3]]);
    expect(r.bodies.filter((b) => b.events.length === 3)).toHaveLength(3);
    expect(f.stats).toMatchObject({ delivered: 3, abandoned: 1, dropped: 0 });
  }, 30_000);

  it('webhook forwarder – drain posts what is queued before it returns; events after it are not taken', async () => {
    const r = await receiver((_n, res) => setTimeout(() => res.writeHead(204).end(), 50));
    const f = start(r.url);
    for (let n = 1; n <= 3; n++) f.take(batch({ n }));
    await f.drain(5_000);
    expect(r.bodies.flatMap((b) => b.events.map((e) => e.n))).toEqual([1, 2, 3]);
    f.take(batch({ n: 4 }));
    await new Promise((res) => setTimeout(res, 100));
    expect(r.bodies.flatMap((b) => b.events.map((e) => e.n))).toEqual([1, 2, 3]);
  });

  it('webhook forwarder – a redirect is not followed: the batch is posted again, body and all, until the receiver takes it', async () => {
    const methods: string[] = [];
    const r = await receiver((n, res) => (n === 0 ? res.writeHead(301, { location: '/moved' }).end() : res.writeHead(200).end()));
    server!.prependListener('request', (req: IncomingMessage) => methods.push(req.method ?? ''));
    const f = start(r.url);
    f.take(batch({ n: 1 }));
    await waitUntil(() => f.stats.delivered === 1, 'the batch taken', 10_000);
    expect(methods).toEqual(['POST', 'POST']);
    expect(r.bodies.map((b) => b.events)).toEqual([[{ n: 1 }], [{ n: 1 }]]);
    expect(r.bodies[1]!.id).toBe(r.bodies[0]!.id);
    expect(f.stats.retried).toBe(1);
  });

  it('webhook forwarder – a request holds at most its size in UTF-8 bytes, whatever the script', async () => {
    let release: (() => void) | undefined;
    const r = await receiver((n, res) => (n === 0 ? (release = () => res.writeHead(200).end()) : res.writeHead(200).end()));
    // 100 characters of CJK: 300 bytes each (118 characters with the JSON around them); two do not fit in 500 bytes.
    const f = start(r.url, { batchBytes: 500 });
    f.take(batch({ n: 0 })); // in flight, held by the receiver while the next two queue
    await waitUntil(() => release !== undefined, 'the first request');
    const text = '汉'.repeat(100);
    f.take(batch({ n: 1, text }));
    f.take(batch({ n: 2, text }));
    expect(f.backlogBytes).toBeGreaterThan(600);
    release!();
    await waitUntil(() => f.stats.delivered === 3, 'all posted');
    expect(r.bodies.map((b) => b.events.map((e) => e.n))).toEqual([[0], [1], [2]]);
  });

  it('webhook forwarder – events taken just as the poster finds its queue empty are posted, not stranded', async () => {
    const r = await receiver((_n, res) => res.writeHead(200).end());
    const f = start(r.url);
    // The moment the poster finds nothing left, before it has ended, another message comes (a NATS callback). No real
    // event lands in that window reliably (it lasts a few microtasks), so the private `next` is wrapped to take one there.
    const internals = f as unknown as { next: () => unknown };
    const next = internals.next.bind(f);
    let late = false;
    internals.next = () => {
      const b = next();
      if (b === undefined && !late) {
        late = true;
        queueMicrotask(() => f.take(batch({ n: 2 })));
      }
      return b;
    };
    f.take(batch({ n: 1 }));
    await waitUntil(() => f.stats.delivered === 2, 'the late event posted', 3_000);
    expect(r.bodies.flatMap((b) => b.events.map((e) => e.n))).toEqual([1, 2]);
  });
});
