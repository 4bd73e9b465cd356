import type { ConnectorDeliver, PushEvent } from '../protocol/chat-ops.js';
import type { ChatServices } from './chat-services.js';
import { checkDeliver } from './op-checks.js';

/**
 * A message reached a user with no device online: the app's push service hears of it (not of one's own, nor of
 * amendments but a reaction to the user's own message), whether the user muted the conversation and whether the
 * message mentions them.
 */
export function pushEvent(svc: ChatServices, uid: string, d: ConnectorDeliver): void {
  if (d.from === uid || (d.quiet === true && d.reaction?.author !== uid)) return;
  const e: PushEvent = { type: 'push', uid, conv: d.conv, seq: d.seq, from: d.from };
  if (d.reaction !== undefined) e.reaction = { seq: d.reaction.target, emoji: d.reaction.emoji };
  if (d.muted === true) e.muted = true;
  if (d.mentions?.includes(uid) === true) e.mentioned = true;
  svc.event(e);
}

/** `pushEvent` for a delivery to a sleeping connector, whose payload no mailbox has checked yet. */
export function pushEventOf(svc: ChatServices, uid: string, payload: unknown): void {
  let d: ConnectorDeliver;
  try {
    d = checkDeliver(payload);
  } catch {
    return; // not a delivery anyone could have sent: nothing to tell
  }
  pushEvent(svc, uid, d);
}
