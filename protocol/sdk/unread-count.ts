import type { Msg } from '../frames.js';
import type { ChainState } from './chain-state.js';

/**
 * Seqs counted live past an exact count that a device keeps, per conversation, to add to a count read before them;
 * past this the oldest go, and a count older than what they covered is taken as stale.
 */
export const MAX_LIVE_COUNTED = 1_024;

/** An exact count from the server: unread messages (and those naming the user) after the read mark, through `lastSeq`. */
export interface UnreadCount {
  unread: number;
  lastSeq: number;
  mentions?: number;
}

/**
 * Takes the server's count, exact through its `lastSeq`. One that counts at least what this device has (its
 * `unreadThrough`) replaces ours, which cannot tell how many of its unread a mark passed or a hide took out. One read
 * before messages this device counted live since (a read's echo or a list overtaken by a large group's news, which
 * comes another way) is that count plus those of them past it and past the read mark. False when it is older than the
 * last count, own message or read to the end this device took: nothing to add it to.
 */
export function applyCount(s: ChainState, count: UnreadCount): boolean {
  // First: a read to the end may have passed messages held behind a gap, which `unreadThrough` does not count yet.
  if (count.lastSeq < s.countedThrough) return false;
  const mentions = count.mentions ?? (count.unread === 0 ? 0 : undefined);
  if (count.lastSeq >= s.unreadThrough) {
    s.unread = count.unread;
    if (mentions !== undefined) s.mentions = mentions;
    s.unreadThrough = count.lastSeq;
    resetLive(s, count.lastSeq);
    return true;
  }
  s.unread = count.unread + countedAfter(s.liveUnread, count.lastSeq, s.readSeq);
  if (mentions !== undefined) s.mentions = mentions + countedAfter(s.liveMentions, count.lastSeq, s.readSeq);
  s.countedThrough = count.lastSeq;
  s.liveUnread = keptAfter(s.liveUnread, count.lastSeq);
  s.liveMentions = keptAfter(s.liveMentions, count.lastSeq);
  return true;
}

/** Nothing is unread through `seq` (an own message, a read to the end, a rejoin's baseline). */
export function resetCount(s: ChainState, seq: number): void {
  s.unread = s.mentions = 0;
  resetLive(s, seq);
}

/**
 * Counts a message the chain delivers, past what the last list counted: an own message means what came before it
 * was seen (the server counts the same way, from the later of the read mark and the user's last own message);
 * others' messages add one, but not their recalls, edits and reactions (`plain` false), which change a message
 * already counted.
 */
export function countDelivered(s: ChainState, msg: Msg, plain: boolean, uid: string | undefined): void {
  if (msg.seq > s.unreadThrough) {
    if (msg.from === uid) resetCount(s, msg.seq);
    else if (msg.seq > s.readSeq && plain) {
      s.unread++;
      s.liveUnread = counted(s, s.liveUnread, msg.seq);
      if (uid !== undefined && (msg.mentionAll === true || msg.mentions?.includes(uid) === true || msg.replyFrom === uid)) {
        s.mentions++;
        s.liveMentions = counted(s, s.liveMentions, msg.seq);
      }
    }
  }
  s.unreadThrough = Math.max(s.unreadThrough, msg.seq);
}

/**
 * A recall (`recall`, the message that recalls `target`) takes the mention of its target off, as the server counts,
 * when this device counted that mention live. One an exact count from the server took in (through `countedThrough`)
 * stays counted until the next count (a read or a list): asking for it here would cost every member a request per
 * recall, and a read takes a mark as unread off. A recall the last count covered is in it already.
 */
export function uncountMention(s: ChainState, recall: number, target: number): void {
  if (recall <= s.unreadThrough) return;
  const i = s.liveMentions?.indexOf(target) ?? -1;
  if (i < 0) return;
  s.liveMentions!.splice(i, 1);
  if (s.liveMentions!.length === 0) s.liveMentions = undefined;
  s.mentions = Math.max(0, s.mentions - 1);
}

/**
 * History cleared or expired through `seq` is no longer unread (the server counts past the later of the read mark, the
 * clear and the retention). This device's count is the server's last one, through `countedThrough`, plus the messages
 * it counted live since: a clear at or past `countedThrough` leaves those live ones above it, exactly. One below it
 * cuts into the server's part, which only the next count (a read or a list) knows: left as it is until then.
 */
export function countCleared(s: ChainState, seq: number): void {
  if (seq <= s.readSeq || seq < s.countedThrough) return;
  const above = (seqs: number[] | undefined): number => (seqs ?? []).filter((q) => q > seq).length;
  s.unread = above(s.liveUnread);
  s.mentions = above(s.liveMentions);
  // The live seqs above it stay, now counted from there.
  s.countedThrough = Math.max(s.countedThrough, seq);
  s.liveUnread = keptAfter(s.liveUnread, seq);
  s.liveMentions = keptAfter(s.liveMentions, seq);
}

function resetLive(s: ChainState, seq: number): void {
  s.countedThrough = Math.max(s.countedThrough, seq);
  s.liveUnread = s.liveMentions = undefined;
}

/** `seqs` with `seq` added; past MAX_LIVE_COUNTED the oldest goes, and counts older than it are stale from then on. */
function counted(s: ChainState, seqs: number[] | undefined, seq: number): number[] {
  const out = seqs ?? [];
  out.push(seq);
  if (out.length > MAX_LIVE_COUNTED) {
    s.countedThrough = Math.max(s.countedThrough, out.shift()!);
    s.liveMentions = keptAfter(s.liveMentions, s.countedThrough);
  }
  return out;
}

function countedAfter(seqs: readonly number[] | undefined, lastSeq: number, readSeq: number): number {
  let n = 0;
  for (const q of seqs ?? []) if (q > lastSeq && q > readSeq) n++;
  return n;
}

function keptAfter(seqs: number[] | undefined, seq: number): number[] | undefined {
  const kept = seqs?.filter((q) => q > seq);
  return kept === undefined || kept.length === 0 ? undefined : kept;
}
