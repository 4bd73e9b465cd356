import { ErrorCode, ImError, isErrorCode, type Result } from './errors.js';
import { MemberRole, type ConvKind, type ConvSummary, type ErrorFrame, type MemberInfo, type Msg, type Pin, type Posting, type ReactionCount, type Reactions, type Reactor, type RedirectReason, type ServerFrame, type ServerFrameOf } from './frames.js';
import { absent, arr, bool, isPlainObject, items, num, type Obj, pos, str, uint, unknownType, validated } from './validate-fields.js';

/** Server frames as the SDK takes them in: each rebuilt with its known fields only, in a fixed order. */

function msgFields(v: unknown, t: string): Msg {
  if (!isPlainObject(v)) throw new ImError(ErrorCode.INVALID_FIELD, `${t} must be a map`);
  const m: Msg = { conv: str(v, t, 'conv'), seq: uint(v, t, 'seq'), prev: uint(v, t, 'prev'), from: str(v, t, 'from'), did: str(v, t, 'did'), cid: uint(v, t, 'cid'), ts: num(v, t, 'ts'), body: str(v, t, 'body') };
  if (!absent(v['recall'])) m.recall = pos(v, t, 'recall');
  if (!absent(v['recalled'])) m.recalled = pos(v, t, 'recalled');
  if (!absent(v['edit'])) m.edit = pos(v, t, 'edit');
  if (!absent(v['edited'])) m.edited = pos(v, t, 'edited');
  if (!absent(v['react'])) m.react = pos(v, t, 'react');
  if (!absent(v['was'])) m.was = str(v, t, 'was');
  if (!absent(v['reactions'])) m.reactions = reactions(v['reactions'], `${t}.reactions`);
  if (!absent(v['mentions'])) m.mentions = arr(v, t, 'mentions').map((x) => str({ 'mentions[]': x }, t, 'mentions[]'));
  if (!absent(v['mentionAll']) && bool(v, t, 'mentionAll')) m.mentionAll = true;
  if (!absent(v['reply'])) m.reply = pos(v, t, 'reply');
  if (!absent(v['replyFrom'])) m.replyFrom = str(v, t, 'replyFrom');
  if (!absent(v['hidden']) && bool(v, t, 'hidden')) m.hidden = true;
  return m;
}

function reactions(v: unknown, t: string): Reactions {
  if (!isPlainObject(v)) throw new ImError(ErrorCode.INVALID_FIELD, `${t} must be a map`);
  const r: Reactions = { counts: items(arr(v, t, 'counts'), `${t}.counts[]`, reactionCount), at: uint(v, t, 'at') };
  if (!absent(v['mine'])) r.mine = str(v, t, 'mine');
  return r;
}

function reactionCount(v: unknown, t: string): ReactionCount {
  if (!isPlainObject(v)) throw new ImError(ErrorCode.INVALID_FIELD, `${t} must be a map`);
  return { emoji: str(v, t, 'emoji'), n: pos(v, t, 'n') };
}

function pin(v: unknown, t: string): Pin {
  if (!isPlainObject(v)) throw new ImError(ErrorCode.INVALID_FIELD, `${t} must be a map`);
  const p: Pin = { seq: pos(v, t, 'seq'), at: num(v, t, 'at') };
  if (!absent(v['by'])) p.by = str(v, t, 'by');
  return p;
}

function reactor(v: unknown, t: string): Reactor {
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
  if (!absent(v['meta'])) row.meta = str(v, t, 'meta');
  if (!absent(v['lastTs'])) row.lastTs = num(v, t, 'lastTs');
  if (!absent(v['deliveredSeq'])) row.deliveredSeq = uint(v, t, 'deliveredSeq');
  if (!absent(v['seenSeq'])) row.seenSeq = uint(v, t, 'seenSeq');
  if (!absent(v['peerRead'])) row.peerRead = uint(v, t, 'peerRead');
  if (!absent(v['peerDelivered'])) row.peerDelivered = uint(v, t, 'peerDelivered');
  if (!absent(v['peerLastSeen'])) row.peerLastSeen = num(v, t, 'peerLastSeen');
  if (!absent(v['mutedUntil'])) row.mutedUntil = uint(v, t, 'mutedUntil');
  if (!absent(v['pinnedAt'])) row.pinnedAt = uint(v, t, 'pinnedAt');
  if (!absent(v['archivedAt'])) row.archivedAt = uint(v, t, 'archivedAt');
  if (!absent(v['markedUnreadAt'])) row.markedUnreadAt = uint(v, t, 'markedUnreadAt');
  if (!absent(v['mentions'])) row.mentions = uint(v, t, 'mentions');
  if (!absent(v['clearedSeq'])) row.clearedSeq = uint(v, t, 'clearedSeq');
  if (!absent(v['posting']) && postingOf(v, t) === 'admins') row.posting = 'admins';
  if (!absent(v['retention'])) row.retention = uint(v, t, 'retention');
  if (!absent(v['slowMode'])) row.slowMode = uint(v, t, 'slowMode');
  if (!absent(v['hiddenAt'])) row.hiddenAt = uint(v, t, 'hiddenAt');
  if (!absent(v['silencedUntil'])) row.silencedUntil = uint(v, t, 'silencedUntil');
  if (!absent(v['pins'])) row.pins = items(arr(v, t, 'pins'), `${t}.pins[]`, pin);
  return row;
}

