import type { ConvKind, Msg } from '../frames.js';
import type { ConversationInfo } from './conversation-info.js';

/** What the SDK keeps of one conversation: what the app sees of it, and its gap repair's state. */
export interface ChainState extends Omit<ConversationInfo, 'mutedUntil' | 'pinnedAt' | 'archivedAt'> {
  /** 0: not muted. */
  mutedUntil: number;
  /** 0: not pinned / not archived. */
  pinnedAt: number;
  archivedAt: number;
  /** The user was removed (`left`): not listed, but its chain is kept for a return. */
  left: boolean;
  /** When a live `joined` or `msg` made it known (epoch ms; 0: from a list). */
  liveSince: number;
  /** `unread` already counts the messages up to here (the lastSeq of the last `convs`). */
  unreadThrough: number;
  held: Map<number, Msg>;
  pulling: boolean;
  /** Something arrived during a pull that the running pull may not cover: pull once more. */
  pullAgain: boolean;
  pullRetryTimer: ReturnType<typeof setTimeout> | undefined;
  pullFailures: number;
}

/** A conversation first heard of, delivered up to `last`. */
export function newChainState(conv: string, kind: ConvKind, last: number): ChainState {
  return { conv, kind, lastSeq: last, last, readSeq: 0, unread: 0, mentions: 0, peerRead: 0, peerDelivered: 0, mutedUntil: 0, pinnedAt: 0, archivedAt: 0, left: false, liveSince: 0, unreadThrough: 0, held: new Map(), pulling: false, pullAgain: false, pullRetryTimer: undefined, pullFailures: 0 };
}

/** What the app sees of a conversation: optional fields only when set, a mute only while it lasts. */
export function infoOf(s: ChainState): ConversationInfo {
  const info: ConversationInfo = { conv: s.conv, kind: s.kind, lastSeq: s.lastSeq, last: s.last, readSeq: s.readSeq, unread: s.unread, mentions: s.mentions, peerRead: s.peerRead, peerDelivered: s.peerDelivered };
  if (s.title !== undefined) info.title = s.title;
  if (s.lastTs !== undefined) info.lastTs = s.lastTs;
  if (s.peerLastSeen !== undefined) info.peerLastSeen = s.peerLastSeen;
  if (s.mutedUntil > Date.now()) info.mutedUntil = s.mutedUntil;
  if (s.pinnedAt > 0) info.pinnedAt = s.pinnedAt;
  if (s.archivedAt > 0) info.archivedAt = s.archivedAt;
  return info;
}

/** The list's order: pinned first (the latest pin first), then the most recent message first; stable otherwise. */
export function listOrder(a: ConversationInfo, b: ConversationInfo): number {
  return (b.pinnedAt ?? 0) - (a.pinnedAt ?? 0) || (b.lastTs ?? 0) - (a.lastTs ?? 0);
}
