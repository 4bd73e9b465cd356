import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeClientFrame, decodeServerFrame, encode, encodeFrame } from '../../protocol/codec.js';
import { ErrorCode, isErrorCode } from '../../protocol/errors.js';
import type { ClientFrame, ServerFrame } from '../../protocol/frames.js';
import { DEFAULT_LIMITS } from '../../protocol/limits.js';

const id = fc.string({ minLength: 1, maxLength: 40 });
const uint = fc.nat({ max: Number.MAX_SAFE_INTEGER });
const pos = fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER });
const body = fc.string({ maxLength: 300, unit: 'grapheme' });

const clientFrame: fc.Arbitrary<ClientFrame> = fc.oneof(
  fc.record({ type: fc.constant('send' as const), conv: id, cid: pos, body }),
  fc.record({ type: fc.constant('ack' as const), conv: id, seq: uint }),
  fc.record({ type: fc.constant('read' as const), conv: id, seq: uint }),
  fc.record({ type: fc.constant('pull' as const), rid: uint, conv: id, after: uint, limit: fc.integer({ min: 1, max: DEFAULT_LIMITS.maxPullLimit }) }),
  fc.record({ type: fc.constant('sync' as const), rid: uint }),
  fc.record({ type: fc.constant('typing' as const), conv: id }),
  // msgpack has no negative zero for integers: -0 arrives as 0, which is the same timestamp.
  fc.record({ type: fc.constant('ping' as const), ts: fc.double({ noNaN: true, noDefaultInfinity: true }).map((x) => (x === 0 ? 0 : x)) }, { requiredKeys: ['type'] }),
);

const msg = fc.record({ conv: id, seq: uint, prev: uint, from: id, did: id, cid: uint, ts: fc.nat(), body });
const serverFrame: fc.Arbitrary<ServerFrame> = fc.oneof(
  fc.record({ type: fc.constant('welcome' as const), uid: id, did: id, node: id, heartbeatMs: pos, maxFrameBytes: pos }),
  fc.record({ type: fc.constant('sent' as const), cid: pos, conv: id, seq: uint, ts: fc.nat() }),
  msg.map((m) => ({ type: 'msg' as const, ...m })),
  fc.record({ type: fc.constant('convs' as const), rid: uint, list: fc.array(fc.record({ conv: id, kind: fc.constantFrom('direct' as const, 'group' as const), lastSeq: uint, readSeq: uint, unread: fc.nat() }), { maxLength: 5 }) }, { requiredKeys: ['type', 'list'] }),
  fc.record({ type: fc.constant('history' as const), rid: uint, conv: id, msgs: fc.array(msg, { maxLength: 5 }), more: fc.boolean() }),
  fc.record({ type: fc.constant('read' as const), conv: id, seq: uint }),
  fc.record({ type: fc.constant('typing' as const), conv: id, from: id }),
  fc.record({ type: fc.constant('presence' as const), uid: id, online: fc.boolean() }),
  fc.record({ type: fc.constant('pong' as const), ts: fc.nat() }, { requiredKeys: ['type'] }),
  fc.record({ type: fc.constant('error' as const), code: fc.constantFrom(...Object.values(ErrorCode)), message: fc.string(), rid: uint }, { requiredKeys: ['type', 'code', 'message'] }),
  fc.record({ type: fc.constant('redirect' as const), endpoints: fc.array(id, { maxLength: 8 }), reason: fc.constantFrom('drain' as const, 'overloaded' as const, 'moved' as const) }),
);

/** A decode outcome is always a Result, never an exception; a failure always carries one of our codes. */
function expectResult(run: () => { ok: boolean; error?: { code: string } }): { ok: boolean; error?: { code: string } } {
  let r: { ok: boolean; error?: { code: string } } | undefined;
  expect(() => (r = run())).not.toThrow();
  if (!r!.ok) expect(isErrorCode(r!.error!.code)).toBe(true);
  return r!;
}