/** A group's posting rule; one a newer server adds reads as the stricter `admins` (the app offers no input then). */
function postingOf(v: Obj, t: string): Posting {
  return str(v, t, 'posting') === 'all' ? 'all' : 'admins';
}

const MEMBER_ROLES: ReadonlySet<unknown> = new Set<MemberRole>(Object.values(MemberRole));

function memberInfo(v: unknown, t: string): MemberInfo {
  if (!isPlainObject(v)) throw new ImError(ErrorCode.INVALID_FIELD, `${t} must be a map`);
  const role = str(v, t, 'role');
  // A role a newer server adds reads as a plain member.
  const m: MemberInfo = { uid: str(v, t, 'uid'), role: MEMBER_ROLES.has(role) ? (role as MemberRole) : 'member' };
  if (!absent(v['readSeq'])) m.readSeq = uint(v, t, 'readSeq');
  if (!absent(v['deliveredSeq'])) m.deliveredSeq = uint(v, t, 'deliveredSeq');
  if (!absent(v['silencedUntil'])) m.silencedUntil = uint(v, t, 'silencedUntil');
  return m;
}

/** Validates every item of an array field; errors name the item index (`history.msgs[3].seq`). */
export function validateServerFrame(value: unknown): Result<ServerFrame> {
  return validated(value, serverFrame, undefined);
}

