import type { DeliveredReaction, PushEvent, PushNotice } from '../protocol/chat-ops.js';
import type { Msg } from '../protocol/frames.js';
import type { ChatServices } from './chat-services.js';
import { checkDeliver } from './op-checks.js';

/**
 * A message reached a user with no device online: the app's push service hears of it (not of one's own, nor of
 * amendments but a reaction to the user's own message), whether the user muted the conversation and whether the
 * message mentions them (or replies to theirs).
 */
export function pushEvent(svc: ChatServices, uid: string, d: PushNotice): void {
  if (d.from === uid || (d.quiet === true && d.reaction?.author !== uid)) return;
  const e: PushEvent = { type: 'push', uid, conv: d.conv, seq: d.seq, from: d.from };
  if (d.reaction !== undefined) e.reaction = { seq: d.reaction.target, emoji: d.reaction.emoji };
  if (d.muted === true) e.muted = true;
  if (d.mentionAll === true || d.mentions?.includes(uid) === true || d.replyFrom === uid) e.mentioned = true;
  svc.event(e);
}

/** `pushEvent` for a delivery (or a push notice) to a sleeping connector, whose payload no mailbox has checked yet. */
export function pushEventOf(svc: ChatServices, uid: string, payload: unknown, check: (p: unknown) => PushNotice = checkDeliver): void {
  let d: PushNotice;
  try {
    d = check(payload);
  } catch {
    return; // not a delivery anyone could have sent: nothing to tell
  }
  pushEvent(svc, uid, d);
}

/**
 * What a committed message tells a member's connector for a push event: the delivery's fields but its frame, or a
 * large group's notice. A recall, an edit or a reaction is `quiet`: news to a device online, no reason to notify
 * one offline (but the author of a message reacted to, named by `reaction`).
 */
export function pushNoticeOf(msg: Msg, reaction?: DeliveredReaction): PushNotice {
  const n: PushNotice = { conv: msg.conv, seq: msg.seq, from: msg.from, did: msg.did };
  if (msg.recall !== undefined || msg.edit !== undefined || msg.react !== undefined) n.quiet = true;
  if (msg.mentions !== undefined) n.mentions = msg.mentions;
  if (msg.replyFrom !== undefined) n.replyFrom = msg.replyFrom;
  if (msg.mentionAll) n.mentionAll = true;
  if (reaction !== undefined) n.reaction = reaction;
  return n;
}

const NOBODY: readonly [string, PushNotice][] = [];

/**
 * The members a large group's message names, each with the notice for their push event: members of large groups
 * are not told of messages one by one, but those mentioned or replied to, or whose message got a reaction, should
 * still hear.
 */
export function namedInLarge(msg: Msg, members: ReadonlySet<string>, mutedUntil: (uid: string) => number, reaction?: DeliveredReaction): readonly [string, PushNotice][] {
  const named = reaction !== undefined ? [reaction.author] : msg.mentionAll ? [...members] : msg.replyFrom === undefined ? msg.mentions : [...new Set([...(msg.mentions ?? []), msg.replyFrom])];
  if (named === undefined) return NOBODY; // most messages: nothing allocated per message
  const notice = pushNoticeOf(msg, reaction);
  const now = Date.now();
  return named.filter((uid) => uid !== msg.from && members.has(uid)).map((uid) => [uid, mutedUntil(uid) > now ? { ...notice, muted: true } : notice]);
}
