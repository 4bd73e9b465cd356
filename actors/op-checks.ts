import type { ChatterCreate, ChatterMembers, ChatterMute, ChatterPin, ChatterRules, ChatterSend, ChatterSilence, ChatterTitle, ChatterSystem, ConnectorAck, ConnectorAttach, ConnectorConvs, ConnectorDeliver, ConnectorGatewayGone, ConnectorPresenceLost, ConnectorDetach, ConnectorDisconnect, ConnectorJoined, ConnectorNotify, ConnectorPrefs, ConnectorRead, ConnectorReceipt, PushNotice } from '../protocol/chat-ops.js';
import { ErrorCode, ImError } from '../protocol/errors.js';
import { MUTED_FOREVER, NewcomerHistory, Posting, type MemberRole, type Pin } from '../protocol/frames.js';
import { DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_ID_LENGTH, MAX_CONVERSATION_RETENTION_SEC, MAX_REACTION_BYTES, MAX_META_BYTES, MAX_SILENCE_UIDS, MAX_SLOW_MODE_SEC, MAX_TITLE_LENGTH } from '../protocol/limits.js';
import { mentionListProblem } from '../protocol/validate.js';
import { idProblem, wellFormed } from '../protocol/validate-fields.js';
import type { PrefsChange } from '../storage/member-prefs-store.js';

/**
 * Checks of actor operation payloads where they enter a mailbox. The gateway already validated what clients
 * sent; these guard against other senders on the bus (the server API, a node of another version, a bug).
 */

/** Largest idempotency key of a system message (48 bits: the server API draws one at random when none is given). */
export const MAX_SYSTEM_KEY = 2 ** 48 - 1;
/** A WebSocket close reason may take 123 bytes; this leaves room. */
const MAX_CLOSE_REASON_BYTES = 100;
const bad = (what: string): ImError => new ImError(ErrorCode.INVALID_FIELD, what);
const obj = (p: unknown): Record<string, unknown> => {
  if (typeof p !== 'object' || p === null || Array.isArray(p)) throw bad('payload must be a map');
  return p as Record<string, unknown>;
};
/** Longest node life (`nodeId incarnation`) a presence-lost names. */
const MAX_LIFE_LENGTH = 512;
const id = (v: unknown, field: string): string => {
  const problem = idProblem(v, DEFAULT_MAX_ID_LENGTH);
  if (problem !== undefined) throw bad(`${field} ${problem}`);
  return v as string;
};
const int = (v: unknown, field: string, min: number): number => {
  if (!Number.isSafeInteger(v) || (v as number) < min) throw bad(`${field} must be an integer ≥ ${min}`);
  return v as number;
};
const text = (v: unknown, field: string, mayBeEmpty = false): string => {
  if (typeof v !== 'string' || (v.length === 0 && !mayBeEmpty) || Buffer.byteLength(v) > DEFAULT_MAX_BODY_BYTES) throw bad(`${field} must be ${mayBeEmpty ? 0 : 1}–${DEFAULT_MAX_BODY_BYTES} bytes of text`);
  if (!wellFormed(v)) throw bad(`${field} must be valid Unicode (no lone surrogates)`);
  return v;
};
/** The seq a recall, an edit or a reaction names (`field`), when the payload has one. */
const seqOf = (v: Record<string, unknown>, field: 'recall' | 'edit' | 'react'): number | undefined => (v[field] === undefined || v[field] === null ? undefined : int(v[field], field, 1));
const posting = (v: unknown): Posting => {
  if (v !== Posting.ALL && v !== Posting.ADMINS) throw bad(`posting must be "${Posting.ALL}" or "${Posting.ADMINS}"`);
  return v;
};
const history = (v: unknown): NewcomerHistory => {
  if (v !== NewcomerHistory.ALL && v !== NewcomerHistory.JOINED) throw bad(`history must be "${NewcomerHistory.ALL}" or "${NewcomerHistory.JOINED}"`);
  return v;
};
const retention = (v: unknown): number => {
  if (!Number.isSafeInteger(v) || (v as number) < 0 || (v as number) > MAX_CONVERSATION_RETENTION_SEC) throw bad(`retention must be whole seconds from 0 to ${MAX_CONVERSATION_RETENTION_SEC}`);
  return v as number;
};
const uids = (v: unknown, field: string): string[] | undefined => {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.length > 10_000) throw bad(`${field} must be an array of at most 10000 user ids`);
  return v.map((u, i) => id(u, `${field}[${i}]`));
};

