import { ChatKind, ConnectorOp, type ConnectorPrefs, type ConnectorRead } from '../protocol/chat-ops.js';
import { encodeFrame } from '../protocol/codec.js';
import type { ServerFrameOf } from '../protocol/frames.js';
import type { ActorSender } from '../runtime/actor-host.js';
import type { HiddenMessageStore, HideResult } from '../storage/hidden-message-store.js';
import type { MemberPrefs, MemberPrefsStore, PrefsChange } from '../storage/member-prefs-store.js';
import type { Fence } from '../storage/types.js';
import type { ChatServices } from './chat-services.js';
import { tellDevices } from './tell-devices.js';

/**
 * Stores a user's pin, archive or mark as unread of `conv` (a device's `prefs`, `did`, or the server API's for them)
 * through their connector, which takes it in turn with their reads (a read takes a mark as unread off) and tells
 * their devices but the one that asked, which gets the answer.
 */
export async function setMemberPrefs(sender: ActorSender, uid: string, conv: string, change: PrefsChange, did?: string): Promise<MemberPrefs> {
  const p: ConnectorPrefs = { conv, ...change };
  if (did !== undefined) p.did = did;
  return (await sender.call(ChatKind.CONNECTOR, uid, ConnectorOp.PREFS, p)) as MemberPrefs;
}

/**
 * The connector's side of setMemberPrefs: stores the change for `uid` under the connector's `fence`, then has `notify`
 * tell their devices but the one that asked (`did`).
 */
export async function storeMemberPrefs(svc: ChatServices, uid: string, p: { conv: string; did?: string; change: PrefsChange }, notify: (frame: Uint8Array, except?: string) => void, fence?: Fence): Promise<MemberPrefs> {
  const stored = await svc.prefs.set(uid, p.conv, p.change, fence);
  notify(encodeFrame({ type: 'prefs', conv: p.conv, ...stored }), p.did);
  return stored;
}

/**
 * Clears `conv`'s history for `uid` up to `seq` (a device's `clear`, or the server API's for them) and returns the
 * stored mark. What is cleared counts as read: the user's connector moves the read mark there, which echoes it to
 * every device (the unread count with it). Then their devices but `except`, the one that asked and gets the
 * answer, are told to drop what they hold up to the mark.
 */
export async function clearHistory(store: MemberPrefsStore, sender: ActorSender, uid: string, conv: string, seq: number, did: string, except?: string): Promise<number> {
  const cleared = await store.clear(uid, conv, seq);
  await sender.call(ChatKind.CONNECTOR, uid, ConnectorOp.READ, { did, conv, seq: cleared } satisfies ConnectorRead);
  tellDevices(sender, [uid], { type: 'cleared', conv, seq: cleared }, except);
  return cleared;
}

/**
 * Hides messages of `conv` from `uid` ("delete for me": a device's `hide`, or the server API's for them) and returns
 * those hidden now with the unread count they leave; then their devices but `except`, the one that asked and gets
 * the answer, are told to stop showing them, with that count.
 */
export async function hideMessages(store: HiddenMessageStore, sender: ActorSender, uid: string, conv: string, seqs: readonly number[], except?: string): Promise<HideResult> {
  const hidden = await store.hide(uid, conv, seqs);
  if (hidden.seqs.length > 0) tellDevices(sender, [uid], hiddenFrame(conv, hidden), except);
  return hidden;
}

/** The `hidden` frame telling of `hidden` (with `rid`: the answer to a device's `hide`). */
export function hiddenFrame(conv: string, hidden: HideResult, rid?: number): ServerFrameOf<'hidden'> {
  const f: ServerFrameOf<'hidden'> = { type: 'hidden', conv, seqs: hidden.seqs, ...hidden.count };
  if (hidden.hiddenAt !== undefined) f.hiddenAt = hidden.hiddenAt;
  if (rid !== undefined) f.rid = rid;
  return f;
}
