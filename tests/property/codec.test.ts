import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { decode, decodeClientFrame, decodeServerFrame, encode, encodeFrame, scanPlain } from '../../protocol/codec.js';
import { ErrorCode, isErrorCode, type Result } from '../../protocol/errors.js';
import { CLIENT_FRAME_TYPES, MUTED_FOREVER, SERVER_FRAME_TYPES, type ClientFrame, type ServerFrame } from '../../protocol/frames.js';
import { DEFAULT_LIMITS, type FrameLimits } from '../../protocol/limits.js';
import { idProblem } from '../../protocol/validate.js';

// ---- arbitraries of valid frames ------------------------------------------------------------------------

const id = fc.oneof(
  fc.stringMatching(/^[a-z0-9:_-]{1,40}$/),
  fc.string({ minLength: 1, maxLength: 30, unit: 'binary' }).filter((s) => idProblem(s) === undefined),
);
const uint = fc.oneof(fc.nat({ max: 1000 }), fc.nat({ max: Number.MAX_SAFE_INTEGER }));
const pos = fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER });
const body = fc.string({ minLength: 1, maxLength: 300, unit: 'grapheme' });
const anyStr = fc.string({ maxLength: 40, unit: 'binary' });
// msgpack has no integer -0: it arrives as 0, the same timestamp.
const finite = fc.double({ noNaN: true, noDefaultInfinity: true }).map((x) => (x === 0 ? 0 : x));
const ms = fc.integer({ min: 0, max: 4_102_444_800_000 }); // up to 2100, above 2^32: msgpackr sends float64
const pinArb = fc.record({ seq: pos, by: id, at: ms }, { requiredKeys: ['seq', 'at'] });

const clientFrame: fc.Arbitrary<ClientFrame> = fc.oneof(
  fc.record({ type: fc.constant('send' as const), conv: id, cid: pos, body }),
  fc.record({ type: fc.constant('send' as const), conv: id, cid: pos, body: fc.oneof(fc.constant(''), body), recall: pos }),
  fc.record({ type: fc.constant('send' as const), conv: id, cid: pos, body, edit: pos }),
  fc.record({ type: fc.constant('send' as const), conv: id, cid: pos, body: fc.constantFrom('', '👍', '❤️', '👨‍👩‍👧‍👦', ':+1:'), react: pos }),
  fc.record({ type: fc.constant('send' as const), conv: id, cid: pos, body, mentions: fc.uniqueArray(id, { minLength: 1, maxLength: 4 }), mentionAll: fc.constant(true as const), reply: pos }, { requiredKeys: ['type', 'conv', 'cid', 'body'] }),
  fc.record({ type: fc.constant('ack' as const), conv: id, seq: uint }),
  fc.record({ type: fc.constant('read' as const), conv: id, seq: uint }),
  fc.record({ type: fc.constant('pull' as const), rid: uint, conv: id, after: uint, limit: fc.integer({ min: 1, max: DEFAULT_LIMITS.maxPullLimit }) }),
  fc.record({ type: fc.constant('members' as const), rid: uint, conv: id, after: id, limit: fc.integer({ min: 1, max: DEFAULT_LIMITS.maxPullLimit }) }, { requiredKeys: ['type', 'rid', 'conv', 'limit'] }),
  fc.record({ type: fc.constant('reactors' as const), rid: uint, conv: id, seq: pos, after: id, emoji: fc.constantFrom('👍', '❤️', ':+1:'), limit: fc.integer({ min: 1, max: DEFAULT_LIMITS.maxPullLimit }) }, { requiredKeys: ['type', 'rid', 'conv', 'seq', 'limit'] }),
  fc.record({ type: fc.constant('sync' as const), rid: uint }),
  fc.record({ type: fc.constant('typing' as const), conv: id }),
  fc.record({ type: fc.constant('ping' as const), ts: finite }, { requiredKeys: ['type'] }),
  fc.record({ type: fc.constant('refresh' as const), rid: uint, token: fc.string({ minLength: 1, maxLength: 200 }) }),
  fc.record({ type: fc.constant('mute' as const), rid: uint, conv: id, until: fc.integer({ min: 0, max: MUTED_FOREVER }) }),
  fc.record({ type: fc.constant('leave' as const), rid: uint, conv: id }),
  fc.record({ type: fc.constant('prefs' as const), rid: uint, conv: id, pinned: fc.boolean(), archived: fc.boolean(), unread: fc.boolean() }, { requiredKeys: ['type', 'rid', 'conv', 'pinned'] }),
  fc.record({ type: fc.constant('clear' as const), rid: uint, conv: id, seq: uint }),
  fc.record({ type: fc.constant('hide' as const), rid: uint, conv: id, seqs: fc.uniqueArray(pos, { minLength: 1, maxLength: 100 }) }),
  fc.record({ type: fc.constant('hides' as const), rid: uint, conv: id }),
  fc.record({ type: fc.constant('pin' as const), rid: uint, conv: id, seq: pos, pinned: fc.boolean() }),
  fc.record({ type: fc.constant('report' as const), rid: uint, conv: id, seq: pos, reason: fc.string({ minLength: 1, maxLength: 40 }) }, { requiredKeys: ['type', 'rid', 'conv', 'seq'] }),
);

