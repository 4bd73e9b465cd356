import { Packr } from 'msgpackr';
import { ErrorCode, ImError, isErrorCode, type Result } from './errors.js';

/**
 * Envelopes between node processes on shard subjects. Many actor calls bound for one subject travel in one
 * NATS message (a batch) and are answered by one reply batch, correlated by per-sender call ids.
 * Deadlines travel as remaining milliseconds (`ttl`), so clocks of different machines never meet.
 */
export interface ActorCall {
  id: number;
  kind: string;
  key: string;
  op: string;
  payload: unknown;
  /** Milliseconds the caller still waits when the batch is sent. */
  ttl: number;
}

/** Fire-and-forget operation (fan-out deliveries): no id, no reply. */
export interface ActorTell {
  kind: string;
  key: string;
  op: string;
  payload: unknown;
}

export type CallReply = { id: number; ok: true; value: unknown } | { id: number; ok: false; code: ErrorCode; message: string };

export type Envelope =
  | { type: 'calls'; calls: ActorCall[] }
  | { type: 'tells'; tells: ActorTell[] }
  /** One reply per call of a `calls` batch; `error` when the whole batch was refused (e.g. undecodable). */
  | { type: 'replies'; replies: CallReply[]; error?: { code: ErrorCode; message: string } };

const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false });

/** Encodes an envelope (one msgpack encode per batch). */
export function encodeEnvelope(env: Envelope): Uint8Array {
  return packr.pack(env);
}

function bad(message: string, cause?: unknown): { ok: false; error: ImError } {
  return { ok: false, error: new ImError(ErrorCode.BAD_FRAME, message, cause === undefined ? undefined : { cause }) };
}

const isStr = (v: unknown): v is string => typeof v === 'string';

/** Decodes an envelope and checks its shape; never throws. Payloads are left to the actor to validate. */
export function decodeEnvelope(bytes: Uint8Array): Result<Envelope> {
  let v: unknown;
  try {
    v = packr.unpack(bytes);
  } catch (err) {
    return bad('envelope is not msgpack', err);
  }
  if (typeof v !== 'object' || v === null) return bad('envelope is not a map');
  const e = v as Record<string, unknown>;
  switch (e['type']) {
    case 'calls': {
      const calls = e['calls'];
      if (!Array.isArray(calls)) return bad('calls envelope without a calls array');
      for (const c of calls as Record<string, unknown>[]) {
        if (typeof c !== 'object' || c === null || !Number.isInteger(c['id']) || !isStr(c['kind']) || !isStr(c['key']) || !isStr(c['op']) || typeof c['ttl'] !== 'number') {
          return bad('malformed call in batch');
        }
      }
      return { ok: true, value: { type: 'calls', calls: calls as ActorCall[] } };
    }
    case 'tells': {
      const tells = e['tells'];
      if (!Array.isArray(tells)) return bad('tells envelope without a tells array');
      for (const t of tells as Record<string, unknown>[]) {
        if (typeof t !== 'object' || t === null || !isStr(t['kind']) || !isStr(t['key']) || !isStr(t['op'])) return bad('malformed tell in batch');
      }
      return { ok: true, value: { type: 'tells', tells: tells as ActorTell[] } };
    }
    case 'replies': {
      const replies = e['replies'];
      if (!Array.isArray(replies)) return bad('replies envelope without a replies array');
      for (const r of replies as Record<string, unknown>[]) {
        if (typeof r !== 'object' || r === null || !Number.isInteger(r['id']) || typeof r['ok'] !== 'boolean') return bad('malformed reply in batch');
        if (r['ok'] === false && !isErrorCode(r['code'])) r['code'] = ErrorCode.INTERNAL;
      }
      const err = e['error'] as { code?: unknown; message?: unknown } | undefined;
      const value: Envelope = { type: 'replies', replies: replies as CallReply[] };
      if (err && typeof err === 'object') value.error = { code: isErrorCode(err.code) ? err.code : ErrorCode.INTERNAL, message: String(err.message ?? '') };
      return { ok: true, value };
    }
    default:
      return { ok: false, error: new ImError(ErrorCode.UNKNOWN_TYPE, `unknown envelope type ${String(e['type'])}`) };
  }
}
