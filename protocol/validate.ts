import { ErrorCode, ImError, isErrorCode, type Result } from './errors.js';
import { MemberRole, MUTED_FOREVER, type ClientFrame, type ClientFrameOf, type ConvKind, type SendFrame, type ServerFrameOf, type ConvSummary, type ErrorFrame, type MemberInfo, type Msg, type Reaction, type RedirectReason, type ServerFrame } from './frames.js';
import { DEFAULT_LIMITS, DEFAULT_MAX_TOKEN_LENGTH, MAX_MENTIONS, MAX_REACTION_BYTES, type FrameLimits } from './limits.js';

/**
 * Validators for decoded frames. Each frame is rebuilt with its known fields only, in a fixed order, so
 * extra fields never travel further and every frame of a type has one object shape.
 *
 * Field helpers throw an ImError naming the field and the validators turn it into a Result: the happy path
 * then reads as one object literal per type, and throwing costs only on bad input.
 */

type Obj = Record<string, unknown>;

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

/** Why `s` is not a valid id (1..maxBytes UTF-8 bytes, no control characters), or undefined when it is. */
export function idProblem(s: unknown, maxBytes: number = DEFAULT_LIMITS.maxIdLength): string | undefined {
  if (typeof s !== 'string') return 'must be a string';
  if (s.length === 0) return 'must not be empty';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // Ids end up in Postgres text (no NUL), subject tokens and log lines.
    if (c < 0x20 || c === 0x7f) return 'must not contain control characters';
  }
  // s.length ≤ bytes ≤ 3·s.length: most ids are decided without counting.
  if (s.length > maxBytes) return `must be at most ${maxBytes} bytes of UTF-8`;
  if (s.length * 3 > maxBytes && utf8Length(s) > maxBytes) return `must be at most ${maxBytes} bytes of UTF-8`;
  return undefined;
}

function invalid(t: string, f: string, what: string, code: ErrorCode = ErrorCode.INVALID_FIELD): ImError {
  return new ImError(code, `${t}.${f} ${what}`);
}

function wrongOrMissing(x: unknown, t: string, f: string, what: string): ImError {
  return invalid(t, f, x === undefined || x === null ? 'is missing' : what);
}

function id(v: Obj, t: string, f: string, maxBytes: number): string {
  const x = v[f];
  const problem = idProblem(x, maxBytes);
  if (problem !== undefined) throw wrongOrMissing(x, t, f, problem);
  return x as string;
}

function str(v: Obj, t: string, f: string): string {
  const x = v[f];
  if (typeof x !== 'string') throw wrongOrMissing(x, t, f, 'must be a string');
  return x;
}

function body(v: Obj, t: string, f: string, maxBytes: number, mayBeEmpty = false): string {
  const x = v[f];
  if (typeof x !== 'string') throw wrongOrMissing(x, t, f, 'must be a string');
  if (x.length === 0 && !mayBeEmpty) throw invalid(t, f, 'must not be empty');
  if (x.length > maxBytes || (x.length * 3 > maxBytes && utf8Length(x) > maxBytes)) {
    throw invalid(t, f, `must be at most ${maxBytes} bytes of UTF-8`, ErrorCode.FRAME_TOO_LARGE);
  }
  return x;
}

/** A safe integer ≥ 0 (seqs, rids). */
function uint(v: Obj, t: string, f: string): number {
  const x = v[f];
  if (!Number.isSafeInteger(x) || (x as number) < 0) throw wrongOrMissing(x, t, f, 'must be an integer ≥ 0');
  return x as number;
}

/** A safe integer > 0 (client msg ids, intervals). */
function pos(v: Obj, t: string, f: string): number {
  const x = v[f];
  if (!Number.isSafeInteger(x) || (x as number) <= 0) throw wrongOrMissing(x, t, f, 'must be an integer > 0');
  return x as number;
}

function num(v: Obj, t: string, f: string): number {
  const x = v[f];
  if (typeof x !== 'number' || !Number.isFinite(x)) throw wrongOrMissing(x, t, f, 'must be a finite number');
  return x;
}

function bool(v: Obj, t: string, f: string): boolean {
  const x = v[f];
  if (typeof x !== 'boolean') throw wrongOrMissing(x, t, f, 'must be a boolean');
  return x;
}

function arr(v: Obj, t: string, f: string): unknown[] {
  const x = v[f];
  if (!Array.isArray(x)) throw wrongOrMissing(x, t, f, 'must be an array');
  return x;
}

