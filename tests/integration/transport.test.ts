import { connect, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeEnvelope, decodeEnvelope } from '../../protocol/envelopes.js';
import { ErrorCode, ImError } from '../../protocol/errors.js';
import { silentLogger } from '../../runtime/logger.js';
import { Transport } from '../../runtime/transport/transport.js';
import { startTestNats, type TestNats } from '../helpers/nats.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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
    const results = await Promise.all(Array.from({ length: 2000 }, (_, i) => client.call('t.echo', { kind: 'k', key: `a${i}`, op: 'echo', payload: i })));
    results.forEach((r, i) => expect(r).toEqual({ key: `a${i}`, doubled: i * 2 }));
    expect(rawMessages).toBeGreaterThan(0);
    expect(rawMessages).toBeLessThan(100);
    spy.unsubscribe();
    await h.stop();
  });

  it('transport – a handler error arrives as its coded error and the subject keeps serving', async () => {
    const h = server.serve('t.err', async (c) => {
      if (c.op === 'boom') throw new ImError(ErrorCode.NOT_MEMBER, 'not in this conversation');
      if (c.op === 'bug') throw new Error('oops');
      return 'fine';
    });
    await ncB.flush();
    await expect(client.call('t.err', { kind: 'k', key: 'x', op: 'boom', payload: null })).rejects.toMatchObject({ code: ErrorCode.NOT_MEMBER });
    await expect(client.call('t.err', { kind: 'k', key: 'x', op: 'bug', payload: null })).rejects.toMatchObject({ code: ErrorCode.INTERNAL });
    expect(await client.call('t.err', { kind: 'k', key: 'x', op: 'ok', payload: null })).toBe('fine');
    await h.stop();
  });

  it('transport – with no responders calls wait, in order, for a server to appear', async () => {
    const seen: number[] = [];
    const calls = Array.from({ length: 50 }, (_, i) => client.call('t.late', { kind: 'k', key: 'same', op: 'n', payload: i, timeoutMs: 3000 }));
    await sleep(200);
    const h = server.serve('t.late', async (c) => {
      seen.push(c.payload as number);
      return c.payload;
    });
    expect(await Promise.all(calls)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(seen).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(client.stats().noResponderRetries).toBeGreaterThan(0);
    await h.stop();
  });

  it('transport – nobody serving until the deadline gives UNAVAILABLE; a silent handler gives TIMEOUT', async () => {
    await expect(client.call('t.nobody', { kind: 'k', key: 'x', op: 'n', payload: null, timeoutMs: 300 })).rejects.toMatchObject({ code: ErrorCode.UNAVAILABLE });
    const h = server.serve('t.silent', () => new Promise(() => {}));
    await ncB.flush();
    const t0 = Date.now();
    await expect(client.call('t.silent', { kind: 'k', key: 'x', op: 'n', payload: null, timeoutMs: 300 })).rejects.toMatchObject({ code: ErrorCode.TIMEOUT });
    expect(Date.now() - t0).toBeLessThan(1500);
    void h.stop(100);
  });

  it('transport – stopping a served subject lets calls it already received finish', async () => {
    let finished = 0;
    const h = server.serve('t.stop', async () => {
      await sleep(200);
      finished++;
      return 'done';
    });
    await ncB.flush();
    const calls = Array.from({ length: 10 }, (_, i) => client.call('t.stop', { kind: 'k', key: `s${i}`, op: 'n', payload: null }));
    await sleep(50);
    await h.stop();
    expect(finished).toBe(10);
    expect(await Promise.all(calls)).toEqual(new Array(10).fill('done'));
  });

  it('transport – a malformed batch gets a coded error and the server keeps serving', async () => {
    const h = server.serve('t.bad', async () => 'ok');
    await ncB.flush();
    const reply = await ncA.request('t.bad', new Uint8Array([0xc1, 0xff, 0x00]), { timeout: 1000 });
    const r = decodeEnvelope(reply.data);
    expect(r.ok && r.value.type === 'replies' && r.value.error?.code).toBe(ErrorCode.BAD_FRAME);
    const reply2 = await ncA.request('t.bad', encodeEnvelope({ type: 'replies', replies: [] }), { timeout: 1000 });
    expect(decodeEnvelope(reply2.data)).toMatchObject({ ok: true, value: { error: { code: ErrorCode.BAD_FRAME } } });
    expect(await client.call('t.bad', { kind: 'k', key: 'x', op: 'n', payload: null })).toBe('ok');
    await h.stop();
  });

  it('transport – fire-and-forget tells arrive in order, coalesced', async () => {
    const got: number[] = [];
    const h = server.serve('t.tell', async () => null, (t) => got.push(t.payload as number));
    await ncB.flush();
    for (let i = 0; i < 1000; i++) client.tell('t.tell', { kind: 'k', key: 'x', op: 'n', payload: i });
    for (let i = 0; i < 100 && got.length < 1000; i++) await sleep(10);
    expect(got).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(client.stats().tellBatchesSent).toBeLessThan(50);
    await h.stop();
  });

  it('transport – a closed transport refuses calls with CLOSED', async () => {
    const t = new Transport(ncA, { log: silentLogger() });
    await t.close();
    await expect(t.call('t.echo', { kind: 'k', key: 'x', op: 'n', payload: null })).rejects.toMatchObject({ code: ErrorCode.CLOSED });
  });
});