const msg = fc.record(
  { conv: id, seq: uint, prev: uint, from: id, did: anyStr, cid: uint, ts: ms, body: fc.string({ maxLength: 300, unit: 'grapheme' }), recall: pos, recalled: pos, edit: pos, edited: pos, react: pos, was: fc.string({ maxLength: 8 }),
    reactions: fc.record({ counts: fc.array(fc.record({ emoji: fc.string({ maxLength: 8 }), n: pos }), { maxLength: 3 }), at: uint, mine: fc.string({ maxLength: 8 }) }, { requiredKeys: ['counts', 'at'] }), mentions: fc.array(id, { maxLength: 3 }), mentionAll: fc.constant(true as const), reply: pos, replyFrom: id, hidden: fc.constant(true as const) },
  { requiredKeys: ['conv', 'seq', 'prev', 'from', 'did', 'cid', 'ts', 'body'] },
);
const serverFrame: fc.Arbitrary<ServerFrame> = fc.oneof(
  fc.record({ type: fc.constant('welcome' as const), uid: id, did: id, node: id, heartbeatMs: pos, maxFrameBytes: pos }),
  fc.record({ type: fc.constant('sent' as const), cid: pos, conv: id, seq: uint, ts: ms, prev: uint, replyFrom: id, was: fc.constantFrom('👍', '❤️') }, { requiredKeys: ['type', 'cid', 'conv', 'seq', 'ts'] }),
  msg.map((m) => ({ type: 'msg' as const, ...m })),
  fc.record({ type: fc.constant('convs' as const), rid: uint, list: fc.array(fc.record({ conv: id, kind: fc.constantFrom('direct' as const, 'group' as const), lastSeq: uint, readSeq: uint, unread: fc.nat(), mentions: fc.nat(), peerRead: uint, peerDelivered: uint, peerLastSeen: ms, mutedUntil: uint, silencedUntil: uint, pins: fc.array(pinArb, { maxLength: 3 }), pinnedAt: uint, archivedAt: uint, markedUnreadAt: uint, clearedSeq: uint, posting: fc.constant('admins' as const), retention: pos, slowMode: pos, title: fc.string({ maxLength: 20 }), meta: fc.string({ maxLength: 20 }), lastTs: ms, hiddenAt: uint }, { requiredKeys: ['conv', 'kind', 'lastSeq', 'readSeq', 'unread'] }), { maxLength: 5 }) }, { requiredKeys: ['type', 'list'] }),
  fc.record({ type: fc.constant('history' as const), rid: uint, conv: id, msgs: fc.array(msg, { maxLength: 5 }), more: fc.boolean() }),
  fc.record({ type: fc.constant('members' as const), rid: uint, conv: id, members: fc.array(fc.record({ uid: id, role: fc.constantFrom('owner' as const, 'admin' as const, 'member' as const), readSeq: uint, deliveredSeq: uint, silencedUntil: uint }, { requiredKeys: ['uid', 'role'] }), { maxLength: 5 }), more: fc.boolean() }),
  fc.record({ type: fc.constant('reactors' as const), rid: uint, conv: id, seq: pos, reactors: fc.array(fc.record({ uid: id, emoji: fc.string({ maxLength: 8 }), seq: pos }), { maxLength: 5 }), more: fc.boolean() }),
  fc.record({ type: fc.constant('read' as const), conv: id, seq: uint, unread: fc.nat(), lastSeq: uint, mentions: fc.nat() }, { requiredKeys: ['type', 'conv', 'seq'] }),
  fc.record({ type: fc.constant('receipt' as const), conv: id, uid: id, seq: uint }),
  fc.record({ type: fc.constant('delivered' as const), conv: id, uid: id, seq: uint }),
  fc.record({ type: fc.constant('mute' as const), rid: uint, conv: id, until: uint }, { requiredKeys: ['type', 'conv', 'until'] }),
  fc.record({ type: fc.constant('silenced' as const), conv: id, until: uint }),
  fc.record({ type: fc.constant('pins' as const), rid: uint, conv: id, pins: fc.array(pinArb, { maxLength: 5 }) }, { requiredKeys: ['type', 'conv', 'pins'] }),
  fc.record({ type: fc.constant('prefs' as const), rid: uint, conv: id, pinnedAt: uint, archivedAt: uint, markedUnreadAt: uint }, { requiredKeys: ['type', 'conv', 'pinnedAt', 'archivedAt'] }),
  fc.record({ type: fc.constant('cleared' as const), rid: uint, conv: id, seq: uint }, { requiredKeys: ['type', 'conv', 'seq'] }),
  fc.record({ type: fc.constant('hidden' as const), rid: uint, conv: id, seqs: fc.array(pos, { maxLength: 5 }), unread: uint, mentions: uint, lastSeq: uint, hiddenAt: uint }, { requiredKeys: ['type', 'conv', 'seqs'] }),
  fc.record({ type: fc.constant('joined' as const), conv: id, kind: fc.constantFrom('direct' as const, 'group' as const), title: fc.string({ maxLength: 20 }), meta: fc.string({ maxLength: 20 }), lastSeq: uint, posting: fc.constant('admins' as const), retention: pos, slowMode: pos, pins: fc.array(pinArb, { maxLength: 3 }), clearedSeq: uint }, { requiredKeys: ['type', 'conv', 'kind', 'lastSeq'] }),
  fc.record({ type: fc.constant('posting' as const), conv: id, posting: fc.constantFrom('all' as const, 'admins' as const) }),
  fc.record({ type: fc.constant('retention' as const), conv: id, retention: uint }),
  fc.record({ type: fc.constant('slowmode' as const), conv: id, slowMode: uint }),
  fc.record({ type: fc.constant('left' as const), rid: uint, conv: id }, { requiredKeys: ['type', 'conv'] }),
  fc.record({ type: fc.constant('title' as const), conv: id, title: fc.string({ minLength: 1, maxLength: 20 }) }, { requiredKeys: ['type', 'conv'] }),
  fc.record({ type: fc.constant('meta' as const), conv: id, meta: fc.string({ minLength: 1, maxLength: 40 }) }, { requiredKeys: ['type', 'conv'] }),
  // Not a uid "__proto__" as a key: msgpackr decodes that key as "__proto_" (its guard against prototype pollution; below).
  fc.record({ type: fc.constant('roles' as const), conv: id, roles: fc.dictionary(id.filter((u) => u !== '__proto__'), fc.constantFrom('owner' as const, 'admin' as const, 'member' as const), { maxKeys: 4 }) }),
  fc.record({ type: fc.constant('typing' as const), conv: id, from: id }),
  fc.record({ type: fc.constant('presence' as const), uid: id, online: fc.boolean(), lastSeen: ms }, { requiredKeys: ['type', 'uid', 'online'] }),
  fc.record({ type: fc.constant('pong' as const), ts: finite }, { requiredKeys: ['type'] }),
  fc.record({ type: fc.constant('refreshed' as const), rid: uint, exp: fc.integer({ min: 0, max: 2 ** 40 }) }),
  fc.record({ type: fc.constant('reported' as const), rid: uint, conv: id, seq: uint }),
  fc.record({ type: fc.constant('error' as const), code: fc.constantFrom(...Object.values(ErrorCode)), message: fc.string(), rid: uint, cid: uint, conv: id }, { requiredKeys: ['type', 'code', 'message'] }),
  fc.record({ type: fc.constant('redirect' as const), endpoints: fc.array(anyStr, { maxLength: 8 }), reason: fc.constantFrom('drain' as const, 'overloaded' as const, 'moved' as const) }),
);

