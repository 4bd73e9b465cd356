import { ChatKind, ConnectorOp, CONV_MEMBERS_LEFT, type ConnectorJoined, type ConnectorLeft, type ConvMembersLeft } from '../protocol/chat-ops.js';
import { encode } from '../protocol/codec.js';
import { conversationSubject } from '../protocol/subjects.js';
import type { ConvKind, Pin } from '../protocol/frames.js';
import type { ActorContext } from '../runtime/actor.js';
import type { AddedMember } from '../storage/conversation-store.js';
import type { BindGrace } from './bind-grace.js';
import type { ChatServices } from './chat-services.js';

/**
 * Uids one `members` event names at most: 3,000 ids of 128 bytes, each escaped at worst to twice that in JSON, stay
 * under NATS' 1 MB max_payload; a dissolve or an add of 10,000 long ids in one event would be lost whole.
 */
export const MEMBERS_EVENT_UIDS = 3_000;

/** A conversation as its chatter holds it right after a membership change. */
export interface AnnouncedConv {
  kind: ConvKind;
  title: string | undefined;
  meta: string | undefined;
  /** Only owners and admins may post. */
  adminsPost: boolean;
  /** Its own retention, seconds (0: none). */
  retention: number;
  /** Its slow mode, seconds (0: off). */
  slowMode: number;
  /** Its pinned messages, for newcomers (absent: none). */
  pins?: Pin[];
  lastSeq: number;
  members: ReadonlySet<string>;
  /** Whether `uid` is a member now (a replay runs later, maybe after the chatter read its members again). */
  isMember: (uid: string) => boolean;
  large: boolean;
  wasLarge: boolean;
  binding: BindGrace;
}

/**
 * Tells the connectors of members who joined or left. Crossing the large threshold changes how every member is
 * delivered to, not only the newcomers: then all are told. Members told to bind get messages through their
 * connectors too for a while (LARGE_BIND_GRACE_MS). The business server hears of every change (`by`: the member
 * who left of their own accord).
 */
export function announceMembers(ctx: ActorContext, svc: ChatServices, c: AnnouncedConv, newcomers: readonly AddedMember[], removed: string[], by?: string): void {
  const conv = ctx.key;
  const added = newcomers.map((a) => a.uid);
  tellBusinessServer(svc, conv, added, removed, by);
  // Grown large, the members take its subject from their connectors, maybe after the bind grace (a busy mailbox): the
  // gateway catches each session up past the last message before it grew, as a newcomer's past its welcome.
  const joined: ConnectorJoined = { conv, kind: c.kind, large: c.large, ...(c.large && !c.wasLarge ? { lastSeq: c.lastSeq } : {}) };
  // The newcomers' devices are told they joined, and from which message on it is news to them.
  const welcome: ConnectorJoined = { ...joined, added: true, lastSeq: c.lastSeq, ...(c.title !== undefined ? { title: c.title } : {}), ...(c.meta !== undefined ? { meta: c.meta } : {}), ...(c.adminsPost ? { posting: 'admins' as const } : {}), ...(c.retention > 0 ? { retention: c.retention } : {}), ...(c.slowMode > 0 ? { slowMode: c.slowMode } : {}), ...(c.pins ? { pins: c.pins } : {}) };
  // What a newcomer's history is cleared up to is theirs (a rejoin keeps their clear; a `joined` group's rule clears up to now).
  const cleared = new Map(newcomers.map((a) => [a.uid, a.clearedSeq]));
  const told = c.large === c.wasLarge ? added : [...c.members];
  const now = Date.now();
  for (const u of told) {
    const clearedSeq = cleared.get(u);
    ctx.tell(ChatKind.CONNECTOR, u, ConnectorOp.JOINED, clearedSeq === undefined ? joined : clearedSeq > 0 ? { ...welcome, clearedSeq } : welcome);
    if (c.large) c.binding.start(u, now);
  }
  if (removed.length === 0) return;
  const left: ConnectorLeft = { conv };
  const tellLeft = (uids: readonly string[]): void => {
    // On the subject first, in order with the messages that follow: the gateways drop the removed members' sessions
    // from it before any of them (the connectors' unbinds come later, through a busy mailbox maybe).
    if (c.large || c.wasLarge) {
      for (let i = 0; i < uids.length; i += MEMBERS_EVENT_UIDS) {
        svc.publish(conversationSubject(conv), encode({ type: CONV_MEMBERS_LEFT, uids: uids.slice(i, i + MEMBERS_EVENT_UIDS) } satisfies ConvMembersLeft));
      }
    }
    for (const u of uids) ctx.tell(ChatKind.CONNECTOR, u, ConnectorOp.LEFT, left);
  };
  for (const u of removed) c.binding.end(u);
  tellLeft(removed);
  // Fire-and-forget, as a message's fan-out: lost in the socket of a NATS connection that dropped, a removed member's
  // sessions on other gateways would stay bound to a large group's subject and get what a replay of its messages
  // brings, and what follows. Replayed with those messages, to those still out.
  svc.recentFanout.record({
    redo: () => {
      const out = removed.filter((u) => !c.isMember(u));
      if (out.length > 0) tellLeft(out);
    },
  });
}

/** The `members` business event of one change, in pieces of at most MEMBERS_EVENT_UIDS uids (removals after adds). */
function tellBusinessServer(svc: ChatServices, conv: string, added: string[], removed: string[], by: string | undefined): void {
  const ts = Date.now();
  const extra = by !== undefined ? { by } : {};
  for (let i = 0; i < added.length + removed.length; i += MEMBERS_EVENT_UIDS) {
    const a = added.slice(i, i + MEMBERS_EVENT_UIDS);
    const r = removed.slice(Math.max(0, i - added.length), Math.max(0, i + MEMBERS_EVENT_UIDS - added.length));
    svc.event({ type: 'members', conv, added: a, removed: r, ...extra, ts });
  }
}
