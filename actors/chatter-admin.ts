import type { ChatterCreate, ChatterMembers, ChatterMute, ChatterRules, ChatterSilence, ChatterTitle, CreateReply, DissolveReply, MembersReply, MuteReply, RolesReply, RulesReply, SilenceReply, TitleReply } from '../protocol/chat-ops.js';
import { ErrorCode, ImError } from '../protocol/errors.js';
import { MemberRole, Posting, type ConvKind, type Pin, type ServerFrame } from '../protocol/frames.js';
import type { ActorContext } from '../runtime/actor.js';
import type { AddedMember } from '../storage/conversation-store.js';
import { isRetryableStorageError, rolledBack } from '../storage/pg-errors.js';
import type { ChatServices } from './chat-services.js';
import type { MemberMarks } from './member-marks.js';
import { tellDevices } from './tell-devices.js';

/** A member mutes (or unmutes) the conversation: stored, marked on what is fanned out to them, echoed to their devices. */
export async function mute(c: AdminChatter, p: ChatterMute): Promise<MuteReply> {
  await c.recheckMissing();
  if (!c.exists) throw new ImError(ErrorCode.NOT_FOUND, `no conversation ${c.ctx.key}`);
  if (!c.members.has(p.uid)) throw new ImError(ErrorCode.NOT_MEMBER, `${p.uid} is not a member of ${c.ctx.key}`);
  const until = await c.svc.mutes.set(c.ctx.key, p.uid, p.until, c.ctx.fence);
  c.marks.mute(p.uid, until, Date.now());
  // The user's other devices are told; the one that asked has its answer.
  tellDevices(c.ctx, [p.uid], { type: 'mute', conv: c.ctx.key, until }, p.did);
  return { until };
}

/**
 * `change`, a write whose failure may still have committed (a deadline past, a dropped link): on failure the chatter
 * reads the group again before its next operation.
 */
function orBroken<T>(c: AdminChatter, change: Promise<T>): Promise<T> {
  return change.catch((err: unknown) => {
    // A refusal (not a member, a bad role) stored nothing: a reload of up to 100,000 members would only cost.
    if (mayHaveCommitted(err)) c.broken = true;
    throw err;
  });
}

/**
 * Whether a failed write may still have committed: a deadline past or a link lost, or Postgres failing it without a
 * rollback (a FATAL). A refusal (a limit, a conflict, bad input, no such group) stored nothing: reading a group of up
 * to 100,000 members again for it, with the mailbox held, would only slow every sender down.
 */
export function mayHaveCommitted(err: unknown): boolean {
  // Stores throw ImErrors only: anything else is a surprise, and its outcome unknown.
  if (!(err instanceof ImError)) return true;
  if (rolledBack(err)) return false;
  return isRetryableStorageError(err) || err.code === ErrorCode.STORAGE;
}

/**
 * A conversation's chatter as its admin operations (the server API's, and a member leaving) see it: the state they
 * change, and how it tells members. They run in the chatter's mailbox like its sends, so they change that state
 * between two sends, never during one.
 */
export interface AdminChatter {
  readonly ctx: ActorContext;
  readonly svc: ChatServices;
  readonly marks: MemberMarks;
  exists: boolean;
  readonly kind: ConvKind;
  /** A direct conversation whose one member blocks the other. */
  readonly blocked: boolean;
  title: string | undefined;
  /** A group's app-defined data. */
  meta: string | undefined;
  /** Its own retention, seconds (0: the cluster's). */
  retention: number;
  members: Set<string>;
  readonly large: boolean;
  /** What this actor knows may be wrong (a commit or a member change of unknown outcome): it reloads before trusting it. */
  broken: boolean;
  /** Member changes of unknown outcome not told yet: a read after them failed (see tellUntold). */
  untold: UntoldChanges | undefined;
  /** Reads the conversation again from Postgres, then tells what is untold (tellUntold). */
  load(): Promise<void>;
  /** Reads it again if it was found missing (at most once a second). */
  recheckMissing(): Promise<void>;
  /** An ephemeral frame for the members (but `except`) online. */
  toMembers(frame: ServerFrame, except?: string): void;
  /** Resolves once a recall or edit of message `seq` in the group commit is stored (or failed). */
  settled(seq: number): Promise<void>;
  /** Resolves once every message accepted so far is stored (or failed: the chatter is then `broken`). */
  commitsSettled(): Promise<void>;
  /** Tells members, devices and the business server who joined and left (see announceMembers); newcomers learn `pins`. */
  announce(added: readonly AddedMember[], removed: string[], wasLarge: boolean, by?: string, pins?: Pin[]): void;
}