/** Plain msgpack values (what another language may put in an unknown field): maps, arrays, scalars, bin. */
const plainValue: fc.Arbitrary<unknown> = fc.letrec<{ v: unknown }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', maxDepth: 4 },
    fc.string(),
    fc.integer(),
    finite,
    fc.boolean(),
    fc.constant(null),
    fc.uint8Array({ maxLength: 8 }),
    fc.array(tie('v'), { maxLength: 4 }),
    fc.dictionary(fc.string().filter((k) => k !== '__proto__'), tie('v'), { maxKeys: 4 }),
  ),
})).v;

// ---- helpers --------------------------------------------------------------------------------------------

/** Decoding is total: it returns a Result and never throws; a failure always carries one of our codes. */
function total<T>(run: () => Result<T>): Result<T> {
  let r: Result<T> | undefined;
  expect(() => (r = run())).not.toThrow();
  expect(typeof r!.ok).toBe('boolean');
  if (!r!.ok) expect(isErrorCode(r!.error.code)).toBe(true);
  return r!;
}

/** Buffers (what msgpackr gives for bin) compared as plain byte arrays. */
const asPlain = (v: unknown): unknown =>
  v instanceof Uint8Array ? [...v] : Array.isArray(v) ? v.map(asPlain) : v !== null && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, asPlain(x)])) : v;