function serverFrame(v: Obj): ServerFrame {
  let f: ServerFrame;
  switch (v['type']) {
    case 'welcome': {
      const w: ServerFrameOf<'welcome'> = { type: 'welcome', uid: str(v, 'welcome', 'uid'), did: str(v, 'welcome', 'did'), node: str(v, 'welcome', 'node'), heartbeatMs: pos(v, 'welcome', 'heartbeatMs'), maxFrameBytes: pos(v, 'welcome', 'maxFrameBytes') };
      if (!absent(v['rate'])) w.rate = pos(v, 'welcome', 'rate');
      if (!absent(v['burst'])) w.burst = pos(v, 'welcome', 'burst');
      f = w;
      break;
    }
    case 'sent': {
      const sent: ServerFrameOf<'sent'> = { type: 'sent', cid: pos(v, 'sent', 'cid'), conv: str(v, 'sent', 'conv'), seq: uint(v, 'sent', 'seq'), ts: num(v, 'sent', 'ts') };
      if (!absent(v['prev'])) sent.prev = uint(v, 'sent', 'prev');
      if (!absent(v['replyFrom'])) sent.replyFrom = str(v, 'sent', 'replyFrom');
      if (!absent(v['was'])) sent.was = str(v, 'sent', 'was');
      f = sent;
      break;
    }
    case 'msg':
      f = { type: 'msg', ...msgFields(v, 'msg') };
      break;
    case 'convs': {
      const list = items(arr(v, 'convs', 'list'), 'convs.list[]', convSummary);
      const convs: ServerFrameOf<'convs'> = absent(v['rid']) ? { type: 'convs', list } : { type: 'convs', rid: uint(v, 'convs', 'rid'), list };
      if (!absent(v['after'])) convs.after = str(v, 'convs', 'after');
      if (!absent(v['more']) && bool(v, 'convs', 'more')) convs.more = true;
      f = convs;
      break;
    }
    case 'history':
      f = { type: 'history', rid: uint(v, 'history', 'rid'), conv: str(v, 'history', 'conv'), msgs: items(arr(v, 'history', 'msgs'), 'history.msgs[]', msgFields), more: bool(v, 'history', 'more') };
      break;
    case 'members':
      f = { type: 'members', rid: uint(v, 'members', 'rid'), conv: str(v, 'members', 'conv'), members: items(arr(v, 'members', 'members'), 'members.members[]', memberInfo), more: bool(v, 'members', 'more') };
      break;
    case 'reactors':
      f = { type: 'reactors', rid: uint(v, 'reactors', 'rid'), conv: str(v, 'reactors', 'conv'), seq: pos(v, 'reactors', 'seq'), reactors: items(arr(v, 'reactors', 'reactors'), 'reactors.reactors[]', reactor), more: bool(v, 'reactors', 'more') };
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
    case 'pins': {
      const pins: ServerFrameOf<'pins'> = { type: 'pins', conv: str(v, 'pins', 'conv'), pins: items(arr(v, 'pins', 'pins'), 'pins.pins[]', pin) };
      if (!absent(v['rid'])) pins.rid = uint(v, 'pins', 'rid');
      f = pins;
      break;
    }
    case 'silenced':
      f = { type: 'silenced', conv: str(v, 'silenced', 'conv'), until: uint(v, 'silenced', 'until') };
      break;
    case 'prefs': {
      const prefs: ServerFrameOf<'prefs'> = { type: 'prefs', conv: str(v, 'prefs', 'conv'), pinnedAt: uint(v, 'prefs', 'pinnedAt'), archivedAt: uint(v, 'prefs', 'archivedAt') };
      if (!absent(v['markedUnreadAt'])) prefs.markedUnreadAt = uint(v, 'prefs', 'markedUnreadAt');
      if (!absent(v['rid'])) prefs.rid = uint(v, 'prefs', 'rid');
      f = prefs;
      break;
    }
    case 'cleared': {
      const cleared: ServerFrameOf<'cleared'> = { type: 'cleared', conv: str(v, 'cleared', 'conv'), seq: uint(v, 'cleared', 'seq') };
      if (!absent(v['rid'])) cleared.rid = uint(v, 'cleared', 'rid');
      f = cleared;
      break;
    }
    case 'hidden': {
      const hidden: ServerFrameOf<'hidden'> = { type: 'hidden', conv: str(v, 'hidden', 'conv'), seqs: arr(v, 'hidden', 'seqs').map((x) => pos({ seq: x }, 'hidden', 'seq')) };
      if (!absent(v['rid'])) hidden.rid = uint(v, 'hidden', 'rid');
      if (!absent(v['unread'])) hidden.unread = uint(v, 'hidden', 'unread');
      if (!absent(v['mentions'])) hidden.mentions = uint(v, 'hidden', 'mentions');
      if (!absent(v['lastSeq'])) hidden.lastSeq = uint(v, 'hidden', 'lastSeq');
      if (!absent(v['hiddenAt'])) hidden.hiddenAt = uint(v, 'hidden', 'hiddenAt');
      f = hidden;
      break;
    }
    case 'joined': {
      const kind = str(v, 'joined', 'kind');
      const joined: ServerFrameOf<'joined'> = { type: 'joined', conv: str(v, 'joined', 'conv'), kind: CONV_KINDS.has(kind) ? (kind as ConvKind) : 'group', lastSeq: uint(v, 'joined', 'lastSeq') };
      if (!absent(v['title'])) joined.title = str(v, 'joined', 'title');
      if (!absent(v['meta'])) joined.meta = str(v, 'joined', 'meta');
      if (!absent(v['posting']) && postingOf(v, 'joined') === 'admins') joined.posting = 'admins';
      if (!absent(v['retention'])) joined.retention = uint(v, 'joined', 'retention');
      if (!absent(v['slowMode'])) joined.slowMode = uint(v, 'joined', 'slowMode');
      if (!absent(v['pins'])) joined.pins = items(arr(v, 'joined', 'pins'), 'joined.pins[]', pin);
      if (!absent(v['clearedSeq'])) joined.clearedSeq = uint(v, 'joined', 'clearedSeq');
      f = joined;
      break;
    }
    case 'left':
      f = absent(v['rid']) ? { type: 'left', conv: str(v, 'left', 'conv') } : { type: 'left', rid: uint(v, 'left', 'rid'), conv: str(v, 'left', 'conv') };
      break;
    case 'roles': {
      const v2 = v['roles'];
      if (!isPlainObject(v2)) throw new ImError(ErrorCode.INVALID_FIELD, 'roles.roles must be a map of uid to role');
      const roles: Record<string, MemberRole> = {};
      // A role this SDK does not know reads as `member`, as in member pages.
      for (const [uid, role] of Object.entries(v2)) roles[uid] = MEMBER_ROLES.has(role) ? (role as MemberRole) : 'member';
      f = { type: 'roles', conv: str(v, 'roles', 'conv'), roles };
      break;
    }
    case 'retention':
      f = { type: 'retention', conv: str(v, 'retention', 'conv'), retention: uint(v, 'retention', 'retention') };
      break;
    case 'slowmode':
      f = { type: 'slowmode', conv: str(v, 'slowmode', 'conv'), slowMode: uint(v, 'slowmode', 'slowMode') };
      break;
    case 'posting':
      f = { type: 'posting', conv: str(v, 'posting', 'conv'), posting: postingOf(v, 'posting') };
      break;
    case 'meta':
      f = absent(v['meta']) ? { type: 'meta', conv: str(v, 'meta', 'conv') } : { type: 'meta', conv: str(v, 'meta', 'conv'), meta: str(v, 'meta', 'meta') };
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
    case 'reported':
      f = { type: 'reported', rid: uint(v, 'reported', 'rid'), conv: str(v, 'reported', 'conv'), seq: uint(v, 'reported', 'seq') };
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
      if (!absent(v['retryAfterMs'])) e.retryAfterMs = uint(v, 'error', 'retryAfterMs');
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
    return f;
}

