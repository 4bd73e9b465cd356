import type { ConvKind, ConvSummary, JoinedFrame, Msg, Pin } from '../frames.js';
import type { ConversationInfo } from './conversation-info.js';
import { applyCount, resetCount } from './unread-count.js';

/** What the SDK keeps of one conversation: what the app sees of it, and its gap repair's state. */
export interface ChainState extends Omit<ConversationInfo, 'mutedUntil' | 'silencedUntil' | 'pinnedAt' | 'archivedAt' | 'markedUnreadAt' | 'clearedSeq'> {
  /** 0: not muted / not silenced. */
  mutedUntil: number;
  silencedUntil: number;
  /** 0: not pinned / not archived / not marked unread. */
  pinnedAt: number;
  archivedAt: number;
  markedUnreadAt: number;
  /** 0: never cleared. */
  clearedSeq: number;
  /** The user was removed (`left`): not listed, but its chain is kept for a return. */
  left: boolean;
  /** When it was left (epoch ms; 0: never): a list read just before can arrive after the news. */
  leftAt: number;
  /** When a live `joined` or `msg` made it known (epoch ms; 0: from a list). */
  liveSince: number;
  /** When a frame of its own last set each field (epoch ms): a list read just before can arrive after the news. */
  liveAt?: Partial<Record<ChainField, number>>;
  /** The highest seq this device put in an ack: a list whose `deliveredSeq` is lower shows that ack was lost. */
  ackedSeq: number;
  /** `unread` already counts the messages up to here (the lastSeq of the last `convs`). */
  unreadThrough: number;
  /** See unread-count.ts: where the last exact count stands, and what was counted live since. */
  countedThrough: number;
  liveUnread?: number[];
  liveMentions?: number[];
  held: Map<number, Msg>;
  pulling: boolean;
  /** Something arrived during a pull that the running pull may not cover: pull once more. */
  pullAgain: boolean;
  pullRetryTimer: ReturnType<typeof setTimeout> | undefined;
  pullFailures: number;
}

/** What frames of their own set on a known conversation (ConversationChain.handleFields). */
export type ChainField = 'mutedUntil' | 'silencedUntil' | 'pinnedAt' | 'archivedAt' | 'markedUnreadAt' | 'pins' | 'title' | 'meta' | 'posting' | 'retention' | 'slowMode';

/** A conversation first heard of, delivered up to `last`. */
export function newChainState(conv: string, kind: ConvKind, last: number): ChainState {
  return { conv, kind, lastSeq: last, last, readSeq: 0, ackedSeq: 0, unread: 0, mentions: 0, peerRead: 0, peerDelivered: 0, mutedUntil: 0, silencedUntil: 0, pinnedAt: 0, archivedAt: 0, markedUnreadAt: 0, clearedSeq: 0, left: false, leftAt: 0, liveSince: 0, unreadThrough: 0, countedThrough: 0, held: new Map(), pulling: false, pullAgain: false, pullRetryTimer: undefined, pullFailures: 0 };
}

/**
 * The user is in a conversation again that they had left: its chain goes on from `baseline`, where one new to the
 * device would start (with history from now, the join point or the unread messages), unless it already reaches past
 * it. What was sent while the user was out is not news, and what was delivered before is not delivered twice.
 */
export function rejoin(s: ChainState, baseline: number): void {
  s.left = false;
  if (baseline <= s.last) return;
  s.held.clear();
  s.last = baseline;
  s.lastSeq = Math.max(s.lastSeq, baseline);
  // What was unread before the user left lies before the baseline: history now, as the server counts it. A list row
  // that follows brings its own count.
  s.unreadThrough = Math.max(s.unreadThrough, baseline);
  resetCount(s, s.unreadThrough);
}

/**
 * Sets what a `joined` frame carries. `news`: the conversation is new to the device (or it had left), and what the
 * frame leaves out it has none of; a repeat for a conversation in the list changes only what it carries (their own
 * frames tell changes).
 */
export function applyJoined(s: ChainState, j: Omit<JoinedFrame, 'type'>, news: boolean): void {
  s.kind = j.kind;
  if (j.title !== undefined) s.title = j.title;
  if (news || j.meta !== undefined) s.meta = j.meta;
  if (news || j.posting !== undefined) s.posting = j.posting;
  if (news || j.retention !== undefined) s.retention = j.retention;
  if (news || j.slowMode !== undefined) s.slowMode = j.slowMode;
  if (news || j.pins !== undefined) s.pins = copyOf(j.pins);
  s.lastSeq = Math.max(s.lastSeq, j.lastSeq);
}

/** Whether the chain has something to pull: messages held past a gap, or a known last seq beyond what it holds. */
export function isBehind(s: ChainState): boolean {
  return s.held.size > 0 || s.lastSeq > s.last;
}

/**
 * Takes what a `convs` row says of a conversation the device knows (marks never move back); clears are the chain's.
 * A field a frame of its own set after `liveAfter` (epoch ms) keeps that value: the list may have been read before it.
 */
