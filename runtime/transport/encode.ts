import { encodeCallBatch, encodeEnvelope, type ActorTell, type OutgoingCall } from '../../protocol/envelopes.js';
import { ErrorCode, ImError } from '../../protocol/errors.js';

/** A call batch cut to the byte limit: `send` goes now (as `data`), `rest` goes back to the head of the lane, `failed` can never go. */
export interface EncodedCalls<C> {
  data: Uint8Array | undefined;
  send: C[];
  rest: C[];
  failed: { call: C; error: ImError }[];
}

/**
 * Encodes the longest leading run of `calls` that fits in `limit` bytes. Normally that is one encode of the
 * whole batch; only an oversized batch is halved until it fits (keeping order: the tail waits for the next
 * slot). A call that alone is over the limit fails with FRAME_TOO_LARGE, one msgpack cannot carry with
 * INVALID_FIELD; both fail alone, without their neighbours.
 */
export function encodeCallsWithin<C extends OutgoingCall>(calls: C[], now: number, limit: number): EncodedCalls<C> {
  const failed: { call: C; error: ImError }[] = [];
  let live = calls;
  let n = live.length;
  while (n > 0) {
    let data: Uint8Array;
    try {
      data = encodeCallBatch(n === live.length ? live : live.slice(0, n), now);
    } catch {
      // Rare: find the calls whose payload cannot be encoded and fail exactly those.
      const ok: C[] = [];
      for (const c of live) {
        try {
          encodeCallBatch([c], now);
          ok.push(c);
        } catch (e) {
          failed.push({ call: c, error: new ImError(ErrorCode.INVALID_FIELD, `payload of ${c.op} is not encodable: ${(e as Error).message}`, { cause: e }) });
        }
      }
      live = ok;
      n = live.length;
      continue;
    }
    if (data.length <= limit) return { data, send: n === live.length ? live : live.slice(0, n), rest: n === live.length ? [] : live.slice(n), failed };
    if (n === 1) {
      failed.push({ call: live[0]!, error: new ImError(ErrorCode.FRAME_TOO_LARGE, `${live[0]!.op}: ${data.length} bytes is over the ${limit}-byte batch limit`) });
      return { data: undefined, send: [], rest: live.slice(1), failed };
    }
    n = Math.ceil(n / 2);
  }
  return { data: undefined, send: [], rest: [], failed };
}

/** Tell batches ready to publish, in order, and the tells that cannot be sent (logged and counted by the caller). */
export interface EncodedTells {
  batches: { data: Uint8Array; count: number }[];
  dropped: { tell: ActorTell; reason: string }[];
}

/** Encodes tells into as few messages under `limit` bytes as it can, in order; tells too big or unencodable are dropped. */
export function encodeTellsWithin(tells: ActorTell[], limit: number, out: EncodedTells = { batches: [], dropped: [] }): EncodedTells {
  if (tells.length === 0) return out;
  let data: Uint8Array | undefined;
  let reason = '';
  try {
    data = encodeEnvelope({ type: 'tells', tells });
  } catch (err) {
    reason = `not encodable: ${(err as Error).message}`;
  }
  if (data && data.length <= limit) {
    out.batches.push({ data, count: tells.length });
  } else if (tells.length > 1) {
    const half = Math.ceil(tells.length / 2);
    encodeTellsWithin(tells.slice(0, half), limit, out);
    encodeTellsWithin(tells.slice(half), limit, out);
  } else {
    out.dropped.push({ tell: tells[0]!, reason: data ? `${data.length} bytes is over the ${limit}-byte batch limit` : reason });
  }
  return out;
}
