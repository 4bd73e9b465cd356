import { ChatKind, ConnectorOp, type ConnectorDeliver, type DeliveredReaction } from '../protocol/chat-ops.js';
import { encodeFrame } from '../protocol/codec.js';
import type { Msg } from '../protocol/frames.js';
import { conversationSubject } from '../protocol/subjects.js';
import type { ActorContext } from '../runtime/actor.js';
import type { BindGrace } from './bind-grace.js';
import type { ChatServices } from './chat-services.js';
import type { MemberMarks } from './member-marks.js';
import { namedInLarge, pushNoticeOf } from './push-event.js';

/** What a conversation's fan-out needs of its chatter, read again at each delivery (a replay's too). */
export interface FanOutFrom {
  ctx: ActorContext;
  svc: ChatServices;
  /** The members now: a replay after a NATS reconnect goes to whoever is a member then (a reload or a dissolve replaces the set). */
  members: ReadonlySet<string>;
  marks: MemberMarks;
  large: boolean;
  binding: BindGrace;
}

/**
 * One committed message's delivery to its members, kept by RecentFanout to be made again after a NATS reconnect.
 * An object rather than closures: the record holds the node's last seconds of them, each long enough to be
 * promoted out of the young generation, and one object is smaller than two closures, their context and the names
 * tsx gives them (what fanOut left promoted halved, measured at 5,000 msgs/s).
 */
class Delivery {
  /** The delivery for members who muted the conversation, made on first need. */
  private mutedCopy: ConnectorDeliver | undefined;
  private quietCopy: ConnectorDeliver | undefined;
  private textlessCopy: ConnectorDeliver | undefined;

  constructor(
    /** Its chatter as it is at each delivery: a replay goes to whoever is a member then (a reload replaces the set). */
    private readonly c: FanOutFrom,
    private readonly frame: Uint8Array,
    private readonly d: ConnectorDeliver,
    /** A large group's subject, published on once for every bound session; undefined for a small conversation. */
    private readonly subject: string | undefined,
    /** With `subject`: members whose connectors are told as well (still binding); undefined: none. */
    private readonly unbound: Iterable<string> | undefined,
    /** An edit, to tell without its text to members whose history starts past its message; undefined for the rest. */
    private readonly edit: Msg | undefined,
  ) {}

  /** Delivers it. */
  send(): void {
    this.deliver(false);
  }

  /**
   * Delivers it again (RecentFanout, after a NATS reconnect), to the members now: not to a newcomer whose history
   * starts past it (a large group's gateways hold it back from such a newcomer's sessions: GatewayBind.after).
   */
  redo(): void {
    this.deliver(true);
  }

  private deliver(again: boolean): void {
    if (this.subject === undefined) return this.tellEach(this.c.members, again);
    this.c.svc.publish(this.subject, this.frame);
    if (this.unbound === undefined) return;
    // A large group's push events come from the notices to the members a message names (namedInLarge) alone: these
    // copies, for sessions still binding (every member, for 10 s after the threshold changed), raise none, or each
    // offline member would be notified of every message meanwhile.
    const { reaction: _reaction, ...d } = this.d;
    const hidden = this.hiddenNow(again);
    for (const uid of this.unbound) if (hidden === 0 || !this.c.marks.hides(uid, d.seq, hidden)) this.c.ctx.tell(ChatKind.CONNECTOR, uid, ConnectorOp.DELIVER, this.textless(uid) ?? (this.quietCopy ??= { ...d, quiet: true }));
  }

  /**
   * For an edit of a message from before the history of `uid` (a newcomer to a group that shows only what follows the
   * join): the edit without its text, as their history pages serve it. Undefined otherwise.
   */
  private textless(uid: string): ConnectorDeliver | undefined {
    const e = this.edit;
    if (e === undefined || !this.c.marks.beforeHistoryOf(uid, e.edit!)) return undefined;
    return (this.textlessCopy ??= { ...this.d, quiet: true, frame: encodeFrame({ type: 'msg', ...e, body: '' }) });
  }

  /** The clock to check newcomers against (see MemberMarks.hides), or 0 when none is to be left out. */
  private hiddenNow(again: boolean): number {
    return again && this.c.marks.anyNewcomers ? Date.now() : 0;
  }

  private tellEach(uids: Iterable<string>, again: boolean): void {
    const { ctx, marks } = this.c;
    const d = this.d;
    const now = marks.anyMuted ? Date.now() : 0;
    const hidden = this.hiddenNow(again);
    for (const uid of uids) if (hidden === 0 || !marks.hides(uid, d.seq, hidden)) ctx.tell(ChatKind.CONNECTOR, uid, ConnectorOp.DELIVER, this.textless(uid) ?? (now > 0 && marks.mutedUntil(uid) > now ? (this.mutedCopy ??= { ...d, muted: true }) : d));
  }
}

/**
 * Hands a committed message to its members: a tell per member connector in a small conversation, one publish on the
 * conversation's subject in a large one (gateways deliver it to the sessions they bound), plus connectors of members
 * still binding. The frame is encoded once for every member, device and retransmission. The delivery is recorded to
 * be replayed after a NATS reconnect; the members a large group's message names are told for their push events; the
 * business server gets a `message` event.
 */
export function fanOut(c: FanOutFrom, msg: Msg, reaction?: DeliveredReaction): void {
  const frame = encodeFrame({ type: 'msg', ...msg });
  const { members, ctx, marks } = c;
  const d: ConnectorDeliver = { ...pushNoticeOf(msg, reaction), frame };
  // Right after the threshold changed, the gateways are still re-binding their sessions: all members, as well.
  const unbound = c.large ? (c.svc.largeGroupsRebinding ? members : c.binding.still(members)) : undefined;
  const delivery = new Delivery(c, frame, d, c.large ? conversationSubject(msg.conv) : undefined, unbound, msg.edit !== undefined ? msg : undefined);
  delivery.send();
  c.svc.recentFanout.record(delivery);
  if (c.large) for (const [uid, notice] of namedInLarge(msg, members, marks.mutedUntil, reaction)) ctx.tell(ChatKind.CONNECTOR, uid, ConnectorOp.PUSH, notice);
  c.svc.event({ type: 'message', ...msg });
}
