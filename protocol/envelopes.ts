import { Packr } from 'msgpackr';
import { ErrorCode, ImError, isErrorCode, type Result } from './errors.js';

/**
 * Envelopes between node processes on shard subjects (internal: clients never see them).
 *
 * Many actor calls bound for one subject travel in one NATS message (a {@link CallBatch}) and are answered by
 * one {@link ReplyBatch}, correlated by per-sender call ids. Fire-and-forget operations travel in a
 * {@link TellBatch}, which gets no reply.
 *
 * Deadlines travel as remaining milliseconds (`ttl`), not as epoch ms: clocks of different machines never
 * meet, at the price of not counting the time on the wire (sub-millisecond on a LAN).
 */
export interface ActorCall {
  /** Unique among the sender's outstanding calls; echoed in the reply. */
  id: number;
  kind: string;
  key: string;
  op: string;
  /** Any msgpack value; the actor validates it. */
  payload: unknown;
  /** Milliseconds the caller still waits, as of sending the batch. */
  ttl: number;
}

/** Fire-and-forget operation (fan-out deliveries): no id, no deadline, no reply. */
export interface ActorTell {
  kind: string;
  key: string;
  op: string;
  payload: unknown;
}

/** The answer to one call of a batch. */
export type CallReply = { id: number; ok: true; value: unknown } | { id: number; ok: false; code: ErrorCode; message: string };

/** Request: many calls, one NATS message. */
export interface CallBatch {
  type: 'calls';
  calls: ActorCall[];
}

/** One-way: many tells, one NATS message. */
export interface TellBatch {
  type: 'tells';
  tells: ActorTell[];
}

/**
 * Reply to a {@link CallBatch}: one entry per call, in any order. `error` instead says the whole batch was
 * refused (e.g. undecodable), and then `replies` is empty. `notServed` names calls whose (unavailable) replies
 * mean "not run: this node does not serve that shard now", which the caller may send again; a peer that does not
 * know the field just sees their UNAVAILABLE.
 */
export interface ReplyBatch {
  type: 'replies';
  replies: CallReply[];
  error?: { code: ErrorCode; message: string };
  notServed?: number[];
}

/** Every internal envelope, keyed on `type`. */
export type Envelope = CallBatch | TellBatch | ReplyBatch;

/*
 * On the wire the batch is a map keyed on `type`, but each item is a tuple, not a map: a map repeats its key
 * strings for every call, and encoding and decoding those keys was the largest single CPU cost of a batch
 * (measured in scripts/bench/runtime-throughput.ts). Tuples, in field order:
 *   call  [id, kind, key, op, payload, ttl]
 *   tell  [kind, key, op, payload]
 *   reply [id, 1, value] | [id, 0, code, message]
 */
type WireCall = [number, string, string, string, unknown, number];
type WireTell = [string, string, string, unknown];
type WireReply = [number, 1, unknown] | [number, 0, string, string];

// Plain maps and arrays, no records: any process (or a debugging tool) can read the bytes without our
// structures. int64AsType 'number': ids and ttls stay numbers, never BigInt.
const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false, int64AsType: 'number' });

/** Encodes an envelope (one msgpack encode per batch). Throws only on payloads msgpack cannot carry. */
export function encodeEnvelope(env: Envelope): Uint8Array {
  switch (env.type) {
    case 'calls': {
      const calls: WireCall[] = new Array(env.calls.length);
      for (let i = 0; i < calls.length; i++) {
        const c = env.calls[i]!;
        calls[i] = [c.id, c.kind, c.key, c.op, c.payload, c.ttl];
      }
      return packr.pack({ type: 'calls', calls });
    }
    case 'tells': {
      const tells: WireTell[] = new Array(env.tells.length);
      for (let i = 0; i < tells.length; i++) {
        const t = env.tells[i]!;
        tells[i] = [t.kind, t.key, t.op, t.payload];
      }
      return packr.pack({ type: 'tells', tells });
    }
    case 'replies': {
      const replies: WireReply[] = new Array(env.replies.length);
      for (let i = 0; i < replies.length; i++) {
        const r = env.replies[i]!;
        replies[i] = r.ok ? [r.id, 1, r.value] : [r.id, 0, r.code, r.message];
      }
      const out: Record<string, unknown> = { type: 'replies', replies };
      if (env.error) out['error'] = env.error;
      if (env.notServed?.length) out['notServed'] = env.notServed;
      return packr.pack(out);
    }
  }
}