/** A mute's end: epoch ms from 0 (not muted) to MUTED_FOREVER. */
function muteUntil(v: Obj, t: string): number {
  const x = v['until'];
  if (!Number.isSafeInteger(x) || (x as number) < 0 || (x as number) > MUTED_FOREVER) throw wrongOrMissing(x, t, 'until', `must be an integer from 0 to ${MUTED_FOREVER}`);
  return x as number;
}

/** A page size (`pull.limit`, `members.limit`): 1 to the gateway's largest. */
function pageLimit(v: Obj, t: string, limits: FrameLimits): number {
  const limit = v['limit'];
  if (!Number.isSafeInteger(limit) || (limit as number) < 1 || (limit as number) > limits.maxPullLimit) {
    throw wrongOrMissing(limit, t, 'limit', `must be an integer from 1 to ${limits.maxPullLimit}`);
  }
  return limit as number;
}

/** nil and absent are the same for an optional field (other languages often send nil). */
const absent = (x: unknown): boolean => x === undefined || x === null;

function isPlainObject(x: unknown): x is Obj {
  if (typeof x !== 'object' || x === null) return false;
  const proto: unknown = Object.getPrototypeOf(x);
  return proto === Object.prototype || proto === null;
}

function toResult<T>(err: unknown): Result<T> {
  return { ok: false, error: err instanceof ImError ? err : new ImError(ErrorCode.BAD_FRAME, String(err), { cause: err }) };
}

function unknownType(type: unknown): ImError {
  const shown = typeof type === 'string' ? JSON.stringify(type.slice(0, 32)) : type === undefined ? 'missing' : typeof type;
  return new ImError(ErrorCode.UNKNOWN_TYPE, `unknown frame type ${shown}`);
}

const NOT_A_MAP = 'a frame must be a msgpack map';

/** Validates a decoded value as a client frame (the gateway's input); never throws. */
export function validateClientFrame(value: unknown, limits: FrameLimits = DEFAULT_LIMITS): Result<ClientFrame> {
  if (!isPlainObject(value)) return { ok: false, error: new ImError(ErrorCode.BAD_FRAME, NOT_A_MAP) };
  const v = value;
  const L = limits.maxIdLength;
  try {
    let f: ClientFrame;
    switch (v['type']) {
      case 'send': {
        const recall = absent(v['recall']) ? undefined : pos(v, 'send', 'recall');
        const edit = absent(v['edit']) ? undefined : pos(v, 'send', 'edit');
        const react = absent(v['react']) ? undefined : pos(v, 'send', 'react');
        if (Number(recall !== undefined) + Number(edit !== undefined) + Number(react !== undefined) > 1) throw new ImError(ErrorCode.INVALID_FIELD, 'send.recall, send.edit and send.react cannot go together');
        const maxBody = react === undefined ? limits.maxBodyBytes : MAX_REACTION_BYTES;
        const send: SendFrame = { type: 'send', conv: id(v, 'send', 'conv', L), cid: pos(v, 'send', 'cid'), body: body(v, 'send', 'body', maxBody, recall !== undefined || react !== undefined) };
        if (recall !== undefined) send.recall = recall;
        if (edit !== undefined) send.edit = edit;
        if (react !== undefined) send.react = react;
        if (!absent(v['mentions'])) {
          if (recall !== undefined || edit !== undefined || react !== undefined) throw new ImError(ErrorCode.INVALID_FIELD, 'send.mentions goes on a plain message only');
          send.mentions = mentionList(v, L);
        }
        if (!absent(v['after'])) {
          send.after = uint(v, 'send', 'after');
          if (send.after >= send.cid) throw new ImError(ErrorCode.INVALID_FIELD, 'send.after must be below send.cid');
        }
        f = send;
        break;
      }
      case 'ack':
        f = { type: 'ack', conv: id(v, 'ack', 'conv', L), seq: uint(v, 'ack', 'seq') };
        break;
      case 'read':
        f = { type: 'read', conv: id(v, 'read', 'conv', L), seq: uint(v, 'read', 'seq') };
        break;
      case 'pull': {
        const rid = uint(v, 'pull', 'rid');
        const conv = id(v, 'pull', 'conv', L);
        const limit = pageLimit(v, 'pull', limits);
        if (absent(v['before'])) {
          f = { type: 'pull', rid, conv, after: uint(v, 'pull', 'after'), limit };
        } else {
          if (!absent(v['after'])) throw new ImError(ErrorCode.INVALID_FIELD, 'pull takes after or before, not both');
          f = { type: 'pull', rid, conv, before: pos(v, 'pull', 'before'), limit };
        }
        break;
      }
      case 'members': {
        const page: ClientFrameOf<'members'> = { type: 'members', rid: uint(v, 'members', 'rid'), conv: id(v, 'members', 'conv', L), limit: pageLimit(v, 'members', limits) };
        if (!absent(v['after'])) page.after = id(v, 'members', 'after', L);
        f = page;
        break;
      }
      case 'sync':
        f = { type: 'sync', rid: uint(v, 'sync', 'rid') };
        break;
      case 'typing':
        f = { type: 'typing', conv: id(v, 'typing', 'conv', L) };
        break;
      case 'ping':
        f = absent(v['ts']) ? { type: 'ping' } : { type: 'ping', ts: num(v, 'ping', 'ts') };
        break;
      case 'refresh': {
        const token = str(v, 'refresh', 'token');
        if (token.length === 0 || token.length > DEFAULT_MAX_TOKEN_LENGTH) throw invalid('refresh', 'token', `must be 1–${DEFAULT_MAX_TOKEN_LENGTH} characters`);
        f = { type: 'refresh', rid: uint(v, 'refresh', 'rid'), token };
        break;
      }
      case 'mute':
        f = { type: 'mute', rid: uint(v, 'mute', 'rid'), conv: id(v, 'mute', 'conv', L), until: muteUntil(v, 'mute') };
        break;
      case 'leave':
        f = { type: 'leave', rid: uint(v, 'leave', 'rid'), conv: id(v, 'leave', 'conv', L) };
        break;
      case 'prefs': {
        const prefs: ClientFrameOf<'prefs'> = { type: 'prefs', rid: uint(v, 'prefs', 'rid'), conv: id(v, 'prefs', 'conv', L) };
        if (!absent(v['pinned'])) prefs.pinned = bool(v, 'prefs', 'pinned');
        if (!absent(v['archived'])) prefs.archived = bool(v, 'prefs', 'archived');
        if (prefs.pinned === undefined && prefs.archived === undefined) throw new ImError(ErrorCode.INVALID_FIELD, 'prefs.pinned or prefs.archived is required');
        f = prefs;
        break;
      }
      default:
        throw unknownType(v['type']);
    }
    return { ok: true, value: f };
  } catch (err) {
    return toResult(err);
  }
}

