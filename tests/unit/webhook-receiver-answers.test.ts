import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { NatsConnection } from 'nats';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { WebhookForwarder, retryAfterMs } from '../../actors/webhook-forwarder.js';
import { silentLogger, type Logger } from '../../runtime/logger.js';
import { waitUntil } from '../helpers/wait.js';

// A collector to call at will: the lost-timeout defect (nodejs/node#57736) shows only once garbage is collected.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const enc = new TextEncoder();
const batch = (...events: object[]): Uint8Array => enc.encode(JSON.stringify(events));

/** What the receiver got in one request. */
interface Got {
  id: string;
  events: { n: number }[];
  bytes: number;
  at: number;
}

/** Posts event 0, waits for its request (the receiver holds it), queues more with `queue`, then lets it be answered. */
async function behindFirst(f: WebhookForwarder, held: () => (() => void) | undefined, queue: () => void): Promise<void> {
  f.take(batch({ n: 0 }));
  await waitUntil(() => held() !== undefined, 'the first request');
  queue();
  held()!();
}

describe('webhook – how the forwarder meets what the receiver answers', () => {
  let server: Server | undefined;
  let forwarder: WebhookForwarder | undefined;
  afterEach(async () => {
    forwarder?.close();
    server?.closeAllConnections();
    await new Promise((r) => (server ? server.close(r) : r(undefined)));
    server = undefined;
  });

  /** A receiver on loopback answering the n-th request (from 0) with `answer`; one that never answers leaves it hanging. */
  const receiver = async (answer: (n: number, res: ServerResponse, got: Got) => void): Promise<{ url: string; got: Got[] }> => {
    const got: Got[] = [];
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (b: Buffer) => chunks.push(b));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const g = { id: String(req.headers['webhook-id']), events: JSON.parse(body.toString('utf8')) as { n: number }[], bytes: body.length, at: Date.now() };
        got.push(g);
        answer(got.length - 1, res, g);
      });
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, got };
  };
  const start = (url: string, extra: { timeoutMs?: number; giveUpMs?: number; queueBytes?: number; log?: Logger } = {}): WebhookForwarder =>
    (forwarder = new WebhookForwarder({ nc: {} as NatsConnection, config: { url, secret: 'k', events: ['message'] }, log: silentLogger(), ...extra }));
  /** The events of the requests answered 2xx, in the order they were taken. */
  const taken = (got: Got[], ok: Set<number>): number[][] => got.filter((_g, i) => ok.has(i)).map((g) => g.events.map((e) => e.n));

  it('webhook – a receiver that takes a request and never answers gets it again after the timeout, even while the node collects garbage', async () => {
    const r = await receiver((n, res) => {
      if (n > 0) res.writeHead(200).end();
    });
    const f = start(r.url, { timeoutMs: 300 });
    const collect = setInterval(gc, 50);
    try {
      f.take(batch({ n: 1 }));
      // Without its timeout the request would wait for undici's own, 300 s.
      await waitUntil(() => f.stats.delivered === 1, 'the request sent again and taken', 10_000);
    } finally {
      clearInterval(collect);
    }
    expect(r.got.map((g) => g.id)).toEqual([r.got[0]!.id, r.got[0]!.id]);
    expect(r.got.map((g) => g.events)).toEqual([[{ n: 1 }], [{ n: 1 }]]);
  });

  it('webhook – a batch the receiver answers 413 (too large) is split until its parts fit, and every event arrives in order', async () => {
    const ok = new Set<number>();
    let release: (() => void) | undefined;
    const r = await receiver((n, res, g) => {
      if (n === 0) release = () => (ok.add(0), res.writeHead(200).end());
      else if (g.bytes > 300) res.writeHead(413).end('request entity too large');
      else (ok.add(n), res.writeHead(200).end());
    });
    const f = start(r.url);
    // Behind event 0, the next eight go in one request of ~600 bytes.
    await behindFirst(f, () => release, () => {
      for (let n = 1; n <= 8; n++) f.take(batch({ n, text: 'x'.repeat(60) }));
    });
    await waitUntil(() => f.backlogBytes === 0, 'all posted or dropped');
    expect(taken(r.got, ok).flat()).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(f.stats).toMatchObject({ refused: 0, abandoned: 0 });
  });

  it('webhook – one message’s events the receiver still answers 413 on their own are dropped with a warning naming their size, and the events after them go', async () => {
    const warnings: { msg: string; bytes?: number }[] = [];
    const log = pino({ level: 'warn' }, { write: (line: string) => warnings.push(JSON.parse(line) as { msg: string; bytes?: number }) });
    const ok = new Set<number>();
    let release: (() => void) | undefined;
    const r = await receiver((n, res, g) => {
      if (n === 0) release = () => (ok.add(0), res.writeHead(200).end());
      else if (g.bytes > 300) res.writeHead(413).end();
      else (ok.add(n), res.writeHead(200).end());
    });
    const f = start(r.url, { log });
    f.take(batch({ n: 0 }));
    await waitUntil(() => release !== undefined, 'the first request');
    f.take(batch({ n: 1, text: 'x'.repeat(400) }));
    f.take(batch({ n: 2 }));
    release!();
    await waitUntil(() => f.backlogBytes === 0, 'all posted or dropped');
    expect(taken(r.got, ok)).toEqual([[0], [2]]);
    expect(f.stats.refused).toBe(1);
    const refusal = warnings.find((w) => /refused/.test(w.msg));
    expect(refusal?.bytes).toBeGreaterThan(400);
  });

  it('webhook – a receiver pacing with 429 and Retry-After (seconds or a date) gets nothing before the time it named, and the batch goes whole: not split, not given up', async () => {
    let notBefore = 0;
    let early = 0;
    const ok = new Set<number>();
    let release: (() => void) | undefined;
    const r = await receiver((n, res, g) => {
      if (g.at < notBefore) early++;
      if (n === 0) return void (release = () => (ok.add(0), res.writeHead(200).end()));
      if (n <= 3) {
        // The second pacing answer names a date, 1–2 s ahead (HTTP dates have whole seconds).
        const after = n === 2 ? new Date(Date.now() + 2_000).toUTCString() : '1';
        notBefore = n === 2 ? Date.parse(after) : Date.now() + 1_000;
        return void res.writeHead(429, { 'retry-after': after }).end();
      }
      ok.add(n);
      res.writeHead(200).end();
    });
    const f = start(r.url, { giveUpMs: 1 });
    await behindFirst(f, () => release, () => {
      for (let n = 1; n <= 3; n++) f.take(batch({ n }));
    });
    await waitUntil(() => f.backlogBytes === 0, 'the paced events posted', 15_000);
    expect(early).toBe(0);
    expect(taken(r.got, ok)).toEqual([[0], [1, 2, 3]]);
    expect(f.stats).toMatchObject({ abandoned: 0, refused: 0, retried: 3 });
  }, 30_000);

  it('webhook – a Retry-After of hours is waited a minute at most; one that is no number nor date leaves the usual backoff', () => {
    const now = Date.parse('2025-01-01T00:00:00Z');
    expect(retryAfterMs('3', now)).toBe(3_000);
    expect(retryAfterMs(new Date(now + 10_000).toUTCString(), now)).toBe(10_000);
    expect(retryAfterMs('7200', now)).toBe(60_000);
    expect(retryAfterMs(new Date(now + 3_600_000).toUTCString(), now)).toBe(60_000);
    expect(retryAfterMs(new Date(now - 5_000).toUTCString(), now)).toBe(0);
    expect(retryAfterMs('soon', now)).toBeUndefined();
    expect(retryAfterMs(null, now)).toBeUndefined();
  });

  it('webhook – a receiver whose proxy answers 502, 503 and 504 while the app is away gets every event once it is back: the batch is neither split nor given up', async () => {
    const ok = new Set<number>();
    let release: (() => void) | undefined;
    const away = [502, 503, 504, 502];
    const r = await receiver((n, res) => {
      if (n === 0) return void (release = () => (ok.add(0), res.writeHead(200).end()));
      if (n <= away.length) return void res.writeHead(away[n - 1]!).end('bad gateway');
      ok.add(n);
      res.writeHead(200).end();
    });
    const f = start(r.url, { giveUpMs: 1 });
    await behindFirst(f, () => release, () => {
      for (let n = 1; n <= 3; n++) f.take(batch({ n }));
    });
    await waitUntil(() => f.backlogBytes === 0, 'the events posted once the app is back', 20_000);
    expect(taken(r.got, ok)).toEqual([[0], [1, 2, 3]]);
    expect(new Set(r.got.slice(1).map((g) => g.id)).size).toBe(1);
    expect(f.stats).toMatchObject({ abandoned: 0, retried: away.length });
  }, 30_000);

  it('webhook – a batch that keeps timing out (more events than the receiver takes in time) is split, and its events arrive in order', async () => {
    const ok = new Set<number>();
    let release: (() => void) | undefined;
    // More than two events a request and this receiver never answers in time.
    const r = await receiver((n, res, g) => {
      if (n === 0) release = () => (ok.add(0), res.writeHead(200).end());
      else if (g.events.length <= 2) (ok.add(n), res.writeHead(200).end());
    });
    const f = start(r.url, { timeoutMs: 300 });
    await behindFirst(f, () => release, () => {
      for (let n = 1; n <= 4; n++) f.take(batch({ n }));
    });
    await waitUntil(() => f.backlogBytes === 0 && taken(r.got, ok).flat().includes(4), 'the slow batch delivered in parts', 15_000);
    expect(taken(r.got, ok).flat()).toEqual([0, 1, 2, 3, 4]);
    expect(f.stats).toMatchObject({ abandoned: 0, refused: 0 });
  }, 30_000);

  it('webhook – one message’s events that keep timing out are sent again and again under the same id, never given up, and arrive once the receiver answers', async () => {
    const r = await receiver((n, res) => {
      if (n >= 4) res.writeHead(200).end();
    });
    const f = start(r.url, { timeoutMs: 200, giveUpMs: 1 });
    f.take(batch({ n: 1 }));
    await waitUntil(() => f.stats.delivered === 1, 'the event taken', 20_000);
    expect(r.got.map((g) => g.events)).toEqual(Array.from({ length: 5 }, () => [{ n: 1 }]));
    expect(new Set(r.got.map((g) => g.id)).size).toBe(1);
    expect(f.stats.abandoned).toBe(0);
  }, 30_000);

  it('webhook – with the queue full, a long burst keeps the newest events in order and counts every one dropped', async () => {
    const ok = new Set<number>();
    let release: (() => void) | undefined;
    const r = await receiver((n, res) => {
      if (n === 0) release = () => (ok.add(0), res.writeHead(200).end());
      else (ok.add(n), res.writeHead(200).end());
    });
    const f = start(r.url, { queueBytes: 2_000 });
    f.take(batch({ n: 0 }));
    await waitUntil(() => release !== undefined, 'the first request');
    const burst = 50_000;
    for (let n = 1; n <= burst; n++) f.take(batch({ n }));
    release!();
    await waitUntil(() => f.backlogBytes === 0, 'the rest posted');
    const kept = taken(r.got, ok).flat().slice(1);
    expect(kept).toEqual(Array.from({ length: kept.length }, (_, i) => burst + 1 - kept.length + i));
    expect(kept.length + f.stats.dropped).toBe(burst);
  });
});
