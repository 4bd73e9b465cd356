import { ErrorCode, ImError } from '../protocol/errors.js';
import { DEFAULT_EDIT_WINDOW_SEC, DEFAULT_RECALL_WINDOW_SEC } from '../protocol/limits.js';
import type { NewMessage, StoredMessage } from '../storage/message-store.js';
import type { ChatServices } from './chat-services.js';

/**
 * Messages that name an earlier one of their conversation: amendments and replies (`repliedTo`).
 *
 * A message that changes an earlier one of its conversation: a recall (empties it), an edit (gives it a new body)
 * or a reaction (its sender's, to it). Each is a message of its own, in the chain like any other; Postgres applies
 * a recall's or an edit's effect, and counts a reaction, in the statement that stores it (storage/shard-batch-append.ts).
 */
export interface Amendment {
  kind: 'recall' | 'edit' | 'react';
  /** The seq it changes. */
  target: number;
  /** A reaction's: who sent the message it reacts to (set by `checkAmendment`; none for a system message). */
  author?: string;
  /** A reaction's: the one of its sender's it replaces (set by the chatter; none: they had none). */
  was?: string;
}

/** The amendment a send or system message carries, if any. */
export function amendmentOf(p: { recall?: number; edit?: number; react?: number }): Amendment | undefined {
  if (p.recall !== undefined) return { kind: 'recall', target: p.recall };
  if (p.edit !== undefined) return { kind: 'edit', target: p.edit };
  if (p.react !== undefined) return { kind: 'react', target: p.react };
  return undefined;
}

/** Marks a row to be stored as the amendment `a`. */
export function markRow(row: NewMessage, a: Amendment): void {
  if (a.kind === 'recall') row.recalls = a.target;
  else if (a.kind === 'edit') row.edits = a.target;
  else {
    row.reacts = a.target;
    if (a.was !== undefined) row.reactWas = a.was;
  }
}

/**
 * Message `target` of `conv`, which a new message names: it must exist, be no recall, edit or reaction itself
 * (`not_found`, `invalid_field`) and not be recalled (`conflict`). With `reader`, it must be served to them too
 * (`not_found` for what they cleared, or what came before they joined a group that shows newcomers only what follows).
 */
export async function readTarget(svc: ChatServices, conv: string, target: number, reader?: string): Promise<StoredMessage> {
  let [m] = await svc.messages.readAfter(conv, target - 1, 1, reader);
  // What the reader hid is served to them as a stub, which says nothing of a recall since: the row itself does.
  if (m?.seq === target && m.hidden === true) [m] = await svc.messages.readAfter(conv, target - 1, 1);
  if (m === undefined || m.seq !== target) throw new ImError(ErrorCode.NOT_FOUND, `no message ${target} in ${conv}`);
  const itself = m.recalls !== undefined ? 'a recall' : m.edits !== undefined ? 'an edit' : m.reacts !== undefined ? 'a reaction' : undefined;
  if (itself !== undefined) throw new ImError(ErrorCode.INVALID_FIELD, `message ${target} is ${itself} itself`);
  if (m.recalledBy !== undefined) throw new ImError(ErrorCode.CONFLICT, `message ${target} was recalled already, by message ${m.recalledBy}`);
  return m;
}

/** The message a reply answers, and who sent it. */
export interface Replied {
  seq: number;
  from: string;
}

/**
 * A reply to message `seq` of `conv` (none: undefined), refused as `readTarget` says; a member's (`uid`) only to a
 * message served to them, or its `replyFrom` would name the author of one they may not read.
 */
export async function repliedTo(svc: ChatServices, conv: string, seq: number | undefined, uid?: string): Promise<Replied | undefined> {
  return seq === undefined ? undefined : { seq, from: (await readTarget(svc, conv, seq, uid)).senderUid };
}

/**
 * Refuses an amendment that may not go ahead. Its target must pass `readTarget`; a recall or an edit a client makes
 * (`uid` given; the server API's has none) must be of its own message, within the window the cluster sets for its
 * kind (0: none) — but in a group, whose `moderates` says who its owners and admins are, they may recall the message
 * of anyone who is neither, at any age (moderation). Any member may react to any message served to them, at any
 * age. The device id of system messages is `systemDevice`.
 */
export async function checkAmendment(svc: ChatServices, conv: string, a: Amendment, uid: string | undefined, systemDevice: string, moderates?: (uid: string) => boolean): Promise<void> {
  // A member's reaction only to a message served to them: its author is told of it, and its reactors listed. A recall
  // or an edit is of one's own message, or a moderator's, who may take back what came before they joined.
  const m = await readTarget(svc, conv, a.target, a.kind === 'react' ? uid : undefined);
  if (a.kind === 'react' && m.senderDid !== systemDevice) a.author = m.senderUid;
  if (uid === undefined || a.kind === 'react') return;
  if (a.kind === 'recall' && m.senderUid !== uid && m.senderDid !== systemDevice && moderates?.(uid) === true && !moderates(m.senderUid)) return;
  if (m.senderUid !== uid || m.senderDid === systemDevice) throw new ImError(ErrorCode.FORBIDDEN, `message ${a.target} was not sent by ${uid}: only its sender may ${a.kind} it`);
  const windowSec = a.kind === 'recall' ? (svc.settings.recallWindowSec ?? DEFAULT_RECALL_WINDOW_SEC) : (svc.settings.editWindowSec ?? DEFAULT_EDIT_WINDOW_SEC);
  if (windowSec === 0) throw new ImError(ErrorCode.FORBIDDEN, `this server lets no client ${a.kind} a message`);
  if (Date.now() - m.createdAt > windowSec * 1000) throw new ImError(ErrorCode.FORBIDDEN, `message ${a.target} is older than the ${a.kind} window (${windowSec} s)`);
}