const codeOf = (r: Result<unknown>): string | undefined => (r.ok ? undefined : r.error.code);
// Encodes arbitrary objects with msgpackr extensions allowed (Dates become timestamps, etc.).
const looseEncode = (v: unknown): Uint8Array => new Packr({ useRecords: false, moreTypes: true }).pack(v);

// ---- properties -----------------------------------------------------------------------------------------

describe('codec – round trips', () => {
  it('codec – every client frame type survives a round trip', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(clientFrame, (f) => {
        seen.add(f.type);
        expect(decodeClientFrame(encodeFrame(f))).toEqual({ ok: true, value: f });
      }),
      { numRuns: 2000 },
    );
    expect([...seen].sort()).toEqual([...CLIENT_FRAME_TYPES].sort());
  });

  it('codec – every server frame type survives a round trip', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(serverFrame, (f) => {
        seen.add(f.type);
        expect(decodeServerFrame(encodeFrame(f))).toEqual({ ok: true, value: f });
      }),
      { numRuns: 2000 },
    );
    expect([...seen].sort()).toEqual([...SERVER_FRAME_TYPES].sort());
  });

  it('codec – a map key "__proto__" cannot set a decoded map\'s prototype: msgpackr reads it as "__proto_"', () => {
    const f = { type: 'roles' as const, conv: 'c', roles: { ['__proto__']: 'owner' as const, bob: 'admin' as const } };
    const r = decodeServerFrame(encodeFrame(f));
    expect(r).toEqual({ ok: true, value: { type: 'roles', conv: 'c', roles: { __proto_: 'owner', bob: 'admin' } } });
    expect(Object.getPrototypeOf((r as { value: { roles: object } }).value.roles)).toBe(Object.prototype);
  });

  it('codec – an ArrayBuffer (what uWebSockets.js hands over) decodes like a Uint8Array', () => {
    fc.assert(
      fc.property(clientFrame, (f) => {
        const bytes = encodeFrame(f);
        const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
        expect(decodeClientFrame(ab)).toEqual({ ok: true, value: f });
      }),
      { numRuns: 200 },
    );
  });

  it('codec – undefined optional fields go out as nil and come back absent', () => {
    const bytes = encodeFrame({ type: 'error', code: ErrorCode.NOT_MEMBER, message: 'no', rid: undefined, cid: 7 });
    expect(scanPlain(bytes)).toBeUndefined();
    expect(decodeServerFrame(bytes)).toEqual({ ok: true, value: { type: 'error', code: 'not_member', message: 'no', cid: 7 } });
  });

  it('codec – the internal encode/decode pair round-trips plain values', () => {
    fc.assert(
      fc.property(plainValue, (v) => {
        expect(asPlain(decode(encode(v)))).toEqual(asPlain(v));
      }),
    );
    expect(() => decode(new Uint8Array([0xc1]))).not.toThrow(); // msgpackr's own marker: internal decode trusts it
    expect(() => decode(new Uint8Array([0xdd, 0xff]))).toThrow(expect.objectContaining({ code: ErrorCode.BAD_FRAME }));
  });
});