function msgFields(v: unknown, t: string): Msg {
  if (!isPlainObject(v)) throw new ImError(ErrorCode.INVALID_FIELD, `${t} must be a map`);
  const m: Msg = { conv: str(v, t, 'conv'), seq: uint(v, t, 'seq'), prev: uint(v, t, 'prev'), from: str(v, t, 'from'), did: str(v, t, 'did'), cid: uint(v, t, 'cid'), ts: num(v, t, 'ts'), body: str(v, t, 'body') };
  if (!absent(v['recall'])) m.recall = pos(v, t, 'recall');
  if (!absent(v['recalled'])) m.recalled = pos(v, t, 'recalled');
  if (!absent(v['edit'])) m.edit = pos(v, t, 'edit');
  if (!absent(v['edited'])) m.edited = pos(v, t, 'edited');
  if (!absent(v['react'])) m.react = pos(v, t, 'react');
  if (!absent(v['reactions'])) m.reactions = items(arr(v, t, 'reactions'), `${t}.reactions[]`, reaction);
  if (!absent(v['mentions'])) m.mentions = arr(v, t, 'mentions').map((x) => str({ 'mentions[]': x }, t, 'mentions[]'));
  return m;
}

/** A send's `mentions`: 1–MAX_MENTIONS distinct user ids. */
function mentionList(v: Obj, maxId: number): string[] {
  const problem = mentionListProblem(v['mentions'], maxId);
  if (problem !== undefined) throw invalid('send', 'mentions', problem);
  return v['mentions'] as string[];
}

/** Why `list` is no valid `mentions` (1–MAX_MENTIONS distinct user ids), or undefined when it is. */
export function mentionListProblem(list: unknown, maxId: number = DEFAULT_LIMITS.maxIdLength): string | undefined {
  if (!Array.isArray(list) || list.length === 0 || list.length > MAX_MENTIONS) return `must hold 1–${MAX_MENTIONS} user ids`;
  for (const uid of list) {
    const problem = idProblem(uid, maxId);
    if (problem !== undefined) return `holds an id that ${problem}`;
  }
  return new Set(list).size === list.length ? undefined : 'must not name a user twice';
}

function reaction(v: unknown, t: string): Reaction {
  if (!isPlainObject(v)) throw new ImError(ErrorCode.INVALID_FIELD, `${t} must be a map`);
  return { uid: str(v, t, 'uid'), emoji: str(v, t, 'emoji'), seq: pos(v, t, 'seq') };
}

