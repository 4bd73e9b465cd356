import { Packr } from 'msgpackr';
import { ErrorCode as NatsErrorCode, NatsError } from 'nats';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../protocol/errors.js';
import { decodeEnvelope, encodeEnvelope, type Envelope } from '../../protocol/envelopes.js';
import { Batcher, type BatcherOptions } from '../../runtime/transport/batcher.js';
import { encodeCallsWithin, encodeTellsWithin } from '../../runtime/transport/encode.js';
import { backoffDelay, classifyRequestError } from '../../runtime/transport/retry.js';

/** A sink that records batches and lets the test release call batches when it likes. */
function harness(opts: Partial<BatcherOptions> = {}) {
  const sent: { subject: string; calls: number[]; release: () => void }[] = [];
  const tells: { subject: string; tells: string[] }[] = [];
  const ticks: (() => void)[] = [];
  const delays: number[] = [];
  const b = new Batcher<number, string>(
    {
      sendCalls: (subject, calls, release) => sent.push({ subject, calls, release }),
      sendTells: (subject, t) => tells.push({ subject, tells: t }),
    },
    {
      maxItems: 100,
      maxInFlight: 1,
      flushDelayMs: 0,
      schedule: (fn, delayMs) => {
        ticks.push(fn);
        delays.push(delayMs);
      },
      ...opts,
    },
  );
  const tick = () => {
    const fns = ticks.splice(0);
    for (const f of fns) f();
  };
  return { b, sent, tells, ticks, delays, tick };
}

describe('batcher – coalescing', () => {
  it('batcher – calls queued in one tick leave as one batch per subject, on the next tick', () => {
    const { b, sent, tick } = harness();
    for (let i = 0; i < 10; i++) b.addCall(i % 2 ? 'odd' : 'even', i);
    expect(sent).toEqual([]);
    tick();
    expect(sent.map((s) => [s.subject, s.calls])).toEqual([
      ['even', [0, 2, 4, 6, 8]],
      ['odd', [1, 3, 5, 7, 9]],
    ]);
  });

  it('batcher – one flush is scheduled per tick, with the configured delay', () => {
    const { b, ticks, delays } = harness({ flushDelayMs: 1 });
    for (let i = 0; i < 50; i++) b.addCall('s', i);
    expect(ticks).toHaveLength(1);
    expect(delays).toEqual([1]);
  });

  it('batcher – a lane reaching maxItems sends at once without waiting for the tick', () => {
    const { b, sent } = harness({ maxItems: 4 });
    for (let i = 0; i < 4; i++) b.addCall('s', i);
    expect(sent.map((s) => s.calls)).toEqual([[0, 1, 2, 3]]);
  });

  it('batcher – a backlog longer than maxItems leaves in maxItems-sized batches, in order', () => {
    const { b, sent, tick } = harness({ maxItems: 3, maxInFlight: 10 });
    b.addCall('s', 0);
    b.addCall('s', 1);
    // Third reaches maxItems: sent now; the rest wait for the tick.
    b.addCall('s', 2);
    for (let i = 3; i < 8; i++) b.addCall('s', i);
    tick();
    expect(sent.map((s) => s.calls)).toEqual([[0, 1, 2], [3, 4, 5], [6, 7]]);
  });

  it('batcher – tells coalesce per subject and split at maxItems', () => {
    const { b, tells, tick } = harness({ maxItems: 3 });
    for (let i = 0; i < 5; i++) b.addTell('t', `m${i}`);
    tick();
    expect(tells).toEqual([
      { subject: 't', tells: ['m0', 'm1', 'm2'] },
      { subject: 't', tells: ['m3', 'm4'] },
    ]);
  });
});