/** A user id. */
export function checkUid(v: unknown): string {
  return id(v, 'uid');
}

/** A conversation id a caller picked (a group's, at its creation). */
export function checkConvId(v: unknown): string {
  return id(v, 'conv');
}

/** The seq an `expired` op names (ChatterExpired). */
export function checkExpired(p: unknown): number {
  return int(obj(p)['seq'], 'seq', 1);
}

export function checkChatterSend(p: unknown): ChatterSend {
  const v = obj(p);
  const recall = seqOf(v, 'recall');
  const edit = seqOf(v, 'edit');
  const react = seqOf(v, 'react');
  const s: ChatterSend = { uid: id(v['uid'], 'uid'), did: id(v['did'], 'did'), cid: int(v['cid'], 'cid', 1), body: text(v['body'], 'body', recall !== undefined || react !== undefined) };
  if (v['after'] !== undefined && v['after'] !== null) s.after = int(v['after'], 'after', 0);
  if (Number(recall !== undefined) + Number(edit !== undefined) + Number(react !== undefined) > 1) throw bad('recall, edit and react cannot go together');
  if (react !== undefined && Buffer.byteLength(s.body) > MAX_REACTION_BYTES) throw bad(`a reaction must be at most ${MAX_REACTION_BYTES} bytes`);
  // Stored as Postgres text too (the counts), which holds no NUL.
  if (react !== undefined && s.body.includes('\u0000')) throw bad('a reaction must not contain NUL characters');
  if (recall !== undefined) s.recall = recall;
  if (edit !== undefined) s.edit = edit;
  if (react !== undefined) s.react = react;
  plainFields(v, s, (recall ?? edit ?? react) !== undefined);
  return s;
}

export function checkChatterSystem(p: unknown): ChatterSystem {
  const v = obj(p);
  const recall = seqOf(v, 'recall');
  // A recall may come without a body: it says what it takes back, not what replaces it.
  const s: ChatterSystem = { body: recall !== undefined && (v['body'] === undefined || v['body'] === null) ? '' : text(v['body'], 'body', recall !== undefined) };
  if (recall !== undefined) s.recall = recall;
  plainFields(v, s, recall !== undefined);
  if (v['from'] !== undefined && v['from'] !== null) s.from = id(v['from'], 'from');
  if (v['key'] !== undefined && v['key'] !== null) {
    s.key = int(v['key'], 'key', 1);
    if (s.key > MAX_SYSTEM_KEY) throw bad(`key must be an integer from 1 to ${MAX_SYSTEM_KEY}`);
  }
  return s;
}

export function checkChatterCreate(p: unknown): ChatterCreate {
  const v = obj(p);
  const c: ChatterCreate = { owner: id(v['owner'], 'owner') };
  const members = uids(v['members'], 'members');
  if (members) c.members = members;
  if (v['title'] !== undefined && v['title'] !== null) c.title = groupTitle(v['title']);
  if (v['meta'] !== undefined && v['meta'] !== null) c.meta = meta(v['meta']);
  return Object.assign(c, rulesOf(v));
}

