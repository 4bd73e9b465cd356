import { ErrorCode, ImError, type Result } from './errors.js';
import { MUTED_FOREVER, type ClientFrame, type ClientFrameOf, type SendFrame } from './frames.js';
import { DEFAULT_LIMITS, DEFAULT_MAX_TOKEN_LENGTH, MAX_HIDE_SEQS, MAX_REACTION_BYTES, MAX_REPORT_REASON_BYTES, type FrameLimits } from './limits.js';
import { absent, body, bool, id, invalid, mentionListProblem, noNul, num, type Obj, pos, str, uint, unknownType, validated, wrongOrMissing } from './validate-fields.js';

export { idProblem, mentionListProblem, utf8Length } from './validate-fields.js';
export { validateServerFrame } from './validate-server.js';

/**
 * Validators for decoded frames: client frames here (the gateway's input), server frames in validate-server.ts
 * (the SDK's), their field helpers in validate-fields.ts. Each frame is rebuilt with its known fields only, in a
 * fixed order, so extra fields never travel further and every frame of a type has one object shape.
 */

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

/** Seqs a `hide` names: 1–MAX_HIDE_SEQS distinct integers > 0. */
function seqList(v: Obj, t: string, f: string): number[] {
  const x = v[f];
  if (!Array.isArray(x) || x.length === 0 || x.length > MAX_HIDE_SEQS || !x.every((s) => Number.isSafeInteger(s) && (s as number) > 0) || new Set(x).size !== x.length) {
    throw wrongOrMissing(x, t, f, `must be 1–${MAX_HIDE_SEQS} distinct integers > 0`);
  }
  return x as number[];
}

/** Validates a decoded value as a client frame (the gateway's input); never throws. */
export function validateClientFrame(value: unknown, limits: FrameLimits = DEFAULT_LIMITS): Result<ClientFrame> {
  return validated(value, clientFrame, limits);
}

function clientFrame(v: Obj, limits: FrameLimits): ClientFrame {
  const L = limits.maxIdLength;
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
      if (react !== undefined) noNul(send.body, 'send', 'body');
      const amends = recall !== undefined || edit !== undefined || react !== undefined;
      if (!absent(v['mentions'])) {
        if (amends) throw new ImError(ErrorCode.INVALID_FIELD, 'send.mentions goes on a plain message only');
        send.mentions = mentionList(v, L);
      }
      if (!absent(v['mentionAll']) && bool(v, 'send', 'mentionAll')) {
        if (amends) throw new ImError(ErrorCode.INVALID_FIELD, 'send.mentionAll goes on a plain message only');
        send.mentionAll = true;
      }
      if (!absent(v['reply'])) {
        if (amends) throw new ImError(ErrorCode.INVALID_FIELD, 'send.reply goes on a plain message only');
        send.reply = pos(v, 'send', 'reply');
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
    case 'reactors': {
      const page: ClientFrameOf<'reactors'> = { type: 'reactors', rid: uint(v, 'reactors', 'rid'), conv: id(v, 'reactors', 'conv', L), seq: pos(v, 'reactors', 'seq'), limit: pageLimit(v, 'reactors', limits) };
      if (!absent(v['after'])) page.after = id(v, 'reactors', 'after', L);
      if (!absent(v['emoji'])) page.emoji = noNul(body(v, 'reactors', 'emoji', MAX_REACTION_BYTES, false), 'reactors', 'emoji');
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
      if (!absent(v['unread'])) prefs.unread = bool(v, 'prefs', 'unread');
      if (prefs.pinned === undefined && prefs.archived === undefined && prefs.unread === undefined) throw new ImError(ErrorCode.INVALID_FIELD, 'prefs.pinned (or prefs.archived, or prefs.unread) is required');
      f = prefs;
      break;
    }
    case 'clear':
      f = { type: 'clear', rid: uint(v, 'clear', 'rid'), conv: id(v, 'clear', 'conv', L), seq: uint(v, 'clear', 'seq') };
      break;
    case 'hide':
      f = { type: 'hide', rid: uint(v, 'hide', 'rid'), conv: id(v, 'hide', 'conv', L), seqs: seqList(v, 'hide', 'seqs') };
      break;
    case 'hides':
      f = { type: 'hides', rid: uint(v, 'hides', 'rid'), conv: id(v, 'hides', 'conv', L) };
      break;
    case 'report': {
      const report: ClientFrameOf<'report'> = { type: 'report', rid: uint(v, 'report', 'rid'), conv: id(v, 'report', 'conv', L), seq: pos(v, 'report', 'seq') };
      if (!absent(v['reason'])) report.reason = body(v, 'report', 'reason', MAX_REPORT_REASON_BYTES);
      f = report;
      break;
    }
    case 'pin':
      f = { type: 'pin', rid: uint(v, 'pin', 'rid'), conv: id(v, 'pin', 'conv', L), seq: pos(v, 'pin', 'seq'), pinned: bool(v, 'pin', 'pinned') };
      break;
      default:
        throw unknownType(v['type']);
    }
    return f;
}


function mentionList(v: Obj, maxId: number): string[] {
  const problem = mentionListProblem(v['mentions'], maxId);
  if (problem !== undefined) throw invalid('send', 'mentions', problem);
  return v['mentions'] as string[];
}

/** Why `list` is no valid `mentions` (1–MAX_MENTIONS distinct user ids), or undefined when it is. */
