import { Packr } from 'msgpackr';
import { ErrorCode, ImError, type Result } from './errors.js';
import type { ClientFrame, ServerFrame } from './frames.js';
import { DEFAULT_LIMITS, type FrameLimits } from './limits.js';
import { validateClientFrame, validateServerFrame } from './validate.js';

/**
 * Plain msgpack only: maps as objects, no records/structures (a client in another language must be able to
 * speak it), no msgpackr extensions on the way in (`moreTypes: false`; timestamps and other ext types are
 * refused by validation because they decode to non-plain values).
 */
const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false, int64AsType: 'number' });

/** Encodes any frame (client or server) to msgpack bytes. */
export function encodeFrame(frame: ClientFrame | ServerFrame): Uint8Array {
  return packr.pack(frame);
}

/** Encodes an arbitrary plain value (internal use: no validation). */
export function encode(value: unknown): Uint8Array {
  return packr.pack(value);
}

/** Decodes msgpack bytes (internal use: throws ImError BAD_FRAME on garbage). */
export function decode(bytes: Uint8Array): unknown {
  try {
    return packr.unpack(bytes);
  } catch (err) {
    throw new ImError(ErrorCode.BAD_FRAME, 'not msgpack', { cause: err });
  }
}

function unpack(bytes: Uint8Array, maxBytes: number): Result<unknown> {
  if (!(bytes instanceof Uint8Array)) return { ok: false, error: new ImError(ErrorCode.BAD_FRAME, 'a frame must be binary') };
  if (bytes.byteLength > maxBytes) return { ok: false, error: new ImError(ErrorCode.FRAME_TOO_LARGE, `frame is ${bytes.byteLength} bytes, the limit is ${maxBytes}`) };
  if (bytes.byteLength === 0) return { ok: false, error: new ImError(ErrorCode.BAD_FRAME, 'empty frame') };
  try {
    // unpack() of bytes with trailing data returns the first value; a frame is exactly one value.
    const values = packr.unpackMultiple(bytes) as unknown[];
    if (values.length !== 1) return { ok: false, error: new ImError(ErrorCode.BAD_FRAME, 'a frame must hold exactly one msgpack value') };
    return { ok: true, value: values[0] };
  } catch (err) {
    return { ok: false, error: new ImError(ErrorCode.BAD_FRAME, 'frame is not valid msgpack', { cause: err }) };
  }
}

/** Decodes and validates untrusted bytes from a client; never throws. */
export function decodeClientFrame(bytes: Uint8Array, limits: FrameLimits = DEFAULT_LIMITS): Result<ClientFrame> {
  const r = unpack(bytes, limits.maxFrameBytes);
  return r.ok ? validateClientFrame(r.value, limits) : r;
}

/** Decodes a server frame (in the SDK); never throws. */
export function decodeServerFrame(bytes: Uint8Array, maxBytes = 16 * 1024 * 1024): Result<ServerFrame> {
  const r = unpack(bytes, maxBytes);
  return r.ok ? validateServerFrame(r.value) : r;
}