/** A group's title, as checked wherever one is set. */
const groupTitle = (v: unknown): string => {
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_TITLE_LENGTH) throw bad(`title must be a string of 1–${MAX_TITLE_LENGTH} characters, or null`);
  if (!wellFormed(v)) throw bad('title must be valid Unicode (no lone surrogates)');
  return v;
};
const meta = (v: unknown): string => {
  if (typeof v !== 'string' || v.length === 0 || Buffer.byteLength(v) > MAX_META_BYTES) throw bad(`meta must be a string of 1–${MAX_META_BYTES} bytes, or null`);
  if (!wellFormed(v)) throw bad('meta must be valid Unicode (no lone surrogates)');
  return v;
};
const slowMode = (v: unknown): number => {
  if (!Number.isSafeInteger(v) || (v as number) < 0 || (v as number) > MAX_SLOW_MODE_SEC) throw bad(`slowMode must be whole seconds from 0 to ${MAX_SLOW_MODE_SEC}`);
  return v as number;
};

/** The rules a payload names (`posting`, `retention`, `history`, `slowMode`), checked; none named: an empty object. */
function rulesOf(v: Record<string, unknown>): ChatterRules {
  const r: ChatterRules = {};
  if (v['posting'] !== undefined && v['posting'] !== null) r.posting = posting(v['posting']);
  if (v['retention'] !== undefined && v['retention'] !== null) r.retention = retention(v['retention']);
  if (v['history'] !== undefined && v['history'] !== null) r.history = history(v['history']);
  if (v['slowMode'] !== undefined && v['slowMode'] !== null) r.slowMode = slowMode(v['slowMode']);
  return r;
}

export function checkChatterMembers(p: unknown): ChatterMembers {
  const v = obj(p);
  const out: ChatterMembers = {};
  const add = uids(v['add'], 'add');
  const remove = uids(v['remove'], 'remove');
  if (add) out.add = add;
  if (remove) out.remove = remove;
  return out;
}

export function checkAttach(p: unknown): ConnectorAttach {
  const v = obj(p);
  const a: ConnectorAttach = { did: id(v['did'], 'did'), gw: id(v['gw'], 'gw'), sid: int(v['sid'], 'sid', 0) };
  if (v['life'] !== undefined) a.life = id(v['life'], 'life');
  if (v['refresh'] === true) a.refresh = true;
  if (v['pageBytes'] !== undefined) a.pageBytes = int(v['pageBytes'], 'pageBytes', MIN_PAGE_BYTES);
  return a;
}

/** Longest `after` a list request may carry: any stored conversation id, those from before ids were checked as bytes too. */
const MAX_LIST_CURSOR_LENGTH = 1024;
/** Smallest page a list request may ask for: a page holds one row at least anyway. */
const MIN_PAGE_BYTES = 1024;

/** A list request: `after` (a conversation id, as stored) asks for the page past it, `pageBytes` for pages that size. */
export function checkConvs(p: unknown): ConnectorConvs {
  const v = obj(p);
  const out: ConnectorConvs = {};
  if (v['did'] !== undefined) out.did = id(v['did'], 'did');
  const after = v['after'];
  if (after !== undefined) {
    if (typeof after !== 'string' || after.length === 0 || after.length > MAX_LIST_CURSOR_LENGTH) throw bad(`after must be a conversation id`);
    out.after = after;
  }
  if (v['pageBytes'] !== undefined) out.pageBytes = int(v['pageBytes'], 'pageBytes', MIN_PAGE_BYTES);
  return out;
}

export function checkGatewayGone(p: unknown): ConnectorGatewayGone {
  const v = obj(p);
  return { gw: id(v['gw'], 'gw'), life: id(v['life'], 'life') };
}

export function checkPresenceLost(p: unknown): ConnectorPresenceLost {
  const v = obj(p);
  // A node life is `nodeId incarnation`: longer than an id may be (a node id from a long host name).
  const life = v['life'];
  if (typeof life !== 'string' || life.length === 0 || life.length > MAX_LIFE_LENGTH) throw bad(`life must be a node life of at most ${MAX_LIFE_LENGTH} characters`);
  return { did: id(v['did'], 'did'), life };
}

