import { ChatKind, ConnectorOp, type ConnectorNotify, type ConnectorRead } from '../protocol/chat-ops.js';
import { encodeFrame } from '../protocol/codec.js';
import type { ActorSender } from '../runtime/actor-host.js';
import type { HiddenMessageStore } from '../storage/hidden-message-store.js';
import type { MemberPrefs, MemberPrefsStore } from '../storage/member-prefs-store.js';

/**
 * Stores a user's pin or archive of `conv` (a device's `prefs`, or the server API's for them), then has their
 * connector tell their devices (it knows where they are) but `except`, the device that asked and gets the answer.
 */
export async function setMemberPrefs(store: MemberPrefsStore, sender: ActorSender, uid: string, conv: string, change: { pinned?: boolean; archived?: boolean }, except?: string): Promise<MemberPrefs> {
  const p = await store.set(uid, conv, change);
  const notify: ConnectorNotify = { frame: encodeFrame({ type: 'prefs', conv, ...p }) };
  if (except !== undefined) notify.except = except;
  sender.tell(ChatKind.CONNECTOR, uid, ConnectorOp.NOTIFY, notify);
  return p;
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
  const notify: ConnectorNotify = { frame: encodeFrame({ type: 'cleared', conv, seq: cleared }) };
  if (except !== undefined) notify.except = except;
  sender.tell(ChatKind.CONNECTOR, uid, ConnectorOp.NOTIFY, notify);
  return cleared;
}

/**
 * Hides messages of `conv` from `uid` ("delete for me": a device's `hide`, or the server API's for them) and returns
 * those hidden now; then their devices but `except`, the one that asked and gets the answer, are told to stop
 * showing them.
 */
export async function hideMessages(store: HiddenMessageStore, sender: ActorSender, uid: string, conv: string, seqs: readonly number[], except?: string): Promise<number[]> {
  const hidden = await store.hide(uid, conv, seqs);
  if (hidden.length === 0) return hidden;
  const notify: ConnectorNotify = { frame: encodeFrame({ type: 'hidden', conv, seqs: hidden }) };
  if (except !== undefined) notify.except = except;
  sender.tell(ChatKind.CONNECTOR, uid, ConnectorOp.NOTIFY, notify);
  return hidden;
}