describe('codec – garbage never throws', () => {
  it('codec – random bytes give a frame or a coded error', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        total(() => decodeClientFrame(bytes));
        total(() => decodeServerFrame(bytes));
        // Whatever the scan lets through, msgpackr reads without error.
        if (scanPlain(bytes, 64) === undefined) expect(() => decode(bytes)).not.toThrow();
      }),
      { numRuns: 5000 },
    );
  });

  it('codec – random bytes behind a map header give a frame or a coded error', () => {
    const header = fc.constantFrom([0x81], [0x82], [0x83], [0x84], [0x85], [0xde, 0x00, 0x02], [0xdf, 0xff, 0xff, 0xff, 0xff]);
    const typeKey = fc.constantFrom([], [0xa4, ...Buffer.from('type'), 0xa4, ...Buffer.from('send')], [0xa4, ...Buffer.from('type'), 0xa3, ...Buffer.from('msg')]);
    fc.assert(
      fc.property(header, typeKey, fc.uint8Array({ maxLength: 256 }), (h, t, rest) => {
        const bytes = new Uint8Array([...h, ...t, ...rest]);
        if (scanPlain(bytes, 64) === undefined) expect(() => decode(bytes)).not.toThrow();
        total(() => decodeClientFrame(bytes));
        total(() => decodeServerFrame(bytes));
      }),
      { numRuns: 5000 },
    );
  });

  it('codec – values of any shape, extensions included, never throw', () => {
    fc.assert(
      fc.property(fc.anything({ withMap: true, withSet: true, withBigInt: true, withDate: true, withTypedArray: true, withNullPrototype: true, withSparseArray: true }), (value) => {
        let bytes: Uint8Array;
        try {
          bytes = looseEncode(value);
        } catch {
          return; // not encodable: nothing to send
        }
        total(() => decodeClientFrame(bytes));
        total(() => decodeServerFrame(bytes));
      }),
      { numRuns: 2000 },
    );
  });

  it('codec – plain msgpack passes the scan, and anything with an extension type is BAD_FRAME', () => {
    fc.assert(
      fc.property(clientFrame, plainValue, (f, v) => {
        expect(scanPlain(encode(v), 64)).toBeUndefined();
        const withExt = looseEncode({ ...f, extra: [v, new Date(0)] });
        expect(codeOf(decodeClientFrame(withExt))).toBe(ErrorCode.BAD_FRAME);
      }),
      { numRuns: 500 },
    );
    for (const ext of [[0xd4, 0x72, 0x40], [0xd4, 0x00, 0x00], [0xd6, 0xff, 0, 0, 0, 0], [0xc7, 0x01, 0x65, 0x00], [0xc1]]) {
      const bytes = new Uint8Array([0x82, 0xa4, ...Buffer.from('type'), 0xa4, ...Buffer.from('ping'), 0xa1, 0x78, ...ext]);
      expect(decodeClientFrame(bytes)).toMatchObject({ ok: false, error: { code: ErrorCode.BAD_FRAME } });
    }
  });
});