export function checkDisconnect(p: unknown): ConnectorDisconnect {
  const v = obj(p);
  const d: ConnectorDisconnect = {};
  if (v['did'] !== undefined) d.did = id(v['did'], 'did');
  if (v['reason'] !== undefined) {
    if (typeof v['reason'] !== 'string' || Buffer.byteLength(v['reason']) > MAX_CLOSE_REASON_BYTES) throw bad(`reason must be a string of at most ${MAX_CLOSE_REASON_BYTES} bytes`);
    d.reason = v['reason'];
  }
  if (v['revoke'] !== undefined) {
    if (typeof v['revoke'] !== 'boolean') throw bad('revoke must be true or false');
    if (v['revoke']) d.revoke = true;
  }
  // Sent by account erasure only (the server API's disconnect refuses it): the connector forgets the user's last seen.
  if (v['erase'] === true) d.erase = true;
  return d;
}

export function checkDetach(p: unknown): ConnectorDetach {
  const v = obj(p);
  return { did: id(v['did'], 'did'), sid: int(v['sid'], 'sid', 0) };
}

/** An ack or a read mark: a device, a conversation and a seq. */
export function checkMark(p: unknown): ConnectorAck & ConnectorRead {
  const v = obj(p);
  return { did: id(v['did'], 'did'), conv: id(v['conv'], 'conv'), seq: int(v['seq'], 'seq', 0) };
}

/** A direct peer's read receipt. */
export function checkReceipt(p: unknown): ConnectorReceipt {
  const v = obj(p);
  return { conv: id(v['conv'], 'conv'), uid: id(v['uid'], 'uid'), seq: int(v['seq'], 'seq', 0) };
}

/** A message as the chatter fans it out: ids, its seq and its encoded client frame. */
export function checkDeliver(p: unknown): ConnectorDeliver {
  const v = obj(p);
  const frame = v['frame'];
  if (!(frame instanceof Uint8Array) || frame.length === 0) throw bad('frame must be the encoded msg frame');
  const d: ConnectorDeliver = { conv: id(v['conv'], 'conv'), seq: int(v['seq'], 'seq', 1), from: id(v['from'], 'from'), did: id(v['did'], 'did'), frame };
  return noticeFields(v, d);
}

/** A large group's push notice for one member it names (ConnectorOp.PUSH). */
export function checkPushNotice(p: unknown): PushNotice {
  const v = obj(p);
  return noticeFields(v, { conv: id(v['conv'], 'conv'), seq: int(v['seq'], 'seq', 1), from: id(v['from'], 'from'), did: id(v['did'], 'did') });
}

/** A send's or system message's `mentions`, `mentionAll` and `reply`, checked onto `s`: only a plain message (not `amends`) has them. */
function plainFields(v: Record<string, unknown>, s: { mentions?: string[]; mentionAll?: true; reply?: number }, amends: boolean): void {
  const mentions = mentionList(v['mentions']);
  const all = allFlag(v['mentionAll']);
  const reply = v['reply'] === undefined || v['reply'] === null ? undefined : int(v['reply'], 'reply', 1);
  if (amends && (mentions ?? all ?? reply) !== undefined) throw bad('mentions, mentionAll and reply go on a plain message only');
  if (mentions !== undefined) s.mentions = mentions;
  if (all) s.mentionAll = true;
  if (reply !== undefined) s.reply = reply;
}

/** `mentionAll`: true, or undefined when false or absent. */
function allFlag(v: unknown): true | undefined {
  if (v === undefined || v === null || v === false) return undefined;
  if (v !== true) throw bad('mentionAll must be a boolean');
  return true;
}