/**
 * Who member changes of unknown outcome (an answer lost) may have added or taken out, kept while the chatter could
 * not read its members again to find out: told by its next load. One kept set gathers every such change until then.
 */
export interface UntoldChanges {
  /** Uids a change tried to add that were not members before. */
  adds: Set<string>;
  /** Uids a change tried to remove (or a dissolve, all) that were members before. */
  removes: Set<string>;
  /** Whether the group was large before the first of them (how its members were last told to be delivered to). */
  wasLarge: boolean;
  /** The member who left of their own accord, when every kept change is theirs. */
  by: string | undefined;
}

/** Keeps a change of unknown outcome to be told once the members are read (merged with one kept before). */
function keepUntold(c: AdminChatter, adds: readonly string[], removes: readonly string[], wasLarge: boolean, by: string | undefined): void {
  const u = c.untold;
  if (u === undefined) {
    c.untold = { adds: new Set(adds), removes: new Set(removes), wasLarge, by };
    return;
  }
  for (const a of adds) u.adds.add(a);
  for (const r of removes) u.removes.add(r);
  if (u.by !== by) u.by = undefined;
}

/**
 * Called by the chatter once it has read its members (ChatterActor.load): tells those the kept changes did add or
 * take out (their devices, the business server) as the changes would have told them, then forgets them. Telling is
 * once: a retry of such a change finds nobody left to add or remove, and tells nobody. A newcomer whose history start
 * cannot be read (Postgres failing again) is left to their next list.
 */
export async function tellUntold(c: AdminChatter): Promise<void> {
  const u = c.untold;
  if (u === undefined) return;
  c.untold = undefined;
  const gone = [...u.removes].filter((x) => !c.members.has(x));
  const joined = [...u.adds].filter((x) => c.members.has(x));
  const rows = joined.length > 0 ? await c.svc.convs.joinedRows(c.ctx.key, joined).catch(() => []) : [];
  if (rows.length + gone.length > 0) applyMembers(c, rows, gone, u.wasLarge, u.by, await pinsForNewcomers(c, rows));
}

/** Loads a conversation not known to exist (it may have been created since), then refuses one that is not a group. */
async function mustBeGroup(c: AdminChatter): Promise<void> {
  if (!c.exists || c.broken) await c.load();
  if (!c.exists || c.kind !== 'group') throw new ImError(ErrorCode.NOT_FOUND, `no group ${c.ctx.key}`);
}

/** Renames the group and/or gives it new app-defined data; the members online see them at once (lists carry them from then on). */
export async function retitle(c: AdminChatter, p: ChatterTitle): Promise<TitleReply> {
  await mustBeGroup(c);
  const conv = c.ctx.key;
  // Read again if its answer is lost, or newcomers would be told the old title until the next reload.
  await orBroken(c, c.svc.groups.setProfile(conv, p, c.ctx.fence));
  if (p.title !== undefined) {
    c.title = p.title ?? undefined;
    c.toMembers(p.title === null ? { type: 'title', conv } : { type: 'title', conv, title: p.title });
  }
  if (p.meta !== undefined) {
    c.meta = p.meta ?? undefined;
    c.toMembers(p.meta === null ? { type: 'meta', conv } : { type: 'meta', conv, meta: p.meta });
  }
  return { conv, ...p };
}

/**
 * Stores members' roles, then shows them to the members online, as a title is. A silenced member made an owner or
 * admin is silenced no more (the store lifted it), and their devices are told so.
 */
export async function setRoles(c: AdminChatter, roles: Record<string, MemberRole>): Promise<RolesReply> {
  const conv = c.ctx.key;
  // Read again if its answer is lost, or a demoted admin would go on moderating here until the next reload.
  const stored = await orBroken(c, c.svc.groups.setRoles(conv, roles, c.ctx.fence));
  const now = Date.now();
  const lifted = Object.keys(stored).filter((uid) => stored[uid] !== MemberRole.MEMBER && c.marks.silencedUntil(uid) > now);
  c.marks.setRoles(stored);
  c.toMembers({ type: 'roles', conv, roles: stored });
  tellDevices(c.ctx, lifted, { type: 'silenced', conv, until: 0 });
  return { conv, roles: stored };
}

