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
 * refused (e.g. undecodable), and then `replies` is empty.
 */
export interface ReplyBatch {
  type: 'replies';
  replies: CallReply[];
  error?: { code: ErrorCode; message: string };
}

/** Every internal envelope, keyed on `type`. */
export type Envelope = CallBatch | TellBatch | ReplyBatch;

// Plain maps, no records: any process (or a debugging tool) can read the bytes without our structures.
// int64AsType 'number': ids and ttls stay numbers, never BigInt.
const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false, int64AsType: 'number' });

/** Encodes an envelope (one msgpack encode per batch). Throws only on unencodable payloads (e.g. BigInt cycles). */
export function encodeEnvelope(env: Envelope): Uint8Array {
  return packr.pack(env);
}

function bad(message: string, cause?: unknown): { ok: false; error: ImError } {
  return { ok: false, error: new ImError(ErrorCode.BAD_FRAME, message, cause === undefined ? undefined : { cause }) };
}

const isStr = (v: unknown): v is string => typeof v === 'string';
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

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
      const calls = v['calls'];
      if (!Array.isArray(calls)) return bad('calls envelope without a calls array');
      for (const c of calls as unknown[]) {
        if (!isObj(c) || !Number.isInteger(c['id']) || !isStr(c['kind']) || !isStr(c['key']) || !isStr(c['op']) || typeof c['ttl'] !== 'number') {
          return bad('malformed call in batch');
        }
      }
      return { ok: true, value: { type: 'calls', calls: calls as ActorCall[] } };
    }
    case 'tells': {
      const tells = v['tells'];
      if (!Array.isArray(tells)) return bad('tells envelope without a tells array');
      for (const t of tells as unknown[]) {
        if (!isObj(t) || !isStr(t['kind']) || !isStr(t['key']) || !isStr(t['op'])) return bad('malformed tell in batch');
      }
      return { ok: true, value: { type: 'tells', tells: tells as ActorTell[] } };
    }
    case 'replies': {
      const replies = v['replies'];
      if (!Array.isArray(replies)) return bad('replies envelope without a replies array');
      for (const r of replies as unknown[]) {
        if (!isObj(r) || !Number.isInteger(r['id']) || typeof r['ok'] !== 'boolean') return bad('malformed reply in batch');
        if (r['ok'] === false) {
          // A code from a newer peer that we do not know still has to reach the caller as some ImError.
          if (!isErrorCode(r['code'])) r['code'] = ErrorCode.INTERNAL;
          if (!isStr(r['message'])) r['message'] = String(r['message'] ?? '');
        }
      }
      const value: ReplyBatch = { type: 'replies', replies: replies as CallReply[] };
      const err = v['error'];
      if (isObj(err)) value.error = { code: isErrorCode(err['code']) ? err['code'] : ErrorCode.INTERNAL, message: String(err['message'] ?? '') };
      return { ok: true, value };
    }
    default:
      return { ok: false, error: new ImError(ErrorCode.UNKNOWN_TYPE, `unknown envelope type ${String(v['type'])}`) };
  }
}