/** The optional fields of a delivery or push notice, checked onto `d`. */
function noticeFields<T extends PushNotice>(v: Record<string, unknown>, d: T): T {
  if (v['quiet'] === true) d.quiet = true;
  if (v['muted'] === true) d.muted = true;
  const mentions = mentionList(v['mentions']);
  if (mentions !== undefined) d.mentions = mentions;
  if (v['replyFrom'] !== undefined && v['replyFrom'] !== null) d.replyFrom = id(v['replyFrom'], 'replyFrom');
  if (allFlag(v['mentionAll'])) d.mentionAll = true;
  if (v['reaction'] !== undefined && v['reaction'] !== null) {
    const r = obj(v['reaction']);
    d.reaction = { author: id(r['author'], 'reaction.author'), target: int(r['target'], 'reaction.target', 1), emoji: text(r['emoji'], 'reaction.emoji') };
  }
  return d;
}

/** 1–MAX_MENTIONS distinct user ids (the rule a client's `send.mentions` follows), or undefined when absent. */
function mentionList(v: unknown): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  const problem = mentionListProblem(v);
  if (problem !== undefined) throw bad(`mentions ${problem}`);
  return v as string[];
}

const until = (v: unknown): number => {
  if (!Number.isSafeInteger(v) || (v as number) < 0 || (v as number) > MUTED_FOREVER) throw bad(`until must be an integer from 0 to ${MUTED_FOREVER}`);
  return v as number;
};

/**
 * The user is in a conversation (chatter or server API → connector); `added` ones carry what the devices are told,
 * each optional field only when set, so that the connector passes them on as they are.
 */
export function checkJoined(p: unknown): ConnectorJoined {
  const v = obj(p);
  const j: ConnectorJoined = { conv: id(v['conv'], 'conv'), kind: v['kind'] === 'direct' ? 'direct' : 'group', large: v['large'] === true };
  if (v['added'] === true) {
    j.added = true;
    j.lastSeq = v['lastSeq'] === undefined ? 0 : int(v['lastSeq'], 'lastSeq', 0);
    if (typeof v['title'] === 'string') j.title = v['title'];
    if (typeof v['meta'] === 'string') j.meta = v['meta'];
    if (v['posting'] === Posting.ADMINS) j.posting = Posting.ADMINS;
    if (Number.isSafeInteger(v['retention']) && (v['retention'] as number) > 0) j.retention = v['retention'] as number;
    if (Number.isSafeInteger(v['slowMode']) && (v['slowMode'] as number) > 0) j.slowMode = v['slowMode'] as number;
    // Passed on as they came: the SDK checks each pin where it enters.
    if (Array.isArray(v['pins']) && v['pins'].length > 0) j.pins = v['pins'] as Pin[];
    if (v['clearedSeq'] !== undefined && v['clearedSeq'] !== 0) j.clearedSeq = int(v['clearedSeq'], 'clearedSeq', 1);
  } else if (j.large && v['lastSeq'] !== undefined) j.lastSeq = int(v['lastSeq'], 'lastSeq', 0);
  return j;
}

/** An encoded frame for the user's devices (chatter or gateway → connector), all but device `except`. */
export function checkNotify(p: unknown): ConnectorNotify {
  const o = obj(p);
  const frame = o['frame'];
  if (!(frame instanceof Uint8Array) || frame.length === 0) throw bad('frame must be an encoded server frame');
  if (o['except'] === undefined) return { frame };
  if (typeof o['except'] !== 'string') throw bad('except must be a device id');
  return { frame, except: o['except'] };
}

/**
 * A group's new title (1–MAX_TITLE_LENGTH characters) and/or app-defined data (`meta`, 1–MAX_META_BYTES bytes), each
 * null for none (server API → chatter); at least one.
 */
export function checkChatterTitle(p: unknown): ChatterTitle {
  const v = obj(p);
  const out: ChatterTitle = {};
  if (v['title'] !== undefined) out.title = v['title'] === null ? null : groupTitle(v['title']);
  if (v['meta'] !== undefined) out.meta = v['meta'] === null ? null : meta(v['meta']);
  if (out.title === undefined && out.meta === undefined) throw bad('title or meta is required');
  return out;
}

