import { Packr } from 'msgpackr';
import { ErrorCode, ImError, type Result } from './errors.js';
import type { ClientFrame, ServerFrame } from './frames.js';
import { DEFAULT_LIMITS, SERVER_FRAME_LIMITS, type FrameLimits } from './limits.js';
import { validateClientFrame, validateServerFrame } from './validate.js';

/**
 * The msgpack codec of the client protocol (msgpackr underneath).
 *
 * Frames are plain msgpack: maps (string keys), arrays, strings, integers, floats, booleans, nil and bin.
 * msgpackr also understands its own extensions (records, timestamps, Error, RegExp, BigInt, Set, typed arrays,
 * bundled strings, the reserved 0xc1) and would build those objects from untrusted bytes, some of them at a
 * real CPU cost. So untrusted bytes are first walked by {@link scanPlain}, which refuses every one of those
 * encodings and bounds the nesting depth without recursion, and only then handed to msgpackr.
 */

// Frames: no records (other languages must read them), `undefined` goes out as nil (read back as "absent").
const framePackr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false, int64AsType: 'number', encodeUndefinedAsNil: true });
// Internal values: same wire shape; msgpackr extensions allowed because both ends are our processes.
const valuePackr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false, int64AsType: 'number' });

/** Encodes a client or server frame to msgpack bytes (the returned view stays valid after later calls). */
export function encodeFrame(frame: ClientFrame | ServerFrame): Uint8Array {
  return framePackr.pack(frame);
}

/**
 * A `ping` without `ts`, byte for byte as msgpackr (the SDK) writes it (a map16 header), and the `pong` that
 * answers it. Pings are all an idle connection sends: the gateway answers these bytes, and the same map with the
 * shorter fixmap header most other msgpack libraries write, without decoding them, so that idle connections make
 * almost no garbage. Any other encoding of a ping takes the general path.
 */
// Copied into plain Uint8Arrays: msgpackr hands back a Buffer view of its shared buffer, whose slice() is a view
// as well, so a caller's "copy" could rewrite the constants.
export const BARE_PING: Uint8Array = Uint8Array.from(encodeFrame({ type: 'ping' }));
export const BARE_PONG: Uint8Array = Uint8Array.from(encodeFrame({ type: 'pong' }));
// The one entry after the map header: "type" → "ping".
const PING_ENTRY = Uint8Array.from([0xa4, 0x74, 0x79, 0x70, 0x65, 0xa4, 0x70, 0x69, 0x6e, 0x67]);

/** Whether `bytes` are exactly `{type: 'ping'}` with a fixmap or map16 header. */
export function isBarePing(bytes: Uint8Array): boolean {
  let at: number;
  if (bytes.length === PING_ENTRY.length + 1 && bytes[0] === 0x81) at = 1;
  else if (bytes.length === PING_ENTRY.length + 3 && bytes[0] === 0xde && bytes[1] === 0 && bytes[2] === 1) at = 3;
  else return false;
  for (let i = 0; i < PING_ENTRY.length; i++) if (bytes[at + i] !== PING_ENTRY[i]) return false;
  return true;
}

/** Encodes any value for internal use (NATS payloads): no validation. */
export function encode(value: unknown): Uint8Array {
  return valuePackr.pack(value);
}

/** Decodes internal bytes without validation; throws ImError BAD_FRAME when they are not msgpack. */
export function decode(bytes: Uint8Array): unknown {
  try {
    return valuePackr.unpack(bytes);
  } catch (err) {
    throw new ImError(ErrorCode.BAD_FRAME, 'payload is not msgpack', { cause: err });
  }
}

// Remaining item count per open container, and whether that container is a map (its even slots are keys).
// Module-level and reused: the scan is synchronous, so one pair serves every call without allocating.
const MAX_SCAN_DEPTH = 64;
const pending = new Float64Array(MAX_SCAN_DEPTH + 1);
const isMap = new Uint8Array(MAX_SCAN_DEPTH + 1);

/**
 * Walks msgpack bytes without building anything. Returns undefined when they hold exactly one plain value
 * (string map keys, no extension types, at most `maxDepth` levels of containers), else what is wrong.
 */
