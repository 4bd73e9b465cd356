import { connect, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeEnvelope, encodeEnvelope } from '../../protocol/envelopes.js';
import { ErrorCode, ImError } from '../../protocol/errors.js';
import { silentLogger } from '../../runtime/logger.js';
import { NotServedError } from '../../runtime/transport/not-served.js';
import { Transport, type CallHandler } from '../../runtime/transport/transport.js';
import { startTestNats, type TestNats } from '../helpers/nats.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** A handler that bounces every call, as a node letting go of a shard does, until `serving` is set; then it echoes. */
function shardOwner(): { serving: boolean; seen: number[]; handler: CallHandler } {
  const o = {
    serving: false,
    seen: [] as number[],
    handler: ((c) => {
      if (!o.serving) return Promise.reject(new NotServedError('does not serve this shard now'));
      o.seen.push(c.payload as number);
      return Promise.resolve(c.payload);
    }) as CallHandler,
  };
  return o;
}

describe('transport – batched actor calls over a real nats-server', () => {
  let nats: TestNats;
  let ncA: NatsConnection;
  let ncB: NatsConnection;
  let client: Transport;
  let server: Transport;
  beforeAll(async () => {
    nats = await startTestNats();
    [ncA, ncB] = await Promise.all([connect({ servers: nats.url }), connect({ servers: nats.url })]);
    client = new Transport(ncA, { log: silentLogger(), defaultTimeoutMs: 3000 });
    server = new Transport(ncB, { log: silentLogger() });
  });
  afterAll(async () => {
    await client?.close();
    await server?.close();
    await ncA?.close();
    await ncB?.close();
    await nats?.stop();
  });

  it('transport – many concurrent calls travel in few NATS messages and each caller gets its own answer', async () => {
    const h = server.serve('t.echo', async (c) => ({ key: c.key, doubled: (c.payload as number) * 2 }));
    await ncB.flush();
    let rawMessages = 0;
    const spy = ncA.subscribe('t.echo', { callback: () => rawMessages++ });
    await ncA.flush();
    const before = client.stats().batchesSent;
    const results = await Promise.all(range(2000).map((i) => client.call('t.echo', { kind: 'k', key: `a${i}`, op: 'echo', payload: i })));
    results.forEach((r, i) => expect(r).toEqual({ key: `a${i}`, doubled: i * 2 }));
    expect(rawMessages).toBeGreaterThan(0);
    expect(rawMessages).toBeLessThan(20);
    expect(client.stats().batchesSent - before).toBe(rawMessages);
    spy.unsubscribe();
    await h.stop();
  });

  it('transport – replies reach the right callers when handlers finish out of order and two callers share a subject', async () => {
    const h = server.serve('t.mix', async (c) => {
      await sleep((c.payload as number) % 7);
      return `${c.key}:${c.payload as number}`;
    });
    await ncB.flush();
    const other = new Transport(ncA, { log: silentLogger() });
    const calls = range(600).map((i) => (i % 2 ? client : other).call('t.mix', { kind: 'k', key: `c${i % 2}`, op: 'n', payload: i }));
    expect(await Promise.all(calls)).toEqual(range(600).map((i) => `c${i % 2}:${i}`));
    await other.close();
    await h.stop();
  });

  it('transport – a handler error arrives as its coded error and the subject keeps serving', async () => {
    const h = server.serve('t.err', (c) => {
      // A handler that throws before returning its promise counts as failing, like a rejected one.
      if (c.op === 'sync') throw new Error('thrown synchronously');
      return (async () => {
        if (c.op === 'boom') throw new ImError(ErrorCode.NOT_MEMBER, 'not in this conversation');
        if (c.op === 'bug') throw new Error('oops');
        return 'fine';
      })();
    });
    await ncB.flush();
    const [boom, bug, sync, ok] = await Promise.allSettled(['boom', 'bug', 'sync', 'ok'].map((op) => client.call('t.err', { kind: 'k', key: 'x', op, payload: null })));
    expect(boom).toMatchObject({ status: 'rejected', reason: { code: ErrorCode.NOT_MEMBER, message: 'not in this conversation' } });
    expect(bug).toMatchObject({ status: 'rejected', reason: { code: ErrorCode.INTERNAL } });
    expect(sync).toMatchObject({ status: 'rejected', reason: { code: ErrorCode.INTERNAL } });
    expect(ok).toEqual({ status: 'fulfilled', value: 'fine' });
    expect((boom as PromiseRejectedResult).reason).toBeInstanceOf(ImError);
    expect(await client.call('t.err', { kind: 'k', key: 'x', op: 'ok', payload: null })).toBe('fine');
    await h.stop();
  });

  it('transport – with no responders calls are retried until a server appears, and keep their order', async () => {
    const seen: number[] = [];
    const retriesBefore = client.stats().noResponderRetries;
    const first = range(25).map((i) => client.call('t.late', { kind: 'k', key: 'same', op: 'n', payload: i, timeoutMs: 3000 }));
    await sleep(100);
    // Issued while the first batch is backing off: they must not overtake it.
    const second = range(25).map((i) => client.call('t.late', { kind: 'k', key: 'same', op: 'n', payload: 25 + i, timeoutMs: 3000 }));
    await sleep(100);
    const h = server.serve('t.late', async (c) => {
      seen.push(c.payload as number);
      return c.payload;
    });
    expect(await Promise.all([...first, ...second])).toEqual(range(50));
    expect(seen).toEqual(range(50));
    expect(client.stats().noResponderRetries - retriesBefore).toBeGreaterThan(1);
    await h.stop();
  });

  it('transport – calls a node bounces because it does not serve their shard now are sent again until one does, in order', async () => {
    // The old owner is still subscribed while it lets go of the shard: it refuses without running anything.
    const owner = shardOwner();
    const oldOwner = server.serve('t.moving', owner.handler);
    await ncB.flush();
    const before = client.stats().notServedRetries;
    const first = range(20).map((i) => client.call('t.moving', { kind: 'k', key: 'same', op: 'n', payload: i, timeoutMs: 3000 }));
    await sleep(60);
    const second = range(20).map((i) => client.call('t.moving', { kind: 'k', key: 'same', op: 'n', payload: 20 + i, timeoutMs: 3000 }));
    await sleep(60);
    owner.serving = true;
    expect(await Promise.all([...first, ...second])).toEqual(range(40));
    expect(owner.seen).toEqual(range(40));
    expect(client.stats().notServedRetries - before).toBeGreaterThan(0);
    // Bounced until the deadline: UNAVAILABLE then, never a TIMEOUT (nothing ran).
    owner.serving = false;
    await expect(client.call('t.moving', { kind: 'k', key: 'x', op: 'n', payload: 0, timeoutMs: 300 })).rejects.toMatchObject({ code: ErrorCode.UNAVAILABLE });
    await oldOwner.stop();
  });

  it('transport – an answer msgpack cannot carry fails its own call only: the others of its batch get their answers', async () => {
    const h = server.serve('t.bad-reply', async (c) => (c.op === 'bad' ? { v: 2n ** 70n } : (c.payload as number) + 1));
    await ncB.flush();
    const [bad, ...good] = await Promise.allSettled([
      client.call('t.bad-reply', { kind: 'k', key: 'x', op: 'bad', payload: 0 }),
      ...[1, 2, 3].map((n) => client.call('t.bad-reply', { kind: 'k', key: `k${n}`, op: 'ok', payload: n })),
    ]);
    expect(bad).toMatchObject({ status: 'rejected', reason: { code: ErrorCode.INTERNAL } });
    expect(good).toEqual([2, 3, 4].map((value) => ({ status: 'fulfilled', value })));
    await h.stop();
  });

  it('transport – a bounced call whose re-send is still unanswered at its deadline fails UNAVAILABLE, not TIMEOUT', async () => {
    // A slow box: the first send is refused at once, the re-send's refusal arrives only after the deadline.
    let sends = 0;
    const h = server.serve('t.slow-bounce', async () => {
      sends++;
      if (sends > 1) await sleep(3_000);
      throw new NotServedError('does not serve this shard now');
    });
    await ncB.flush();
    const started = Date.now();
    await expect(client.call('t.slow-bounce', { kind: 'k', key: 'x', op: 'n', payload: 0, timeoutMs: 150 })).rejects.toMatchObject({ code: ErrorCode.UNAVAILABLE });
    expect(sends).toBeGreaterThan(1);
    // At its 150 ms deadline, not once the re-send's answer came (3 s): a wide margin under a loaded suite.
    expect(Date.now() - started).toBeLessThan(2_000);
    await h.stop();
  });

  it('transport – a subject this process serves bounces calls the same way: sent again, in order', async () => {
    const owner = shardOwner();
    const h = client.serve('t.local-moving', owner.handler);
    const calls = range(10).map((i) => client.call('t.local-moving', { kind: 'k', key: 'same', op: 'n', payload: i, timeoutMs: 3000 }));
    await sleep(60);
    owner.serving = true;
    expect(await Promise.all(calls)).toEqual(range(10));
    expect(owner.seen).toEqual(range(10));
    await h.stop();
  });

  it('transport – nobody serving until the deadline gives UNAVAILABLE, at the deadline', async () => {
    const t0 = Date.now();
    await expect(client.call('t.nobody', { kind: 'k', key: 'x', op: 'n', payload: null, timeoutMs: 300 })).rejects.toMatchObject({ code: ErrorCode.UNAVAILABLE });
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(280);
    expect(took).toBeLessThan(1000);
  });

  it('transport – a handler that never answers gives TIMEOUT, and later calls to the subject still work', async () => {
    const h = server.serve('t.silent', (c) => (c.op === 'hang' ? new Promise(() => {}) : Promise.resolve('alive')));
    await ncB.flush();
    const t0 = Date.now();
    await expect(client.call('t.silent', { kind: 'k', key: 'x', op: 'hang', payload: null, timeoutMs: 300 })).rejects.toMatchObject({ code: ErrorCode.TIMEOUT });
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(await client.call('t.silent', { kind: 'k', key: 'x', op: 'ok', payload: null })).toBe('alive');
    void h.stop(100);
  });

  it('transport – a handler of this process that never answers gives TIMEOUT, and later calls to the subject still work', async () => {
    const h = client.serve('t.local-silent', (c) => (c.op === 'hang' ? new Promise(() => {}) : Promise.resolve('alive')));
    const t0 = Date.now();
    await expect(client.call('t.local-silent', { kind: 'k', key: 'x', op: 'hang', payload: null, timeoutMs: 300 })).rejects.toMatchObject({ code: ErrorCode.TIMEOUT });
    expect(Date.now() - t0).toBeLessThan(1000);
    // The hung batch held the subject's only slot: it must have been given back.
    expect(await client.call('t.local-silent', { kind: 'k', key: 'x', op: 'ok', payload: null, timeoutMs: 2000 })).toBe('alive');
    void h.stop(100);
  });

  it('transport – a call whose deadline passes while it waits behind a slow batch is never sent', async () => {
    const ops: string[] = [];
    const h = server.serve('t.queue', async (c) => {
      ops.push(c.op);
      if (c.op === 'slow') await sleep(300);
      return c.op;
    });
    await ncB.flush();
    const slow = client.call('t.queue', { kind: 'k', key: 'x', op: 'slow', payload: null });
    await sleep(20);
    const late = client.call('t.queue', { kind: 'k', key: 'x', op: 'late', payload: null, timeoutMs: 100 });
    await expect(late).rejects.toMatchObject({ code: ErrorCode.TIMEOUT });
    expect(await slow).toBe('slow');
    expect(await client.call('t.queue', { kind: 'k', key: 'x', op: 'after', payload: null })).toBe('after');
    expect(ops).toEqual(['slow', 'after']);
    await h.stop();
  });

  it('transport – a call already past its deadline on arrival gets TIMEOUT without running the handler', async () => {
    let ran = 0;
    const h = server.serve('t.stale', async () => ++ran);
    await ncB.flush();
    const calls = [
      { id: 1, kind: 'k', key: 'x', op: 'n', payload: null, ttl: 0 },
      { id: 2, kind: 'k', key: 'x', op: 'n', payload: null, ttl: 1000 },
    ];
    const reply = decodeEnvelope((await ncA.request('t.stale', encodeEnvelope({ type: 'calls', calls }), { timeout: 1000 })).data);
    expect(reply).toMatchObject({ ok: true, value: { type: 'replies', replies: [{ id: 1, ok: false, code: ErrorCode.TIMEOUT }, { id: 2, ok: true, value: 1 }] } });
    expect(ran).toBe(1);
    await h.stop();
  });

  it('transport – stopping a served subject lets calls it already received finish', async () => {
    let finished = 0;
    const h = server.serve('t.stop', async () => {
      await sleep(200);
      finished++;
      return 'done';
    });
    await ncB.flush();
    const calls = range(10).map((i) => client.call('t.stop', { kind: 'k', key: `s${i}`, op: 'n', payload: null }));
    await sleep(50);
    await h.stop();
    expect(finished).toBe(10);
    expect(await Promise.all(calls)).toEqual(new Array(10).fill('done'));
    await h.closed;
    // Stopped: the next call meets no responders and runs out of time as UNAVAILABLE.
    await expect(client.call('t.stop', { kind: 'k', key: 'x', op: 'n', payload: null, timeoutMs: 100 })).rejects.toMatchObject({ code: ErrorCode.UNAVAILABLE });
  });

  it('transport – a malformed batch gets a coded error and the server keeps serving', async () => {
    const h = server.serve('t.bad', async () => 'ok');
    await ncB.flush();
    const reply = await ncA.request('t.bad', new Uint8Array([0xc1, 0xff, 0x00]), { timeout: 1000 });
    const r = decodeEnvelope(reply.data);
    expect(r.ok && r.value.type === 'replies' && r.value.error?.code).toBe(ErrorCode.BAD_FRAME);
    const reply2 = await ncA.request('t.bad', encodeEnvelope({ type: 'replies', replies: [] }), { timeout: 1000 });
    expect(decodeEnvelope(reply2.data)).toMatchObject({ ok: true, value: { error: { code: ErrorCode.BAD_FRAME } } });
    // Malformed without a reply subject: nothing to answer, nothing breaks.
    ncA.publish('t.bad', new TextEncoder().encode('not msgpack at all'));
    expect(await client.call('t.bad', { kind: 'k', key: 'x', op: 'n', payload: null })).toBe('ok');
    await h.stop();
  });

  it('transport – fire-and-forget tells arrive in order, coalesced', async () => {
    const got: number[] = [];
    const h = server.serve('t.tell', async () => null, (t) => got.push(t.payload as number));
    await ncB.flush();
    const before = client.stats().tellBatchesSent;
    for (let i = 0; i < 1000; i++) client.tell('t.tell', { kind: 'k', key: 'x', op: 'n', payload: i });
    for (let i = 0; i < 200 && got.length < 1000; i++) await sleep(10);
    expect(got).toEqual(range(1000));
    expect(client.stats().tellBatchesSent - before).toBeLessThan(5);
    await h.stop();
  });

  it('transport – a batch over the byte limit is split, and its calls are still answered in order', async () => {
    const small = new Transport(ncA, { log: silentLogger(), maxBatchBytes: 4096 });
    const seen: number[] = [];
    const h = server.serve('t.split', async (c) => {
      seen.push(c.payload as number);
      return c.payload;
    });
    await ncB.flush();
    const pad = 'p'.repeat(500);
    const results = await Promise.all(range(60).map((i) => small.call('t.split', { kind: 'k', key: `${pad}${i}`, op: 'n', payload: i })));
    expect(results).toEqual(range(60));
    expect(seen).toEqual(range(60));
    expect(small.stats().batchesSent).toBeGreaterThan(7);
    // One call alone over the limit fails by itself; its neighbours go through.
    const big = small.call('t.split', { kind: 'k', key: 'x', op: 'n', payload: 'b'.repeat(8000) });
    const fine = small.call('t.split', { kind: 'k', key: 'x', op: 'n', payload: 61 });
    await expect(big).rejects.toMatchObject({ code: ErrorCode.FRAME_TOO_LARGE });
    expect(await fine).toBe(61);
    await small.close();
    await h.stop();
  });

  it('transport – an answer too big for one NATS message fails its own call at once with FRAME_TOO_LARGE; the other calls of its batch are answered', async () => {
    const h = server.serve('t.bigreply', async (c) => (c.payload === 'big' ? 'x'.repeat(1_200_000) : c.payload));
    await ncB.flush();
    const started = Date.now();
    // Queued in one tick: one batch, one reply batch that would not fit whole.
    const calls = ['a', 'big', 'b'].map((p) => client.call('t.bigreply', { kind: 'k', key: p, op: 'n', payload: p, timeoutMs: 2500 }).then((v) => ({ v }), (e: ImError) => ({ code: e.code })));
    const out = await Promise.all(calls);
    expect(out).toEqual([{ v: 'a' }, { code: ErrorCode.FRAME_TOO_LARGE }, { v: 'b' }]);
    expect(Date.now() - started).toBeLessThan(2000); // not by waiting out the 2.5 s deadline
    await h.stop();
  });

  it('transport – drain() waits for outstanding calls before it returns', async () => {
    const t = new Transport(ncA, { log: silentLogger() });
    const h = server.serve('t.drain', async () => {
      await sleep(150);
      return 'late';
    });
    await ncB.flush();
    const p = t.call('t.drain', { kind: 'k', key: 'x', op: 'n', payload: null });
    await t.drain(2000);
    expect(t.stats().outstanding).toBe(0);
    expect(await p).toBe('late');
    await t.close();
    await h.stop();
  });

  it('transport – a closed transport or a closed NATS connection refuses calls with CLOSED', async () => {
    const t = new Transport(ncA, { log: silentLogger() });
    const pending = t.call('t.nobody', { kind: 'k', key: 'x', op: 'n', payload: null, timeoutMs: 5000 });
    await sleep(30);
    await t.close();
    await expect(pending).rejects.toMatchObject({ code: ErrorCode.CLOSED });
    await expect(t.call('t.echo', { kind: 'k', key: 'x', op: 'n', payload: null })).rejects.toMatchObject({ code: ErrorCode.CLOSED });

    const nc = await connect({ servers: nats.url });
    const t2 = new Transport(nc, { log: silentLogger() });
    const h = server.serve('t.closing', () => new Promise(() => {}));
    await ncB.flush();
    const inFlight = t2.call('t.closing', { kind: 'k', key: 'x', op: 'n', payload: null, timeoutMs: 5000 });
    await sleep(30);
    await nc.close();
    await expect(inFlight).rejects.toMatchObject({ code: ErrorCode.CLOSED });
    await expect(t2.call('t.closing', { kind: 'k', key: 'x', op: 'n', payload: null })).rejects.toMatchObject({ code: ErrorCode.CLOSED });
    await t2.close();
    void h.stop(100);
  });

  it('transport – a subject this process serves is reached in-process (no NATS message), in order, and over NATS again once it stops', async () => {
    const seen: number[] = [];
    const told: number[] = [];
    const h = client.serve('t.local', async (c) => (seen.push(c.payload as number), c.payload), (t) => told.push(t.payload as number));
    let onWire = 0;
    const spy = ncB.subscribe('t.local', { callback: () => onWire++ });
    await ncB.flush();
    const answers = await Promise.all(range(300).map((i) => client.call('t.local', { kind: 'k', key: 'same', op: 'n', payload: i })));
    for (const i of range(50)) client.tell('t.local', { kind: 'k', key: 'same', op: 't', payload: i });
    await sleep(50);
    expect(answers).toEqual(range(300));
    expect(seen).toEqual(range(300));
    expect(told).toEqual(range(50));
    expect(onWire).toBe(0);
    await h.stop();
    // Served elsewhere now: the same caller goes over NATS.
    const remote = server.serve('t.local', async (c) => `remote ${c.payload as number}`);
    await ncB.flush();
    expect(await client.call('t.local', { kind: 'k', key: 'same', op: 'n', payload: 1 })).toBe('remote 1');
    expect(onWire).toBeGreaterThan(0);
    spy.unsubscribe();
    await remote.stop();
  });
});