describe('batcher – in-flight limit and order', () => {
  it('batcher – with one slot per subject, the next batch waits for the release of the previous one', () => {
    const { b, sent, tick } = harness();
    b.addCall('s', 1);
    tick();
    b.addCall('s', 2);
    b.addCall('s', 3);
    tick();
    expect(sent.map((s) => s.calls)).toEqual([[1]]);
    sent[0]!.release();
    tick();
    expect(sent.map((s) => s.calls)).toEqual([[1], [2, 3]]);
  });

  it('batcher – a busy subject does not hold back other subjects', () => {
    const { b, sent, tick } = harness();
    b.addCall('a', 1);
    tick();
    b.addCall('a', 2);
    b.addCall('b', 3);
    tick();
    expect(sent.map((s) => [s.subject, s.calls])).toEqual([
      ['a', [1]],
      ['b', [3]],
    ]);
  });

  it('batcher – with two slots two batches are outstanding and the third waits', () => {
    const { b, sent, tick } = harness({ maxInFlight: 2 });
    for (const i of [1, 2, 3]) {
      b.addCall('s', i);
      tick();
    }
    expect(sent.map((s) => s.calls)).toEqual([[1], [2]]);
    sent[1]!.release();
    tick();
    expect(sent.map((s) => s.calls)).toEqual([[1], [2], [3]]);
  });

  it('batcher – releasing twice frees one slot only', () => {
    const { b, sent, tick } = harness();
    b.addCall('s', 1);
    tick();
    sent[0]!.release();
    sent[0]!.release();
    b.addCall('s', 2);
    b.addCall('s', 3);
    tick();
    expect(b.inFlight()).toBe(1);
    b.addCall('s', 4);
    tick();
    expect(sent.map((s) => s.calls)).toEqual([[1], [2, 3]]);
  });

  it('batcher – calls put back at the front go before calls queued later', () => {
    const { b, sent, tick } = harness();
    b.addCall('s', 1);
    b.addCall('s', 2);
    tick();
    b.addCall('s', 5);
    // The sink could only send [1] and gives [2] back while [1] is in flight.
    b.requeueFront('s', [2]);
    sent[0]!.release();
    tick();
    expect(sent.map((s) => s.calls)).toEqual([[1, 2], [2, 5]]);
  });

  it('batcher – clear() hands back every unsent call and counts are kept', () => {
    const { b, tick } = harness();
    b.addCall('s', 1);
    tick();
    b.addCall('s', 2);
    b.addCall('t', 3);
    expect(b.queuedCalls()).toBe(2);
    expect(b.inFlight()).toBe(1);
    expect(b.clear().sort()).toEqual([2, 3]);
    expect(b.queuedCalls()).toBe(0);
  });

  it('batcher – an idle lane is forgotten once released and empty', () => {
    const { b, sent, tick } = harness();
    b.addCall('s', 1);
    tick();
    sent[0]!.release();
    expect(b.inFlight()).toBe(0);
    b.addCall('s', 2);
    tick();
    expect(sent.map((s) => s.calls)).toEqual([[1], [2]]);
  });
});

describe('transport retry – backoff and error classes', () => {
  it('transport retry – backoff doubles from the initial delay up to the cap, jittered into [50%, 100%]', () => {
    const policy = { initialMs: 5, maxMs: 200 };
    expect([0, 1, 2, 3, 4, 5, 6, 10].map((a) => backoffDelay(policy, a, () => 0.999999))).toEqual([5, 10, 20, 40, 80, 160, 200, 200]);
    expect(backoffDelay(policy, 3, () => 0)).toBe(20);
    expect(backoffDelay(policy, 1000, () => 0.5)).toBe(150);
  });

  it('transport retry – only no-responders is retried; timeout, closed and oversize map to their codes', () => {
    const e = (code: string) => new NatsError(code, code);
    expect(classifyRequestError(e(NatsErrorCode.NoResponders), 's')).toEqual({ retry: true });
    expect(classifyRequestError(e(NatsErrorCode.Timeout), 's')).toMatchObject({ retry: false, error: { code: ErrorCode.TIMEOUT } });
    expect(classifyRequestError(e(NatsErrorCode.Timeout), 's', true)).toMatchObject({ retry: false, error: { code: ErrorCode.CLOSED } });
    expect(classifyRequestError(e(NatsErrorCode.ConnectionDraining), 's')).toMatchObject({ retry: false, error: { code: ErrorCode.CLOSED } });
    expect(classifyRequestError(e(NatsErrorCode.MaxPayloadExceeded), 's')).toMatchObject({ retry: false, error: { code: ErrorCode.FRAME_TOO_LARGE } });
    expect(classifyRequestError(new Error('weird'), 's')).toMatchObject({ retry: false, error: { code: ErrorCode.UNAVAILABLE } });
  });
});