/** Silences plain members of the group until `until` (0 lifts it): at once for their sends, and their devices are told. */
export async function silence(c: AdminChatter, p: ChatterSilence): Promise<SilenceReply> {
  await mustBeGroup(c);
  // Read again if its answer is lost, or the silenced would post on until the next reload.
  const uids = await orBroken(c, c.svc.groups.silence(c.ctx.key, p.uids, p.until, c.ctx.fence));
  const now = Date.now();
  for (const uid of uids) c.marks.silence(uid, p.until, now);
  tellDevices(c.ctx, uids, { type: 'silenced', conv: c.ctx.key, until: p.until });
  return { conv: c.ctx.key, uids, until: p.until };
}

/**
 * Sets who may post, what newcomers see and the slow mode (a group's rules) and/or how long messages are kept; the
 * members online are told of all but the newcomers' rule at once.
 */
export async function setRules(c: AdminChatter, p: ChatterRules): Promise<RulesReply> {
  const conv = c.ctx.key;
  // Broken, it may hold a group dissolved since (whose rules the store would still change) and its former members.
  if (!c.exists || c.broken) await c.load();
  // Posting, history and slow mode are a group's rules; retention any conversation's. History changes nothing for members now.
  const groupOnly = p.posting !== undefined || p.history !== undefined || p.slowMode !== undefined;
  if (!c.exists || (groupOnly && c.kind !== 'group')) throw new ImError(ErrorCode.NOT_FOUND, `no ${groupOnly ? 'group' : 'conversation'} ${conv}`);
  // Read again if its answer is lost, or the old rules would stand here until the next reload.
  await orBroken(c, c.svc.groups.setRules(conv, p, c.ctx.fence));
  if (p.posting !== undefined) {
    c.marks.adminsPost = p.posting === Posting.ADMINS;
    c.toMembers({ type: 'posting', conv, posting: p.posting });
  }
  if (p.retention !== undefined) c.toMembers({ type: 'retention', conv, retention: (c.retention = p.retention) });
  if (p.slowMode !== undefined) c.toMembers({ type: 'slowmode', conv, slowMode: (c.marks.slowMode = p.slowMode) });
  return { conv, ...p };
}

/** Dissolves the group: every member is removed (and told, as by a removal); it takes nothing more. */
export async function dissolve(c: AdminChatter): Promise<DissolveReply> {
  await mustBeGroup(c);
  const wasLarge = c.large;
  // By reference: a load() puts a new set in place, and nothing here changes this one before the catch.
  const had = c.members;
  let removed: string[];
  try {
    removed = await c.svc.groups.dissolve(c.ctx.key, c.ctx.fence);
  } catch (err) {
    // Read again, or the members kept in memory would go on posting to a dissolved group. A dissolve past its
    // deadline may have committed, and a retry would find no group (404) and tell nobody: if it is gone, the
    // members it had are told now and the dissolve answered as done. If it cannot be read, they are told by the
    // next load that finds it gone.
    c.broken = true;
    keepUntold(c, [], [...had].sort(), wasLarge, undefined);
    // The load tells what is kept; failing, the chatter's next load does.
    if (!(await c.load().then(() => true, () => false)) || c.exists) throw err;
    return { conv: c.ctx.key, removed: had.size };
  }
  c.members = new Set();
  c.exists = false;
  c.announce([], removed, wasLarge);
  return { conv: c.ctx.key, removed: removed.length };
}

/**
 * The pins newcomers are told of with `joined`: none to tell without newcomers. A failed read tells none (their
 * next list has them) rather than leave the newcomers untold of their joining.
 */
async function pinsForNewcomers(c: AdminChatter, added: readonly AddedMember[]): Promise<Pin[]> {
  return added.length === 0 ? [] : c.svc.pins.list(c.ctx.key).catch(() => []);
}

