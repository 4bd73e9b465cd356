import { ChatKind, ConnectorOp, type ConnectorNotify } from '../protocol/chat-ops.js';
import { encodeFrame } from '../protocol/codec.js';
import type { ActorSender } from '../runtime/actor-host.js';
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