const CONV_KINDS: ReadonlySet<unknown> = new Set<ConvKind>(['direct', 'group']);
const REDIRECT_REASONS: ReadonlySet<unknown> = new Set<RedirectReason>(['drain', 'overloaded', 'moved']);

function convSummary(v: unknown, t: string): ConvSummary {
  if (!isPlainObject(v)) throw new ImError(ErrorCode.INVALID_FIELD, `${t} must be a map`);
  const kind = str(v, t, 'kind');
  // A newer server may add kinds; an older SDK shows them as groups instead of dropping the whole list.
  const row: ConvSummary = { conv: str(v, t, 'conv'), kind: CONV_KINDS.has(kind) ? (kind as ConvKind) : 'group', lastSeq: uint(v, t, 'lastSeq'), readSeq: uint(v, t, 'readSeq'), unread: uint(v, t, 'unread') };
  if (!absent(v['title'])) row.title = str(v, t, 'title');
  if (!absent(v['lastTs'])) row.lastTs = num(v, t, 'lastTs');
  if (!absent(v['peerRead'])) row.peerRead = uint(v, t, 'peerRead');
  if (!absent(v['peerDelivered'])) row.peerDelivered = uint(v, t, 'peerDelivered');
  if (!absent(v['peerLastSeen'])) row.peerLastSeen = num(v, t, 'peerLastSeen');
  if (!absent(v['mutedUntil'])) row.mutedUntil = uint(v, t, 'mutedUntil');
  if (!absent(v['pinnedAt'])) row.pinnedAt = uint(v, t, 'pinnedAt');
  if (!absent(v['archivedAt'])) row.archivedAt = uint(v, t, 'archivedAt');
  if (!absent(v['mentions'])) row.mentions = uint(v, t, 'mentions');
  return row;
}

const MEMBER_ROLES: ReadonlySet<unknown> = new Set<MemberRole>(Object.values(MemberRole));

function memberInfo(v: unknown, t: string): MemberInfo {
  if (!isPlainObject(v)) throw new ImError(ErrorCode.INVALID_FIELD, `${t} must be a map`);
  const role = str(v, t, 'role');
  // A role a newer server adds reads as a plain member.
  const m: MemberInfo = { uid: str(v, t, 'uid'), role: MEMBER_ROLES.has(role) ? (role as MemberRole) : 'member' };
  if (!absent(v['readSeq'])) m.readSeq = uint(v, t, 'readSeq');
  if (!absent(v['deliveredSeq'])) m.deliveredSeq = uint(v, t, 'deliveredSeq');
  return m;
}