export function scanPlain(b: Uint8Array, maxDepth: number = DEFAULT_LIMITS.maxDepth): string | undefined {
  const end = b.length;
  const depthCap = Math.min(maxDepth, MAX_SCAN_DEPTH);
  let pos = 0;
  let depth = 0;
  pending[0] = 1;
  isMap[0] = 0;
  for (;;) {
    while (pending[depth] === 0) {
      if (depth === 0) return pos === end ? undefined : 'trailing bytes after the value';
      depth--;
    }
    const key = isMap[depth] === 1 && pending[depth]! % 2 === 0;
    pending[depth]!--;
    if (pos >= end) return 'truncated';
    const t = b[pos++]!;
    let skip = 0; // payload bytes after the header
    let items = -1; // children of a container, -1 for a scalar
    let map = false;
    if (t <= 0x7f || t >= 0xe0) {
      // fixint
    } else if (t <= 0x8f) {
      items = (t & 0x0f) * 2;
      map = true;
    } else if (t <= 0x9f) {
      items = t & 0x0f;
    } else if (t <= 0xbf) {
      skip = t & 0x1f;
    } else {
      switch (t) {
        case 0xc0: case 0xc2: case 0xc3: break;
        case 0xc4: case 0xd9: if (pos + 1 > end) return 'truncated'; skip = b[pos]!; pos += 1; break;
        case 0xc5: case 0xda: if (pos + 2 > end) return 'truncated'; skip = (b[pos]! << 8) | b[pos + 1]!; pos += 2; break;
        case 0xc6: case 0xdb: if (pos + 4 > end) return 'truncated'; skip = readU32(b, pos); pos += 4; break;
        case 0xca: skip = 4; break;
        case 0xcb: skip = 8; break;
        case 0xcc: case 0xd0: skip = 1; break;
        case 0xcd: case 0xd1: skip = 2; break;
        case 0xce: case 0xd2: skip = 4; break;
        case 0xcf: case 0xd3: skip = 8; break;
        case 0xdc: if (pos + 2 > end) return 'truncated'; items = (b[pos]! << 8) | b[pos + 1]!; pos += 2; break;
        case 0xdd: if (pos + 4 > end) return 'truncated'; items = readU32(b, pos); pos += 4; break;
        case 0xde: if (pos + 2 > end) return 'truncated'; items = ((b[pos]! << 8) | b[pos + 1]!) * 2; map = true; pos += 2; break;
        case 0xdf: if (pos + 4 > end) return 'truncated'; items = readU32(b, pos) * 2; map = true; pos += 4; break;
        case 0xc1: return 'reserved byte 0xc1';
        default: return `extension type 0x${t.toString(16)} is not allowed`; // 0xc7–0xc9, 0xd4–0xd8
      }
    }
    if (key && !((t >= 0xa0 && t <= 0xbf) || t === 0xd9 || t === 0xda || t === 0xdb)) return 'map keys must be strings';
    if (skip > 0) {
      if (skip > end - pos) return 'truncated';
      pos += skip;
    }
    if (items > 0) {
      // Every item takes at least one byte: refuse impossible counts before looping over them.
      if (items > end - pos) return 'truncated';
      if (depth + 1 > depthCap) return `nested deeper than ${depthCap} levels`;
      depth++;
      pending[depth] = items;
      isMap[depth] = map ? 1 : 0;
    } else if (items === 0 && depth + 1 > depthCap) {
      return `nested deeper than ${depthCap} levels`;
    }
  }
}

function readU32(b: Uint8Array, pos: number): number {
  return ((b[pos]! << 24) >>> 0) + ((b[pos + 1]! << 16) | (b[pos + 2]! << 8) | b[pos + 3]!);
}

function fail(code: ErrorCode, message: string, cause?: unknown): { ok: false; error: ImError } {
  return { ok: false, error: new ImError(code, message, cause === undefined ? undefined : { cause }) };
}

const MAP_FIXMAP_MIN = 0x80;
const MAP_FIXMAP_MAX = 0x8f;

/** Size check, plain-msgpack scan, then msgpackr; the value is a plain object when ok. */
function unpackFrame(input: Uint8Array | ArrayBuffer, limits: FrameLimits): Result<Record<string, unknown>> {
  let bytes: Uint8Array;
  if (input instanceof Uint8Array) bytes = input;
  else if (input instanceof ArrayBuffer) bytes = new Uint8Array(input); // uWebSockets.js hands us ArrayBuffers
  else return fail(ErrorCode.BAD_FRAME, 'a frame must be binary');
  if (bytes.length > limits.maxFrameBytes) return fail(ErrorCode.FRAME_TOO_LARGE, `frame is ${bytes.length} bytes, the limit is ${limits.maxFrameBytes}`);
  if (bytes.length === 0) return fail(ErrorCode.BAD_FRAME, 'empty frame');
  const first = bytes[0]!;
  if (!((first >= MAP_FIXMAP_MIN && first <= MAP_FIXMAP_MAX) || first === 0xde || first === 0xdf)) return fail(ErrorCode.BAD_FRAME, 'a frame must be a msgpack map');
  const problem = scanPlain(bytes, limits.maxDepth);
  if (problem !== undefined) return fail(ErrorCode.BAD_FRAME, `frame is not plain msgpack: ${problem}`);
  try {
    return { ok: true, value: framePackr.unpack(bytes) as Record<string, unknown> };
  } catch (err) {
    // Unreachable for bytes that passed the scan, but the codec must never throw past itself.
    return fail(ErrorCode.BAD_FRAME, 'frame is not valid msgpack', err);
  }
}

/** Decodes and validates untrusted client bytes; never throws (BAD_FRAME, UNKNOWN_TYPE, INVALID_FIELD, FRAME_TOO_LARGE). */
export function decodeClientFrame(bytes: Uint8Array | ArrayBuffer, limits: FrameLimits = DEFAULT_LIMITS): Result<ClientFrame> {
  const r = unpackFrame(bytes, limits);
  return r.ok ? validateClientFrame(r.value, limits) : r;
}

/** Whether bytes that failed to decode with `error` are a well-formed frame of a type this version does not know (a newer peer's: ignored). */
export function isUnknownFrameType(bytes: Uint8Array | ArrayBuffer, error: ImError, limits: FrameLimits = SERVER_FRAME_LIMITS): boolean {
  if (error.code !== ErrorCode.UNKNOWN_TYPE) return false;
  const r = unpackFrame(bytes, limits);
  return r.ok && typeof r.value['type'] === 'string';
}

/** Decodes a server frame in the SDK: shape checks only, unknown enum values normalised; never throws. */
export function decodeServerFrame(bytes: Uint8Array | ArrayBuffer, limits: FrameLimits = SERVER_FRAME_LIMITS): Result<ServerFrame> {
  const r = unpackFrame(bytes, limits);
  return r.ok ? validateServerFrame(r.value) : r;
}