/** Adds and removes members (`by`: a member leaving on their own, who must be in a group). */
export async function changeMembers(c: AdminChatter, p: ChatterMembers, by?: string): Promise<MembersReply> {
  const conv = c.ctx.key;
  // A newcomer's history starts past the last message stored (joined_seq, and a `joined` group's clear) and their
  // `joined` names the last seq: a message accepted before the add but still in the group commit would be past both,
  // and fanned out to them once stored. A removal waits too: an erasure blanks what the user wrote once they are out,
  // and a send or edit of theirs still in the commit would land after it, its text whole again.
  if (p.add?.length || p.remove?.length) await c.commitsSettled();
  if (!c.exists || c.broken) await c.load();
  if (!c.exists) throw new ImError(ErrorCode.NOT_FOUND, `no conversation ${conv}`);
  if (by !== undefined && !c.members.has(by)) throw new ImError(ErrorCode.NOT_MEMBER, `${by} is not a member of ${conv}`);
  if (by !== undefined && c.kind !== 'group') throw new ImError(ErrorCode.FORBIDDEN, 'a direct conversation cannot be left');
  const wasLarge = c.large;
  let added: AddedMember[] = [];
  let removed: string[] = [];
  try {
    if (p.add?.length) added = await c.svc.convs.addMembers(conv, p.add, 'member', c.ctx.fence);
    if (p.remove?.length) removed = await c.svc.convs.removeMembers(conv, p.remove, c.ctx.fence);
  } catch (err) {
    // The adds known to be stored (before a failed removal) are told now, as a retry would not tell them.
    if (added.length > 0) applyMembers(c, added, [], wasLarge, by, await pinsForNewcomers(c, added));
    if (!mayHaveCommitted(err)) throw err;
    // A statement past its deadline may have committed, and a retry would find nothing left to change: the members
    // are read again before the next operation.
    c.broken = true;
    const known = new Set(added.map((a) => a.uid));
    await tellLostChanges(c, (p.add ?? []).filter((u) => !c.members.has(u) && !known.has(u)), (p.remove ?? []).filter((u) => c.members.has(u)), wasLarge, by);
    throw err;
  }
  applyMembers(c, added, removed, wasLarge, by, await pinsForNewcomers(c, added));
  return { added: added.map((a) => a.uid), removed };
}

/**
 * After a failed change: an add or a removal past its deadline may have committed, and its retry would find nobody
 * to add or remove, so tell nobody. The members are read again now, and those it added (of `adds`, not members
 * before) or took out (of `removes`, members before) are told (their devices, the business server) as the change
 * would have told them; if that read fails too, by the chatter's next load (see tellUntold).
 */
async function tellLostChanges(c: AdminChatter, adds: readonly string[], removes: readonly string[], wasLarge: boolean, by: string | undefined): Promise<void> {
  if (adds.length + removes.length === 0) return;
  keepUntold(c, adds, removes, wasLarge, by);
  // The load tells what is kept; failing, the chatter's next load does.
  await c.load().catch(() => undefined);
}

/** Takes stored member changes into the chatter's state and tells everyone concerned. */
function applyMembers(c: AdminChatter, added: readonly AddedMember[], removed: string[], wasLarge: boolean, by: string | undefined, pins: Pin[]): void {
  for (const a of added) c.members.add(a.uid);
  for (const u of removed) {
    c.members.delete(u);
    c.marks.forget(u);
  }
  c.announce(added, removed, wasLarge, by, pins);
}

/** Creates the group (or adds the members to it, if it exists): through its chatter, so that it knows at once. */
export async function createGroup(c: AdminChatter, p: ChatterCreate): Promise<CreateReply> {
  // It may add members to a group that exists (see changeMembers).
  await c.commitsSettled();
  const wasLarge = c.exists && c.large;
  const before: ReadonlySet<string> = c.exists ? c.members : new Set();
  let added: AddedMember[] | undefined;
  try {
    ({ added } = await c.svc.convs.createGroup({ convId: c.ctx.key, owner: p.owner, ...(p.members ? { members: p.members } : {}), ...(p.title !== undefined ? { title: p.title } : {}), ...(p.meta !== undefined ? { meta: p.meta } : {}), ...(p.posting ? { posting: p.posting } : {}), ...(p.retention ? { retentionSec: p.retention } : {}), ...(p.history ? { history: p.history } : {}), ...(p.slowMode ? { slowModeSec: p.slowMode } : {}) }, c.ctx.fence));
    // Told below: not by the load too, if an earlier change kept untold named them.
    for (const a of added) c.untold?.adds.delete(a.uid);
    await c.load();
  } catch (err) {
    if (added === undefined && !mayHaveCommitted(err)) throw err;
    // A creation past its deadline may have committed (or the read after it failed), and a retry would find its
    // members in already, telling nobody: read again, and tell those in it now who were not before.
    c.broken = true;
    await tellLostChanges(c, [...new Set([p.owner, ...(p.members ?? [])])].filter((u) => !before.has(u)), [], wasLarge, undefined);
    throw err;
  }
  c.announce(added, [], wasLarge, undefined, await pinsForNewcomers(c, added));
  return { conv: c.ctx.key, kind: 'group' };
}