// ---- near-valid frames: one mutation, one documented code ------------------------------------------------

type Mutation =
  | { kind: 'drop'; pick: number }
  | { kind: 'retype'; pick: number; to: unknown }
  | { kind: 'oversize'; pick: number }
  | { kind: 'type'; to: unknown }
  | { kind: 'extra'; name: string; value: unknown }
  | { kind: 'deep'; pick: number | undefined };

const notAString = fc.oneof(fc.integer(), finite, fc.boolean(), fc.array(fc.nat(), { maxLength: 3 }), fc.dictionary(fc.string(), fc.nat(), { maxKeys: 3 }), fc.uint8Array({ maxLength: 4 }));
const notANumber = fc.oneof(fc.string(), fc.boolean(), fc.array(fc.nat(), { maxLength: 3 }), fc.dictionary(fc.string(), fc.nat(), { maxKeys: 3 }));
const badInteger = fc.constantFrom(-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, -(2 ** 60));

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('drop' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('retype' as const), pick: fc.nat(), to: fc.oneof(notAString, notANumber, badInteger, fc.constant(null)) }),
  fc.record({ kind: fc.constant('oversize' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('type' as const), to: fc.oneof(fc.string().filter((s) => !(CLIENT_FRAME_TYPES as readonly string[]).includes(s)), fc.nat(), fc.constant(null), fc.constant(undefined)) }),
  fc.record({ kind: fc.constant('extra' as const), name: fc.string({ minLength: 1 }), value: plainValue }),
  fc.record({ kind: fc.constant('deep' as const), pick: fc.option(fc.nat(), { nil: undefined }) }),
);

const STRING_FIELDS = new Set(['conv', 'body', 'token', 'reason']);
const OPTIONAL_FIELDS = new Set(['ping.ts', 'send.recall', 'send.edit', 'send.react', 'send.mentions', 'send.mentionAll', 'send.reply', 'members.after', 'reactors.after', 'reactors.emoji', 'prefs.pinned', 'prefs.archived', 'prefs.unread', 'report.reason']);
/** A prefs frame needs one of its two changes. */
const prefsEmpty = (f: Record<string, unknown>): boolean => f['type'] === 'prefs' && (f['pinned'] ?? null) === null && (f['archived'] ?? null) === null && (f['unread'] ?? null) === null;
/** Without its recall or reaction, a send must have a body. */
const bodyless = (f: Record<string, unknown>): boolean => f['type'] === 'send' && f['body'] === '';
const nest = (depth: number): unknown => (depth === 0 ? 1 : [nest(depth - 1)]);