/** Validates every item of an array field; errors name the item index (`history.msgs[3].seq`). */
function items<T>(list: unknown[], t: string, one: (x: unknown, t: string) => T): T[] {
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
export function validateServerFrame(value: unknown): Result<ServerFrame> {
  if (!isPlainObject(value)) return { ok: false, error: new ImError(ErrorCode.BAD_FRAME, NOT_A_MAP) };
  const v = value;
  try {
    let f: ServerFrame;
    switch (v['type']) {
      case 'welcome':
        f = { type: 'welcome', uid: str(v, 'welcome', 'uid'), did: str(v, 'welcome', 'did'), node: str(v, 'welcome', 'node'), heartbeatMs: pos(v, 'welcome', 'heartbeatMs'), maxFrameBytes: pos(v, 'welcome', 'maxFrameBytes') };
        break;
      case 'sent': {
        const sent: ServerFrameOf<'sent'> = { type: 'sent', cid: pos(v, 'sent', 'cid'), conv: str(v, 'sent', 'conv'), seq: uint(v, 'sent', 'seq'), ts: num(v, 'sent', 'ts') };
        if (!absent(v['prev'])) sent.prev = uint(v, 'sent', 'prev');
        f = sent;
        break;
      }
      case 'msg':
        f = { type: 'msg', ...msgFields(v, 'msg') };
        break;
      case 'convs': {
        const list = items(arr(v, 'convs', 'list'), 'convs.list[]', convSummary);
        f = absent(v['rid']) ? { type: 'convs', list } : { type: 'convs', rid: uint(v, 'convs', 'rid'), list };
        break;
      }
      case 'history':
        f = { type: 'history', rid: uint(v, 'history', 'rid'), conv: str(v, 'history', 'conv'), msgs: items(arr(v, 'history', 'msgs'), 'history.msgs[]', msgFields), more: bool(v, 'history', 'more') };
        break;
      case 'members':
        f = { type: 'members', rid: uint(v, 'members', 'rid'), conv: str(v, 'members', 'conv'), members: items(arr(v, 'members', 'members'), 'members.members[]', memberInfo), more: bool(v, 'members', 'more') };
        break;
      case 'read': {
        const echo: ServerFrameOf<'read'> = { type: 'read', conv: str(v, 'read', 'conv'), seq: uint(v, 'read', 'seq') };
        if (!absent(v['unread'])) echo.unread = uint(v, 'read', 'unread');
        if (!absent(v['lastSeq'])) echo.lastSeq = uint(v, 'read', 'lastSeq');
        if (!absent(v['mentions'])) echo.mentions = uint(v, 'read', 'mentions');
        f = echo;
        break;
      }
      case 'mute': {
        const mute: ServerFrameOf<'mute'> = { type: 'mute', conv: str(v, 'mute', 'conv'), until: uint(v, 'mute', 'until') };
        if (!absent(v['rid'])) mute.rid = uint(v, 'mute', 'rid');
        f = mute;
        break;
      }
      case 'prefs': {
        const prefs: ServerFrameOf<'prefs'> = { type: 'prefs', conv: str(v, 'prefs', 'conv'), pinnedAt: uint(v, 'prefs', 'pinnedAt'), archivedAt: uint(v, 'prefs', 'archivedAt') };
        if (!absent(v['rid'])) prefs.rid = uint(v, 'prefs', 'rid');
        f = prefs;
        break;
      }
      case 'joined': {
        const kind = str(v, 'joined', 'kind');
        const joined: ServerFrameOf<'joined'> = { type: 'joined', conv: str(v, 'joined', 'conv'), kind: CONV_KINDS.has(kind) ? (kind as ConvKind) : 'group', lastSeq: uint(v, 'joined', 'lastSeq') };
        if (!absent(v['title'])) joined.title = str(v, 'joined', 'title');
        f = joined;
        break;
      }
      case 'left':
        f = absent(v['rid']) ? { type: 'left', conv: str(v, 'left', 'conv') } : { type: 'left', rid: uint(v, 'left', 'rid'), conv: str(v, 'left', 'conv') };
        break;
      case 'title':
        f = absent(v['title']) ? { type: 'title', conv: str(v, 'title', 'conv') } : { type: 'title', conv: str(v, 'title', 'conv'), title: str(v, 'title', 'title') };
        break;
      case 'typing':
        f = { type: 'typing', conv: str(v, 'typing', 'conv'), from: str(v, 'typing', 'from') };
        break;
      case 'receipt':
      case 'delivered': {
        const t = v['type'];
        f = { type: t, conv: str(v, t, 'conv'), uid: str(v, t, 'uid'), seq: uint(v, t, 'seq') };
        break;
      }
      case 'presence': {
        const presence: ServerFrameOf<'presence'> = { type: 'presence', uid: str(v, 'presence', 'uid'), online: bool(v, 'presence', 'online') };
        if (!absent(v['lastSeen'])) presence.lastSeen = num(v, 'presence', 'lastSeen');
        f = presence;
        break;
      }
      case 'pong':
        f = absent(v['ts']) ? { type: 'pong' } : { type: 'pong', ts: num(v, 'pong', 'ts') };
        break;
      case 'refreshed':
        f = { type: 'refreshed', rid: uint(v, 'refreshed', 'rid'), exp: num(v, 'refreshed', 'exp') };
        break;
      case 'error': {
        const code = str(v, 'error', 'code');
        // Codes are only ever added: an older SDK reads a code it does not know as `internal`.
        const e: ErrorFrame = { type: 'error', code: isErrorCode(code) ? code : ErrorCode.INTERNAL, message: str(v, 'error', 'message') };
        if (!absent(v['rid'])) e.rid = uint(v, 'error', 'rid');
        if (!absent(v['cid'])) e.cid = uint(v, 'error', 'cid');
        if (!absent(v['conv'])) e.conv = str(v, 'error', 'conv');
        f = e;
        break;
      }
      case 'redirect': {
        const endpoints = items(arr(v, 'redirect', 'endpoints'), 'redirect.endpoints[]', (x, t) => {
          if (typeof x !== 'string') throw new ImError(ErrorCode.INVALID_FIELD, `${t} must be a string`);
          return x;
        });
        const reason = str(v, 'redirect', 'reason');
        // A redirect must be followed whatever its reason: an unknown reason reads as `moved`.
        f = { type: 'redirect', endpoints, reason: REDIRECT_REASONS.has(reason) ? (reason as RedirectReason) : 'moved' };
        break;
      }
      default:
        throw unknownType(v['type']);
    }
    return { ok: true, value: f };
  } catch (err) {
    return toResult(err);
  }
}