describe('transport encode – batches under the byte limit', () => {
  const call = (id: number, payload: unknown = 'p') => ({ id, kind: 'k', key: 'a', op: 'o', payload, deadline: 1000 });
  const ids = (cs: { id: number }[]) => cs.map((c) => c.id);

  it('transport encode – a batch that fits is encoded once, whole, with ttls relative to now', () => {
    const calls = [call(1), call(2)];
    const r = encodeCallsWithin(calls, 900, 1 << 20);
    expect(r.send).toBe(calls);
    expect(r.rest).toEqual([]);
    expect(decodeEnvelope(r.data!)).toMatchObject({ ok: true, value: { type: 'calls', calls: [{ id: 1, ttl: 100 }, { id: 2, ttl: 100 }] } });
  });

  it('transport encode – an oversized batch sends its leading part and keeps the tail, in order', () => {
    const calls = Array.from({ length: 40 }, (_, i) => call(i, 'x'.repeat(100)));
    const r = encodeCallsWithin(calls, 0, 1500);
    expect(r.data!.length).toBeLessThanOrEqual(1500);
    expect(r.send.length).toBeGreaterThan(0);
    expect([...ids(r.send), ...ids(r.rest)]).toEqual(ids(calls));
    expect(r.failed).toEqual([]);
  });

  it('transport encode – a call alone over the limit fails by itself; an unencodable payload fails by itself', () => {
    const big = encodeCallsWithin([call(1, 'x'.repeat(3000)), call(2)], 0, 1000);
    expect(big.data).toBeUndefined();
    expect(big.failed.map((f) => [f.call.id, f.error.code])).toEqual([[1, ErrorCode.FRAME_TOO_LARGE]]);
    expect(ids(big.rest)).toEqual([2]);
    const sym = encodeCallsWithin([call(1), call(2, Symbol('no')), call(3)], 0, 1 << 20);
    expect(sym.failed.map((f) => [f.call.id, f.error.code])).toEqual([[2, ErrorCode.INVALID_FIELD]]);
    expect(ids(sym.send)).toEqual([1, 3]);
  });

  it('transport encode – tells are split to fit, in order, and the impossible ones are dropped', () => {
    const tells = Array.from({ length: 30 }, (_, i) => ({ kind: 'k', key: 'a', op: 'o', payload: i === 7 ? 'x'.repeat(5000) : `${i}`.padEnd(100) }));
    const r = encodeTellsWithin(tells, 1200);
    expect(r.dropped.map((d) => d.tell)).toEqual([tells[7]]);
    const sent = r.batches.flatMap((b) => {
      expect(b.data.length).toBeLessThanOrEqual(1200);
      const d = decodeEnvelope(b.data);
      return d.ok && d.value.type === 'tells' ? d.value.tells : [];
    });
    expect(sent).toEqual(tells.filter((_, i) => i !== 7));
  });
});

describe('envelopes – decoding never throws', () => {
  it('envelopes – round trip of each envelope type', () => {
    const calls: Envelope = { type: 'calls', calls: [{ id: 1, kind: 'k', key: 'a', op: 'o', payload: { x: [1, 'b'] }, ttl: 50 }] };
    const tells: Envelope = { type: 'tells', tells: [{ kind: 'k', key: 'a', op: 'o', payload: null }] };
    const replies: Envelope = { type: 'replies', replies: [{ id: 1, ok: true, value: 3 }, { id: 2, ok: false, code: ErrorCode.NOT_FOUND, message: 'm' }] };
    const bounced: Envelope = { type: 'replies', replies: [{ id: 7, ok: false, code: ErrorCode.UNAVAILABLE, message: 'not here' }], notServed: [7] };
    for (const env of [calls, tells, replies, bounced]) expect(decodeEnvelope(encodeEnvelope(env))).toEqual({ ok: true, value: env });
  });

  it('envelopes – garbage, wrong shapes and unknown types are coded errors', () => {
    const raw = new Packr({ useRecords: false });
    const bad = (v: unknown) => decodeEnvelope(raw.pack(v));
    expect(decodeEnvelope(new Uint8Array([0xc1]))).toMatchObject({ ok: false, error: { code: ErrorCode.BAD_FRAME } });
    expect(decodeEnvelope(new Uint8Array([]))).toMatchObject({ ok: false, error: { code: ErrorCode.BAD_FRAME } });
    expect(bad([1, 2])).toMatchObject({ ok: false, error: { code: ErrorCode.BAD_FRAME } });
    expect(bad({ type: 'calls', calls: [['x', 'k', 'a', 'o', null, 1]] })).toMatchObject({ ok: false, error: { code: ErrorCode.BAD_FRAME } });
    expect(bad({ type: 'calls', calls: [[1, 'k', 'a', 'o', null]] })).toMatchObject({ ok: false, error: { code: ErrorCode.BAD_FRAME } });
    expect(bad({ type: 'calls', calls: [{ id: 1, kind: 'k', key: 'a', op: 'o', ttl: 1 }] })).toMatchObject({ ok: false, error: { code: ErrorCode.BAD_FRAME } });
    expect(bad({ type: 'replies', replies: [[1, 2, 'x']] })).toMatchObject({ ok: false, error: { code: ErrorCode.BAD_FRAME } });
    expect(bad({ type: 'calls', calls: [null] })).toMatchObject({ ok: false, error: { code: ErrorCode.BAD_FRAME } });
    expect(bad({ type: 'tells', tells: 'no' })).toMatchObject({ ok: false, error: { code: ErrorCode.BAD_FRAME } });
    expect(bad({ calls: [] })).toMatchObject({ ok: false, error: { code: ErrorCode.BAD_FRAME } });
    expect(bad({ type: 'nope' })).toMatchObject({ ok: false, error: { code: ErrorCode.UNKNOWN_TYPE } });
  });

  it('envelopes – an error code this process does not know arrives as INTERNAL', () => {
    const r = decodeEnvelope(encodeEnvelope({ type: 'replies', replies: [{ id: 1, ok: false, code: 'from_the_future' as never, message: 'x' }] }));
    expect(r).toMatchObject({ ok: true, value: { replies: [{ id: 1, ok: false, code: ErrorCode.INTERNAL }] } });
  });
});