/** Applies the mutation; returns the mutated object and the code it must give (undefined: still valid). */
function mutate(frame: ClientFrame, m: Mutation): { value: Record<string, unknown>; expected: string | undefined } | undefined {
  const f: Record<string, unknown> = { ...frame };
  const fields = Object.keys(f).filter((k) => k !== 'type');
  const pickField = (n: number): string | undefined => (fields.length ? fields[n % fields.length] : undefined);
  switch (m.kind) {
    case 'drop': {
      const field = pickField(m.pick);
      if (!field) return undefined;
      delete f[field];
      return { value: f, expected: OPTIONAL_FIELDS.has(`${frame.type}.${field}`) && !((field === 'recall' || field === 'react') && bodyless(f)) && !prefsEmpty(f) ? undefined : ErrorCode.INVALID_FIELD };
    }
    case 'retype': {
      const field = pickField(m.pick);
      if (!field) return undefined;
      // `after` is a uid in `members` and `reactors`, a number elsewhere.
      const isString = STRING_FIELDS.has(field) || ((frame.type === 'members' || frame.type === 'reactors') && field === 'after') || field === 'emoji';
      if (['pinned', 'archived', 'unread', 'mentionAll'].includes(field) && typeof m.to === 'boolean') return undefined;
      // A hide's `seqs` retyped to another list of distinct seqs is still one.
      if (field === 'seqs' && Array.isArray(m.to) && m.to.length > 0 && m.to.every((x) => Number.isSafeInteger(x) && (x as number) >= 1) && new Set(m.to).size === m.to.length) return undefined;
      if (isString ? typeof m.to === 'string' : typeof m.to === 'number' && (field === 'ts' ? Number.isFinite(m.to) : Number.isSafeInteger(m.to) && (m.to as number) >= 1)) return undefined;
      f[field] = m.to;
      if (m.to === null && OPTIONAL_FIELDS.has(`${frame.type}.${field}`) && !((field === 'recall' || field === 'react') && bodyless(f)) && !prefsEmpty(f)) {
        delete f[field];
        return { value: { ...frame, [field]: null }, expected: undefined };
      }
      // 0 is a legal seq/rid/after, and a mute's until (0 unmutes), but not a legal cid/limit.
      if (m.to === 0 && !isString && ['seq', 'rid', 'after', 'until'].includes(field)) return undefined;
      return { value: f, expected: ErrorCode.INVALID_FIELD };
    }
    case 'oversize': {
      const field = pickField(m.pick);
      if (!field || field === 'ts') return undefined;
      if (field === 'conv') f[field] = 'c'.repeat(DEFAULT_LIMITS.maxIdLength + 1);
      else if (field === 'body') f[field] = '😀'.repeat(DEFAULT_LIMITS.maxBodyBytes / 4 + 1);
      else if (field === 'limit') f[field] = DEFAULT_LIMITS.maxPullLimit + 1;
      else if (field === 'token') f[field] = 'x'.repeat(4097);
      else f[field] = Number.MAX_SAFE_INTEGER + 2;
      return { value: f, expected: field === 'body' ? ErrorCode.FRAME_TOO_LARGE : ErrorCode.INVALID_FIELD };
    }
    case 'type':
      if (m.to === undefined) delete f['type'];
      else f['type'] = m.to;
      return { value: f, expected: ErrorCode.UNKNOWN_TYPE };
    case 'extra':
      if (m.name === 'type' || m.name in frame || m.name === '__proto__') return undefined;
      f[m.name] = m.value;
      return { value: f, expected: undefined };
    case 'deep': {
      const field = m.pick === undefined ? undefined : pickField(m.pick);
      // Within the depth limit a nested value in a known field is a wrong type; past it the frame is refused unread.
      f[field ?? 'junk'] = nest(3);
      return { value: f, expected: field === undefined ? undefined : ErrorCode.INVALID_FIELD };
    }
  }
}

