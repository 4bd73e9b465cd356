import { ErrorCode, ImError, type Result } from './errors.js';
import { CLIENT_FRAME_TYPES, SERVER_FRAME_TYPES, type ClientFrame, type ServerFrame } from './frames.js';
import { DEFAULT_LIMITS, type FrameLimits } from './limits.js';

/** Field rules: what a field must be. A trailing `?` marks it optional. */
type Rule = 'id' | 'uint' | 'pos' | 'body' | 'limit' | 'num' | 'str' | 'bool' | 'arr' | 'strs';
type Spec = Record<string, Rule | `${Rule}?`>;

const CLIENT_SPECS: Record<ClientFrame['type'], Spec> = {
  send: { conv: 'id', cid: 'pos', body: 'body' },
  ack: { conv: 'id', seq: 'uint' },
  read: { conv: 'id', seq: 'uint' },
  pull: { rid: 'uint', conv: 'id', after: 'uint', limit: 'limit' },
  sync: { rid: 'uint' },
  typing: { conv: 'id' },
  ping: { ts: 'num?' },
};

/** Server frames are checked for shape only: the SDK must not crash on a bad server, not police it. */
const SERVER_SPECS: Record<ServerFrame['type'], Spec> = {
  welcome: { uid: 'str', did: 'str', node: 'str', heartbeatMs: 'pos', maxFrameBytes: 'pos' },
  sent: { cid: 'pos', conv: 'str', seq: 'uint', ts: 'num' },
  msg: { conv: 'str', seq: 'uint', prev: 'uint', from: 'str', did: 'str', cid: 'uint', ts: 'num', body: 'str' },
  convs: { rid: 'uint?', list: 'arr' },
  history: { rid: 'uint', conv: 'str', msgs: 'arr', more: 'bool' },
  read: { conv: 'str', seq: 'uint' },
  typing: { conv: 'str', from: 'str' },
  presence: { uid: 'str', online: 'bool' },
  pong: { ts: 'num?' },
  error: { code: 'str', message: 'str', rid: 'uint?', cid: 'uint?', conv: 'str?' },
  redirect: { endpoints: 'strs', reason: 'str' },
};

const encoder = new TextEncoder();

/** UTF-8 byte length without allocating for ASCII-only strings. */
export function utf8Length(s: string): number {
  let ascii = true;
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) > 0x7f) {
      ascii = false;
      break;
    }
  }
  return ascii ? s.length : encoder.encode(s).length;
}

function check(rule: Rule, v: unknown, limits: FrameLimits): string | undefined {
  switch (rule) {
    case 'id':
      return typeof v === 'string' && v.length > 0 && v.length <= limits.maxIdLength ? undefined : `a non-empty string of at most ${limits.maxIdLength} characters`;
    case 'uint':
      return Number.isSafeInteger(v) && (v as number) >= 0 ? undefined : 'a non-negative integer';
    case 'pos':
      return Number.isSafeInteger(v) && (v as number) > 0 ? undefined : 'a positive integer';
    case 'limit':
      return Number.isInteger(v) && (v as number) >= 1 && (v as number) <= limits.maxPullLimit ? undefined : `an integer from 1 to ${limits.maxPullLimit}`;
    case 'body':
      if (typeof v !== 'string') return 'a string';
      return utf8Length(v) <= limits.maxBodyBytes ? undefined : `at most ${limits.maxBodyBytes} bytes of UTF-8`;
    case 'num':
      return typeof v === 'number' && Number.isFinite(v) ? undefined : 'a finite number';
    case 'str':
      return typeof v === 'string' ? undefined : 'a string';
    case 'bool':
      return typeof v === 'boolean' ? undefined : 'a boolean';
    case 'arr':
      return Array.isArray(v) ? undefined : 'an array';
    case 'strs':
      return Array.isArray(v) && v.every((x) => typeof x === 'string') ? undefined : 'an array of strings';
  }
}

function validate<T>(value: unknown, specs: Record<string, Spec>, known: readonly string[], limits: FrameLimits): Result<T> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, error: new ImError(ErrorCode.BAD_FRAME, 'a frame must be a msgpack map') };
  const v = value as Record<string, unknown>;
  const type = v['type'];
  if (typeof type !== 'string' || !known.includes(type)) return { ok: false, error: new ImError(ErrorCode.UNKNOWN_TYPE, `unknown frame type ${JSON.stringify(typeof type === 'string' ? type.slice(0, 32) : type)}`) };
  // Rebuilt with known fields only: extra fields never reach the rest of the system.
  const out: Record<string, unknown> = { type };
  for (const [field, r] of Object.entries(specs[type]!)) {
    const optional = r.endsWith('?');
    const rule = (optional ? r.slice(0, -1) : r) as Rule;
    const fv = v[field];
    if (fv === undefined || fv === null) {
      if (optional) continue;
      return { ok: false, error: new ImError(ErrorCode.INVALID_FIELD, `${type}.${field} is missing`) };
    }
    const problem = check(rule, fv, limits);
    if (problem) {
      const code = rule === 'body' && typeof fv === 'string' ? ErrorCode.FRAME_TOO_LARGE : ErrorCode.INVALID_FIELD;
      return { ok: false, error: new ImError(code, `${type}.${field} must be ${problem}`) };
    }
    out[field] = fv;
  }
  return { ok: true, value: out as T };
}

/** Validates an untrusted decoded value as a client frame. */
export function validateClientFrame(value: unknown, limits: FrameLimits = DEFAULT_LIMITS): Result<ClientFrame> {
  return validate<ClientFrame>(value, CLIENT_SPECS, CLIENT_FRAME_TYPES, limits);
}

/** Checks the shape of a decoded server frame (used by the SDK). */
export function validateServerFrame(value: unknown): Result<ServerFrame> {
  return validate<ServerFrame>(value, SERVER_SPECS, SERVER_FRAME_TYPES, { ...DEFAULT_LIMITS, maxIdLength: Number.MAX_SAFE_INTEGER, maxBodyBytes: Number.MAX_SAFE_INTEGER });
}
