import { ErrorCode, ImError, type Result } from './errors.js';
import { DEFAULT_LIMITS, MAX_MENTIONS } from './limits.js';

/**
 * Field helpers of the frame validators (validate.ts, validate-server.ts): each throws an ImError naming the
 * field, and the validators turn it into a Result: the happy path then reads as one object literal per type,
 * and throwing costs only on bad input.
 */

export type Obj = Record<string, unknown>;

/** UTF-8 byte length of a string, computed without encoding it (lone surrogates count as U+FFFD). */
export function utf8Length(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 2; // the pair is 2 UTF-16 units and 4 bytes
      i++;
    } else n += 2;
  }
  return n;
}

/** In a `u` regex a valid pair is one code point: only a lone surrogate is in the Cs category. */
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * False when `s` holds a lone UTF-16 surrogate. UTF-8 has no such character: Postgres stores U+FFFD, while msgpack
 * would carry the surrogate's invalid bytes live, which strict decoders refuse (a JSON body, or msgpack bytes
 * ED A0 80, can carry one in).
 */
export function wellFormed(s: string): boolean {
  return !LONE_SURROGATE.test(s);
}

/** At least how many bytes string `s` takes in a msgpack frame: its UTF-8 and a header of `header` bytes (0 when absent). */
export function packedStrBytes(s: string | undefined, header: number): number {
  return s === undefined ? 0 : header + utf8Length(s);
}

/** Why `s` is not a valid id (1..maxBytes UTF-8 bytes, no control characters), or undefined when it is. */
export function idProblem(s: unknown, maxBytes: number = DEFAULT_LIMITS.maxIdLength): string | undefined {
  if (typeof s !== 'string') return 'must be a string';
  if (s.length === 0) return 'must not be empty';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // Ids end up in Postgres text (no NUL), subject tokens and log lines.
    if (c < 0x20 || c === 0x7f) return 'must not contain control characters';
    // A lone surrogate is no character: UTF-8 (msgpack, Postgres) turns it into U+FFFD, another id than this one.
    if (c >= 0xd800 && c <= 0xdfff) {
      if (c > 0xdbff || i + 1 >= s.length || (s.charCodeAt(i + 1) & 0xfc00) !== 0xdc00) return 'must be valid Unicode (no lone surrogates)';
      i++;
    }
  }
  // s.length ≤ bytes ≤ 3·s.length: most ids are decided without counting.
  if (s.length > maxBytes) return `must be at most ${maxBytes} bytes of UTF-8`;
  if (s.length * 3 > maxBytes && utf8Length(s) > maxBytes) return `must be at most ${maxBytes} bytes of UTF-8`;
  return undefined;
}

export function invalid(t: string, f: string, what: string, code: ErrorCode = ErrorCode.INVALID_FIELD): ImError {
  return new ImError(code, `${t}.${f} ${what}`);
}

export function wrongOrMissing(x: unknown, t: string, f: string, what: string): ImError {
  return invalid(t, f, x === undefined || x === null ? 'is missing' : what);
}

export function id(v: Obj, t: string, f: string, maxBytes: number): string {
  const x = v[f];
  const problem = idProblem(x, maxBytes);
  if (problem !== undefined) throw wrongOrMissing(x, t, f, problem);
  return x as string;
}

export function str(v: Obj, t: string, f: string): string {
  const x = v[f];
  if (typeof x !== 'string') throw wrongOrMissing(x, t, f, 'must be a string');
  return x;
}

export function body(v: Obj, t: string, f: string, maxBytes: number, mayBeEmpty = false): string {
  const x = v[f];
  if (typeof x !== 'string') throw wrongOrMissing(x, t, f, 'must be a string');
  if (x.length === 0 && !mayBeEmpty) throw invalid(t, f, 'must not be empty');
  if (x.length > maxBytes || (x.length * 3 > maxBytes && utf8Length(x) > maxBytes)) {
    throw invalid(t, f, `must be at most ${maxBytes} bytes of UTF-8`, ErrorCode.FRAME_TOO_LARGE);
  }
  if (!wellFormed(x)) throw invalid(t, f, 'must be valid Unicode (no lone surrogates)');
  return x;
}

