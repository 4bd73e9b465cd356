import { directPeer, isDirectConvId } from '../protocol/conv-id.js';
import type { ConvKind, ConvSummary } from '../protocol/frames.js';
import type { ConversationStore, UserConversation } from '../storage/conversation-store.js';

/** What a user's connector keeps of one of the user's conversations. */
export interface ConvState {
  kind: ConvKind;
  lastSeq: number;
  /** Highest seq pushed live to the devices: a delivery at or below it is a repeat (a replayed fan-out). */
  pushedSeq?: number;
  readSeq: number;
  unread: number;
  large: boolean;
  peer?: string;
  /** Highest seq a device of this user acknowledged: the user's delivery mark, as far as this connector knows. */
  deliveredSeq?: number;
}

/** The state of a conversation the connector of `uid` just heard of (joined, or a first delivery), with nothing read yet. */
export function newConvState(conv: string, kind: ConvKind, large: boolean, uid: string, lastSeq = 0): ConvState {
  const state: ConvState = { kind, lastSeq, readSeq: 0, unread: 0, large };
  const peer = kind === 'direct' ? directPeer(conv, uid) : undefined;
  if (peer !== undefined) state.peer = peer;
  return state;
}

/**
 * Replaces `convs` with a fresh list from Postgres and returns it as the devices see it. What a delivery already
 * told the connector about a newer seq is kept; conversations gone from the list are dropped. A peer's read mark
 * and last seen are left out across a block (`blocked`: whom the user blocks or is blocked by).
 */
export function refreshConvStates(convs: Map<string, ConvState>, list: UserConversation[], largeAbove: number, blocked: ReadonlySet<string> | undefined): ConvSummary[] {
  const seen = new Set<string>();
  const out: ConvSummary[] = [];
  const now = Date.now();
  for (const r of list) {
    seen.add(r.convId);
    const prev = convs.get(r.convId);
    const state: ConvState = { kind: r.kind, lastSeq: Math.max(r.lastSeq, prev?.lastSeq ?? 0), readSeq: r.readSeq, unread: r.unread, large: r.memberCount > largeAbove };
    if (prev?.pushedSeq !== undefined) state.pushedSeq = prev.pushedSeq;
    // The stored mark too: a connector woken again (or moved) would take any first ack as news, and tell the peer a
    // mark below the one it was told before.
    const delivered = Math.max(prev?.deliveredSeq ?? 0, r.deliveredSeq);
    if (delivered > 0) state.deliveredSeq = delivered;
    if (r.peer !== undefined) state.peer = r.peer;
    convs.set(r.convId, state);
    out.push(convSummaryOf(r, now, blocked, largeAbove));
  }
  for (const conv of [...convs.keys()]) if (!seen.has(conv)) convs.delete(conv);
  return out;
}

/**
 * One row of a user's list as devices (and the server API) see it: optional fields only when set, a mute only while
 * it lasts at `now`, and the peer's read and delivery marks and last seen left out across a block (`blocked`). The
 * user's own delivery mark goes to devices (`largeAbove` given) in conversations that keep one: not large groups.
 */
export function convSummaryOf(r: UserConversation, now: number, blocked?: ReadonlySet<string>, largeAbove?: number): ConvSummary {
  const row: ConvSummary = { conv: r.convId, kind: r.kind, lastSeq: r.lastSeq, readSeq: r.readSeq, unread: r.unread };
  // Seqs are not consecutive: a device new to the conversation finds its first unread message from here, not lastSeq − unread.
  if (r.unread > 0) row.seenSeq = r.seenSeq;
  if (largeAbove !== undefined && r.memberCount <= largeAbove) row.deliveredSeq = r.deliveredSeq;
  if (r.mentions !== undefined) row.mentions = r.mentions;
  if (r.title !== undefined) row.title = r.title;
  if (r.meta !== undefined) row.meta = r.meta;
  if (r.lastTs !== undefined) row.lastTs = r.lastTs;
  if (r.mutedUntil > now) row.mutedUntil = r.mutedUntil;
  if (r.silencedUntil > now) row.silencedUntil = r.silencedUntil;
  if (r.pins !== undefined) row.pins = r.pins;
  if (r.pinnedAt > 0) row.pinnedAt = r.pinnedAt;
  if (r.archivedAt > 0) row.archivedAt = r.archivedAt;
  if (r.markedUnreadAt > 0) row.markedUnreadAt = r.markedUnreadAt;
  if (r.clearedSeq > 0) row.clearedSeq = r.clearedSeq;
  if (r.hiddenAt !== undefined) row.hiddenAt = r.hiddenAt;
  if (r.adminsPost) row.posting = 'admins';
  if (r.retentionSec !== undefined) row.retention = r.retentionSec;
  if (r.slowModeSec !== undefined) row.slowMode = r.slowModeSec;
  if (!(r.peer !== undefined && blocked?.has(r.peer))) {
    if (r.peerRead !== undefined) row.peerRead = r.peerRead;
    if (r.peerDelivered !== undefined) row.peerDelivered = r.peerDelivered;
    if (r.peerLastSeen !== undefined) row.peerLastSeen = r.peerLastSeen;
  }
  return row;
}

/**
 * The other member of direct conversation `conv` of `uid`: from the list, from the id, or (a hashed id) from
 * Postgres; remembered in `c`. Undefined for a group, or when that read fails: a receipt is ephemeral, and the
 * read mark it follows is stored already.
 */
export async function directPeerOf(store: ConversationStore, uid: string, conv: string, c: ConvState | undefined): Promise<string | undefined> {
  if (!isDirectConvId(conv)) return undefined;
  let peer = c?.peer ?? directPeer(conv, uid);
  if (peer === undefined) {
    const members = await store.members(conv).catch(() => []);
    peer = members.find((m) => m.uid !== uid)?.uid;
  }
  if (c && peer !== undefined) c.peer = peer;
  return peer;
}