/** A call as its sender holds it: an absolute local deadline instead of the wire's ttl. */
export type OutgoingCall = Omit<ActorCall, 'ttl'> & { deadline: number };

/** Encodes calls straight from the sender's records (no intermediate objects), turning deadlines into ttls as of `now`. */
export function encodeCallBatch(calls: readonly OutgoingCall[], now: number): Uint8Array {
  const wire: WireCall[] = new Array(calls.length);
  for (let i = 0; i < wire.length; i++) {
    const c = calls[i]!;
    wire[i] = [c.id, c.kind, c.key, c.op, c.payload, c.deadline - now];
  }
  return packr.pack({ type: 'calls', calls: wire });
}

function bad(message: string, cause?: unknown): { ok: false; error: ImError } {
  return { ok: false, error: new ImError(ErrorCode.BAD_FRAME, message, cause === undefined ? undefined : { cause }) };
}

const isStr = (v: unknown): v is string => typeof v === 'string';
// Plain maps only: msgpackr turns some bytes (e.g. the reserved 0xc1) into objects of its own classes.
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype;

/** Decodes an envelope and checks its shape; never throws (a bad envelope is BAD_FRAME). Payloads are left to the actor. */
export function decodeEnvelope(bytes: Uint8Array): Result<Envelope> {
  let v: unknown;
  try {
    v = packr.unpack(bytes);
  } catch (err) {
    return bad('envelope is not msgpack', err);
  }
  if (!isObj(v)) return bad('envelope is not a map');
  switch (v['type']) {
    case 'calls': {
      const wire = v['calls'];
      if (!Array.isArray(wire)) return bad('calls envelope without a calls array');
      const calls: ActorCall[] = new Array(wire.length);
      for (let i = 0; i < wire.length; i++) {
        const c: unknown = wire[i];
        if (!Array.isArray(c) || c.length !== 6 || !Number.isInteger(c[0]) || !isStr(c[1]) || !isStr(c[2]) || !isStr(c[3]) || typeof c[5] !== 'number') {
          return bad('malformed call in batch');
        }
        calls[i] = { id: c[0] as number, kind: c[1], key: c[2], op: c[3], payload: c[4], ttl: c[5] };
      }
      return { ok: true, value: { type: 'calls', calls } };
    }
    case 'tells': {
      const wire = v['tells'];
      if (!Array.isArray(wire)) return bad('tells envelope without a tells array');
      const tells: ActorTell[] = new Array(wire.length);
      for (let i = 0; i < wire.length; i++) {
        const t: unknown = wire[i];
        if (!Array.isArray(t) || t.length !== 4 || !isStr(t[0]) || !isStr(t[1]) || !isStr(t[2])) return bad('malformed tell in batch');
        tells[i] = { kind: t[0], key: t[1], op: t[2], payload: t[3] };
      }
      return { ok: true, value: { type: 'tells', tells } };
    }
    case 'replies': {
      const wire = v['replies'];
      if (!Array.isArray(wire)) return bad('replies envelope without a replies array');
      const replies: CallReply[] = new Array(wire.length);
      for (let i = 0; i < wire.length; i++) {
        const r: unknown = wire[i];
        if (!Array.isArray(r) || !Number.isInteger(r[0])) return bad('malformed reply in batch');
        if (r[1] === 1 && r.length === 3) replies[i] = { id: r[0] as number, ok: true, value: r[2] };
        else if (r[1] === 0 && r.length === 4) {
          // A code from a newer peer that we do not know still has to reach the caller as some ImError.
          replies[i] = { id: r[0] as number, ok: false, code: isErrorCode(r[2]) ? r[2] : ErrorCode.INTERNAL, message: isStr(r[3]) ? r[3] : String(r[3]) };
        } else return bad('malformed reply in batch');
      }
      const value: ReplyBatch = { type: 'replies', replies };
      const err = v['error'];
      if (isObj(err)) value.error = { code: isErrorCode(err['code']) ? err['code'] : ErrorCode.INTERNAL, message: String(err['message'] ?? '') };
      const ns = v['notServed'];
      if (ns !== undefined) {
        if (!Array.isArray(ns) || !ns.every((id) => Number.isInteger(id))) return bad('notServed must be a list of call ids');
        value.notServed = ns as number[];
      }
      return { ok: true, value };
    }
    default:
      if (typeof v['type'] !== 'string') return bad('envelope without a type');
      return { ok: false, error: new ImError(ErrorCode.UNKNOWN_TYPE, `unknown envelope type ${String(v['type'])}`) };
  }
}