/**
 * `x` unless it holds U+0000: for strings stored as Postgres text (a reaction, a title), which holds no NUL, where
 * one would come back as a storage error instead of this clear refusal. Message bodies are stored as bytes: any goes.
 */
export function noNul(x: string, t: string, f: string): string {
  if (x.includes('\u0000')) throw invalid(t, f, 'must not contain NUL characters');
  return x;
}

/** A safe integer ≥ 0 (seqs, rids). */
export function uint(v: Obj, t: string, f: string): number {
  const x = v[f];
  if (!Number.isSafeInteger(x) || (x as number) < 0) throw wrongOrMissing(x, t, f, 'must be an integer ≥ 0');
  return x as number;
}

/** A safe integer > 0 (client msg ids, intervals). */
export function pos(v: Obj, t: string, f: string): number {
  const x = v[f];
  if (!Number.isSafeInteger(x) || (x as number) <= 0) throw wrongOrMissing(x, t, f, 'must be an integer > 0');
  return x as number;
}

export function num(v: Obj, t: string, f: string): number {
  const x = v[f];
  if (typeof x !== 'number' || !Number.isFinite(x)) throw wrongOrMissing(x, t, f, 'must be a finite number');
  return x;
}

export function bool(v: Obj, t: string, f: string): boolean {
  const x = v[f];
  if (typeof x !== 'boolean') throw wrongOrMissing(x, t, f, 'must be a boolean');
  return x;
}

export function arr(v: Obj, t: string, f: string): unknown[] {
  const x = v[f];
  if (!Array.isArray(x)) throw wrongOrMissing(x, t, f, 'must be an array');
  return x;
}

/** A mute's end: epoch ms from 0 (not muted) to MUTED_FOREVER. */
export const absent = (x: unknown): boolean => x === undefined || x === null;

export function isPlainObject(x: unknown): x is Obj {
  if (typeof x !== 'object' || x === null) return false;
  const proto: unknown = Object.getPrototypeOf(x);
  return proto === Object.prototype || proto === null;
}

export function toResult<T>(err: unknown): Result<T> {
  return { ok: false, error: err instanceof ImError ? err : new ImError(ErrorCode.BAD_FRAME, String(err), { cause: err }) };
}

export function unknownType(type: unknown): ImError {
  const shown = typeof type === 'string' ? JSON.stringify(type.slice(0, 32)) : type === undefined ? 'missing' : typeof type;
  return new ImError(ErrorCode.UNKNOWN_TYPE, `unknown frame type ${shown}`);
}

export const NOT_A_MAP = 'a frame must be a msgpack map';

export function items<T>(list: unknown[], t: string, one: (x: unknown, t: string) => T): T[] {
  const out: T[] = new Array<T>(list.length);
  for (let i = 0; i < list.length; i++) {
    try {
      out[i] = one(list[i], t);
    } catch (err) {
      if (err instanceof ImError) throw new ImError(err.code, err.message.replace('[]', `[${i}]`));
      throw err;
    }
  }
  return out;
}

/** Checks the shape of a decoded server frame (the SDK's input): types only, no size policing; never throws. */
export function mentionListProblem(list: unknown, maxId: number = DEFAULT_LIMITS.maxIdLength): string | undefined {
  if (!Array.isArray(list) || list.length === 0 || list.length > MAX_MENTIONS) return `must hold 1–${MAX_MENTIONS} user ids`;
  for (const uid of list) {
    const problem = idProblem(uid, maxId);
    if (problem !== undefined) return `holds an id that ${problem}`;
  }
  return new Set(list).size === list.length ? undefined : 'must not name a user twice';
}

/** Runs `build` on a decoded frame (a map, or BAD_FRAME) and turns the coded error it throws into a Result; never throws. */
export function validated<T, A>(value: unknown, build: (v: Obj, arg: A) => T, arg: A): Result<T> {
  if (!isPlainObject(value)) return { ok: false, error: new ImError(ErrorCode.BAD_FRAME, NOT_A_MAP) };
  try {
    return { ok: true, value: build(value, arg) };
  } catch (err) {
    return toResult(err);
  }
}