/**
 * A conversation's rules (server API → chatter): `posting` (`all` or `admins`), `retention` (seconds, 0: the
 * cluster's), `history` (what newcomers see: `all` or from when they `joined`) and/or `slowMode` (seconds, 0: off).
 */
export function checkChatterRules(p: unknown): ChatterRules {
  const r = rulesOf(obj(p));
  if (r.posting === undefined && r.retention === undefined && r.history === undefined && r.slowMode === undefined) throw bad('posting, retention, history or slowMode is required');
  return r;
}

/** A member's mute of the conversation (gateway or server API → chatter). */
export function checkChatterMute(p: unknown): ChatterMute {
  const v = obj(p);
  const m: ChatterMute = { uid: id(v['uid'], 'uid'), until: until(v['until']) };
  if (v['did'] !== undefined && v['did'] !== null) m.did = id(v['did'], 'did');
  return m;
}

/** A server API roles change: a map of uid to role (the store checks each role and membership, all or none). */
export function checkRoles(p: unknown): Record<string, MemberRole> {
  const roles = obj(p)['roles'];
  if (typeof roles !== 'object' || roles === null || Array.isArray(roles)) throw bad('roles must be a map of uid to role');
  return roles as Record<string, MemberRole>;
}

/** A pin or unpin of a message: its seq, whether pinned, and the member asking (none: the server API, maybe naming `by`). */
export function checkChatterPin(p: unknown): ChatterPin {
  const v = obj(p);
  if (typeof v['pinned'] !== 'boolean') throw bad('pinned must be true or false');
  const pin: ChatterPin = { seq: int(v['seq'], 'seq', 1), pinned: v['pinned'] };
  if (v['uid'] !== undefined && v['uid'] !== null) pin.uid = id(v['uid'], 'uid');
  if (v['by'] !== undefined && v['by'] !== null) pin.by = id(v['by'], 'by');
  return pin;
}

/** A server API silence: 1–MAX_SILENCE_UIDS members and until when (epoch ms; 0 lifts it). */
export function checkChatterSilence(p: unknown): ChatterSilence {
  const v = obj(p);
  const list = v['uids'];
  if (!Array.isArray(list) || list.length === 0 || list.length > MAX_SILENCE_UIDS) throw bad(`uids must be an array of 1–${MAX_SILENCE_UIDS} user ids`);
  return { uids: list.map((u, i) => id(u, `uids[${i}]`)), until: until(v['until']) };
}

/** A prefs change for the user's connector (gateway or server API → connector): the conversation, the asking device, the change. */
export function checkConnectorPrefs(p: unknown): { conv: string; did?: string; change: PrefsChange } {
  const v = obj(p) as Partial<Record<keyof ConnectorPrefs, unknown>>;
  const out: { conv: string; did?: string; change: PrefsChange } = { conv: id(v.conv, 'conv'), change: checkPrefsChange(p) };
  if (v.did !== undefined) out.did = id(v.did, 'did');
  return out;
}

/** A server API prefs change: `pinned`, `archived` and / or `unread`, booleans, at least one. */
export function checkPrefsChange(p: unknown): PrefsChange {
  const v = obj(p);
  const change: PrefsChange = {};
  for (const k of ['pinned', 'archived', 'unread'] as const) {
    if (v[k] === undefined || v[k] === null) continue;
    if (typeof v[k] !== 'boolean') throw bad(`${k} must be true or false`);
    change[k] = v[k];
  }
  if (change.pinned === undefined && change.archived === undefined && change.unread === undefined) throw bad('pinned, archived or unread is required');
  return change;
}

/** A server API clear's `seq`: absent means everything up to the conversation's last message (the store caps it there). */
export function checkClearSeq(p: unknown): number {
  const seq = obj(p)['seq'];
  return seq === undefined || seq === null ? Number.MAX_SAFE_INTEGER : int(seq, 'seq', 0);
}
