import { ChatKind, ConnectorOp, type ConnectorDeliver, type DeliveredReaction } from '../protocol/chat-ops.js';
import { encodeFrame } from '../protocol/codec.js';
import type { Msg } from '../protocol/frames.js';
import { conversationSubject } from '../protocol/subjects.js';
import type { ActorContext } from '../runtime/actor.js';
import type { BindGrace } from './bind-grace.js';
import type { ChatServices } from './chat-services.js';
import type { MemberMarks } from './member-marks.js';
import { namedInLarge, pushNoticeOf } from './push-event.js';

/** What a conversation's fan-out needs of its chatter, as it is at the moment of the message. */
export interface FanOutFrom {
  ctx: ActorContext;
  svc: ChatServices;
  /** The live member set: a replay after a NATS reconnect goes to whoever is a member then. */
  members: ReadonlySet<string>;
  marks: MemberMarks;
  large: boolean;
  binding: BindGrace;
}

/**
 * Hands a committed message to its members: a tell per member connector in a small conversation, one publish on the
 * conversation's subject in a large one (gateways deliver it to the sessions they bound), plus connectors of members
 * still binding. The frame is encoded once for every member, device and retransmission. The delivery is recorded to
 * be replayed after a NATS reconnect; the members a large group's message names are told for their push events; the
 * business server gets a `message` event.
 */
export function fanOut(c: FanOutFrom, msg: Msg, reaction?: DeliveredReaction): void {
  let deliver: () => void;
  const frame = encodeFrame({ type: 'msg', ...msg });
  const { members, ctx, marks } = c;
  const d: ConnectorDeliver = { ...pushNoticeOf(msg, reaction), frame };
  let dMuted: ConnectorDeliver | undefined;
  const tellEach = (uids: Iterable<string>): void => {
    const now = marks.anyMuted ? Date.now() : 0;
    for (const uid of uids) ctx.tell(ChatKind.CONNECTOR, uid, ConnectorOp.DELIVER, now > 0 && marks.mutedUntil(uid) > now ? (dMuted ??= { ...d, muted: true }) : d);
  };
  if (c.large) {
    const subject = conversationSubject(msg.conv);
    // Right after the threshold changed, the gateways are still re-binding their sessions: all members, as well.
    const unbound = c.svc.largeGroupsRebinding ? members : c.binding.still(members);
    deliver = unbound === undefined ? () => c.svc.publish(subject, frame) : () => (c.svc.publish(subject, frame), tellEach(unbound));
  } else {
    deliver = () => tellEach(members);
  }
  deliver();
  c.svc.recentFanout.record(deliver);
  if (c.large) for (const [uid, notice] of namedInLarge(msg, members, marks.mutedUntil, reaction)) ctx.tell(ChatKind.CONNECTOR, uid, ConnectorOp.PUSH, notice);
  c.svc.event({ type: 'message', ...msg });
}