describe('codec – msgpack frames', () => {
  it('codec – every client frame type survives a round trip', () => {
    fc.assert(
      fc.property(clientFrame, (f) => {
        expect(decodeClientFrame(encodeFrame(f))).toEqual({ ok: true, value: f });
      }),
      { numRuns: 1000 },
    );
  });

  it('codec – every server frame type survives a round trip', () => {
    fc.assert(
      fc.property(serverFrame, (f) => {
        expect(decodeServerFrame(encodeFrame(f))).toEqual({ ok: true, value: f });
      }),
      { numRuns: 1000 },
    );
  });

  it('codec – random bytes never throw: a frame or a coded error', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        expectResult(() => decodeClientFrame(bytes));
        expectResult(() => decodeServerFrame(bytes));
      }),
      { numRuns: 5000 },
    );
  });

  it('codec – random msgpack values of any shape never throw and are refused unless they are a valid frame', () => {
    fc.assert(
      fc.property(fc.anything({ withMap: true, withSet: false, withBigInt: false, withDate: true, withTypedArray: true, withNullPrototype: true, withObjectString: false }), (value) => {
        let bytes: Uint8Array;
        try {
          bytes = encode(value);
        } catch {
          return; // not encodable: nothing to send
        }
        expectResult(() => decodeClientFrame(bytes));
      }),
      { numRuns: 2000 },
    );
  });

  const mutation = fc.oneof(
    fc.record({ kind: fc.constant('drop' as const), pick: fc.nat() }),
    fc.record({ kind: fc.constant('retype' as const), pick: fc.nat(), to: fc.oneof(fc.string(), fc.double(), fc.boolean(), fc.constant(null), fc.array(fc.nat()), fc.object(), fc.constant(-1), fc.constant(1.5)) }),
    fc.record({ kind: fc.constant('type' as const), to: fc.oneof(fc.string(), fc.nat(), fc.constant(null)) }),
    fc.record({ kind: fc.constant('extra' as const), name: fc.string({ minLength: 1 }), value: fc.anything() }),
  );

  it('codec – near-valid frames give the documented code, and extra fields are dropped', () => {
    fc.assert(
      fc.property(clientFrame, mutation, (frame, m) => {
        const f = { ...frame } as Record<string, unknown>;
        const fields = Object.keys(f).filter((k) => k !== 'type');
        const field = fields.length ? fields[((m as { pick?: number }).pick ?? 0) % fields.length] : undefined;
        switch (m.kind) {
          case 'drop':
            if (!field) return;
            delete f[field];
            break;
          case 'retype':
            if (!field) return;
            f[field] = m.to;
            break;
          case 'type':
            f['type'] = m.to;
            break;
          case 'extra':
            if (m.name === 'type' || m.name in frame || m.name === '__proto__') return;
            f[m.name] = m.value;
            break;
        }
        let bytes: Uint8Array;
        try {
          bytes = encode(f);
        } catch {
          return;
        }
        const r = expectResult(() => decodeClientFrame(bytes));
        if (m.kind === 'extra') {
          expect(r).toEqual({ ok: true, value: frame });
        } else if (m.kind === 'type') {
          if (!r.ok) expect(r.error!.code).toBe(ErrorCode.UNKNOWN_TYPE);
        } else if (!r.ok) {
          expect([ErrorCode.INVALID_FIELD, ErrorCode.FRAME_TOO_LARGE]).toContain(r.error!.code);
        } else {
          // Still valid only when the mutation kept the field legal (e.g. an optional field removed).
          expect(frame.type === 'ping' || (m.kind === 'retype' && typeof m.to === typeof (frame as Record<string, unknown>)[field!])).toBe(true);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('codec – an oversized frame is refused as FRAME_TOO_LARGE before it is decoded', () => {
    const big = new Uint8Array(DEFAULT_LIMITS.maxFrameBytes + 1).fill(0xc1);
    expect(decodeClientFrame(big)).toMatchObject({ ok: false, error: { code: ErrorCode.FRAME_TOO_LARGE } });
    const longBody = encodeFrame({ type: 'send', conv: 'c', cid: 1, body: 'é'.repeat(DEFAULT_LIMITS.maxBodyBytes) });
    expect(decodeClientFrame(longBody)).toMatchObject({ ok: false, error: { code: ErrorCode.FRAME_TOO_LARGE } });
  });

  it('codec – two values in one frame, an empty frame and a non-map are BAD_FRAME', () => {
    const two = new Uint8Array([...encodeFrame({ type: 'ping' }), ...encodeFrame({ type: 'ping' })]);
    expect(decodeClientFrame(two)).toMatchObject({ ok: false, error: { code: ErrorCode.BAD_FRAME } });
    expect(decodeClientFrame(new Uint8Array())).toMatchObject({ ok: false, error: { code: ErrorCode.BAD_FRAME } });
    expect(decodeClientFrame(encode([1, 2]))).toMatchObject({ ok: false, error: { code: ErrorCode.BAD_FRAME } });
  });
});