export function applyListRow(s: ChainState, row: ConvSummary, liveAfter = Infinity): void {
  const listed = (f: ChainField): boolean => (s.liveAt?.[f] ?? 0) <= liveAfter;
  s.kind = row.kind;
  s.left = false;
  if (listed('title')) s.title = row.title;
  if (listed('meta')) s.meta = row.meta;
  if (listed('posting')) s.posting = row.posting;
  if (listed('retention')) s.retention = row.retention;
  if (listed('slowMode')) s.slowMode = row.slowMode;
  s.lastSeq = Math.max(s.lastSeq, row.lastSeq);
  if (row.lastTs !== undefined) s.lastTs = Math.max(s.lastTs ?? 0, row.lastTs);
  s.readSeq = Math.max(s.readSeq, row.readSeq);
  // A list read on the server before messages this device has counted live since (a sync's answer overtaken by
  // deliveries) carries an older count: what was counted live after it is added (applyCount).
  applyCount(s, { unread: row.unread, lastSeq: row.lastSeq, mentions: row.mentions ?? 0 });
  s.peerRead = Math.max(s.peerRead, row.peerRead ?? 0);
  s.peerDelivered = Math.max(s.peerDelivered, row.peerDelivered ?? 0, s.peerRead);
  // Absent from a list: hidden now (last seen off on either side, or a block), so not shown from before either.
  s.peerLastSeen = row.peerLastSeen === undefined ? undefined : Math.max(s.peerLastSeen ?? 0, row.peerLastSeen);
  if (listed('mutedUntil')) s.mutedUntil = row.mutedUntil ?? 0;
  if (listed('silencedUntil')) s.silencedUntil = row.silencedUntil ?? 0;
  if (listed('pins')) s.pins = copyOf(row.pins);
  if (listed('pinnedAt')) s.pinnedAt = row.pinnedAt ?? 0;
  if (listed('archivedAt')) s.archivedAt = row.archivedAt ?? 0;
  if (listed('markedUnreadAt')) s.markedUnreadAt = row.markedUnreadAt ?? 0;
}

/** What the app sees of a conversation: optional fields only when set, a mute or silence only while it lasts. */
export function infoOf(s: ChainState): ConversationInfo {
  const info: ConversationInfo = { conv: s.conv, kind: s.kind, lastSeq: s.lastSeq, last: s.last, readSeq: s.readSeq, unread: s.unread, mentions: s.mentions, peerRead: s.peerRead, peerDelivered: s.peerDelivered };
  if (s.title !== undefined) info.title = s.title;
  if (s.meta !== undefined) info.meta = s.meta;
  if (s.posting !== undefined) info.posting = s.posting;
  if (s.retention !== undefined) info.retention = s.retention;
  if (s.slowMode !== undefined) info.slowMode = s.slowMode;
  if (s.lastTs !== undefined) info.lastTs = s.lastTs;
  if (s.peerLastSeen !== undefined) info.peerLastSeen = s.peerLastSeen;
  const now = Date.now();
  if (s.mutedUntil > now) info.mutedUntil = s.mutedUntil;
  if (s.silencedUntil > now) info.silencedUntil = s.silencedUntil;
  if (s.pinnedAt > 0) info.pinnedAt = s.pinnedAt;
  if (s.archivedAt > 0) info.archivedAt = s.archivedAt;
  if (s.markedUnreadAt > 0) info.markedUnreadAt = s.markedUnreadAt;
  if (s.clearedSeq > 0) info.clearedSeq = s.clearedSeq;
  if (s.hiddenAt !== undefined) info.hiddenAt = s.hiddenAt;
  if (s.pins !== undefined && s.pins.length > 0) info.pins = copyOf(s.pins);
  return info;
}

/** The list's order: pinned first (the latest pin first), then the most recent message first; stable otherwise. */
export function listOrder(a: ConversationInfo, b: ConversationInfo): number {
  return (b.pinnedAt ?? 0) - (a.pinnedAt ?? 0) || (b.lastTs ?? 0) - (a.lastTs ?? 0);
}

/**
 * Where a conversation new to this device starts when it takes only unread messages: after `seenSeq`. Seqs are not
 * consecutive (and recalls, edits and reactions do not count as unread), so `lastSeq − unread`, all a server without
 * `seenSeq` gives, lands too late and skips unread messages; it stays only for such a server.
 */
export function unreadFrom(row: ConvSummary): number {
  return Math.max(0, row.readSeq, row.unread === 0 ? row.lastSeq : (row.seenSeq ?? row.lastSeq - row.unread));
}

/** Pins as the SDK keeps or hands them out: its own copy, so that an app sorting what it got reorders nothing here. */
export function copyOf(pins: readonly Pin[] | undefined): Pin[] | undefined {
  return pins?.map((p) => ({ ...p }));
}