describe('codec – near-valid frames', () => {
  it('codec – one mutated field gives the documented code; extra fields are dropped', () => {
    fc.assert(
      fc.property(clientFrame, mutation, (frame, m) => {
        const mutated = mutate(frame, m);
        if (!mutated) return;
        const r = total(() => decodeClientFrame(encode(mutated.value)));
        if (mutated.expected === undefined) {
          const want: Record<string, unknown> = { ...frame };
          // A dropped optional field (or one sent as nil) comes back absent.
          const sent = mutated.value as Record<string, unknown>;
          for (const k of Object.keys(want)) if (sent[k] === undefined || sent[k] === null) delete want[k];
          expect(r).toEqual({ ok: true, value: want });
        } else {
          expect(codeOf(r)).toBe(mutated.expected);
          if (!r.ok && mutated.expected !== ErrorCode.UNKNOWN_TYPE) expect(r.error.message).toMatch(new RegExp(`^${frame.type}\\.\\w+ `));
        }
      }),
      { numRuns: 5000 },
    );
  });

  it('codec – nesting past the depth limit is BAD_FRAME, even in an unknown field', () => {
    const limits: FrameLimits = { ...DEFAULT_LIMITS, maxDepth: 8 };
    // The frame's own map is level 1.
    expect(decodeClientFrame(encode({ type: 'ping', junk: nest(7) }), limits)).toEqual({ ok: true, value: { type: 'ping' } });
    expect(decodeClientFrame(encode({ type: 'ping', junk: nest(8) }), limits)).toMatchObject({ ok: false, error: { code: ErrorCode.BAD_FRAME } });
    // 60k levels would overflow msgpackr's recursion; the scan refuses it without recursing.
    const deep = new Uint8Array(60_000).fill(0x91);
    deep[deep.length - 1] = 0x01;
    expect(decodeClientFrame(new Uint8Array([0x81, 0xa1, 0x78, ...deep]))).toMatchObject({ ok: false, error: { code: ErrorCode.BAD_FRAME } });
  });

  it('codec – two values in one frame, an empty frame, a non-map and non-string keys are BAD_FRAME', () => {
    const two = new Uint8Array([...encodeFrame({ type: 'ping' }), ...encodeFrame({ type: 'ping' })]);
    for (const bytes of [two, new Uint8Array(), encode([1, 2]), encode('ping'), new Uint8Array([0x81, 0x01, 0x02]), new Uint8Array([0x82])]) {
      expect(decodeClientFrame(bytes)).toMatchObject({ ok: false, error: { code: ErrorCode.BAD_FRAME } });
    }
    expect(decodeClientFrame('{"type":"ping"}' as unknown as Uint8Array)).toMatchObject({ ok: false, error: { code: ErrorCode.BAD_FRAME } });
  });
});

describe('codec – size limit', () => {
  it('codec – input over the frame limit is FRAME_TOO_LARGE before any decoding', () => {
    const limits: FrameLimits = { ...DEFAULT_LIMITS, maxFrameBytes: 64 };
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 65, maxLength: 300 }), (bytes) => {
        expect(codeOf(total(() => decodeClientFrame(bytes, limits)))).toBe(ErrorCode.FRAME_TOO_LARGE);
      }),
    );
    // Bytes that would be BAD_FRAME if read at all.
    const big = new Uint8Array(DEFAULT_LIMITS.maxFrameBytes + 1).fill(0xc1);
    expect(decodeClientFrame(big)).toMatchObject({ ok: false, error: { code: ErrorCode.FRAME_TOO_LARGE } });
    expect(decodeClientFrame(new Uint8Array(DEFAULT_LIMITS.maxFrameBytes).fill(0xc1))).toMatchObject({ ok: false, error: { code: ErrorCode.BAD_FRAME } });
  });

  it('codec – a body over its limit in UTF-8 bytes is FRAME_TOO_LARGE, at the limit it passes', () => {
    const at = encodeFrame({ type: 'send', conv: 'c', cid: 1, body: 'é'.repeat(DEFAULT_LIMITS.maxBodyBytes / 2) });
    expect(decodeClientFrame(at).ok).toBe(true);
    const over = encodeFrame({ type: 'send', conv: 'c', cid: 1, body: 'é'.repeat(DEFAULT_LIMITS.maxBodyBytes / 2) + 'x' });
    expect(decodeClientFrame(over)).toMatchObject({ ok: false, error: { code: ErrorCode.FRAME_TOO_LARGE, message: expect.stringContaining('send.body') } });
  });
});
