import { ChatKind, ConnectorOp, type ConnectorNotify } from '../protocol/chat-ops.js';
import { encodeFrame } from '../protocol/codec.js';
import type { ServerFrame } from '../protocol/frames.js';
import type { ActorSender } from '../runtime/actor-host.js';

/**
 * Has each of `uids`' connectors (they know where the devices are) pass `frame`, encoded once, to all the user's
 * devices but `except`.
 */
export function tellDevices(sender: Pick<ActorSender, 'tell'>, uids: readonly string[], frame: ServerFrame, except?: string): void {
  if (uids.length === 0) return;
  const notify: ConnectorNotify = { frame: encodeFrame(frame) };
  if (except !== undefined) notify.except = except;
  for (const uid of uids) sender.tell(ChatKind.CONNECTOR, uid, ConnectorOp.NOTIFY, notify);
}
