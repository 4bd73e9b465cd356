import { ErrorCode, RETRYABLE_CODES } from '../errors.js';

/** One send as the client queues it, and what it is answered with. */

/**
 * Codes that keep a send queued. README §7.1 lists RETRYABLE_CODES; §9 also says `rate_limited` ("after a
 * pause") and `storage_error` ("yes, later") can be retried, and losing a user's message over a transient
 * condition is worse than re-sending it, so both are retried here as well.
 */
export const SEND_RETRYABLE_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([...RETRYABLE_CODES, ErrorCode.RATE_LIMITED, ErrorCode.STORAGE]);

/** What `send()` resolves with: the message is durable with this seq. */
export interface SendResult { conv: string; cid: number; seq: number; ts: number }

/** What a durable send was, as sent (`prev`, `replyFrom`, `was`: as the server said, when it did). */
export interface SentDetail extends SendExtras { body: string; prev: number | undefined; replyFrom?: string; was?: string }

/**
 * What a send changes of an earlier message: `recall` takes that seq (the user's) back, `edit` gives it (the user's)
 * `body`, `react` makes `body` the user's reaction to it (empty: none). A plain message may mention users instead
 * (or all members, `mentionAll`), and reply to (quote) message `reply`.
 */
export interface SendExtras { recall?: number; edit?: number; react?: number; mentions?: string[]; mentionAll?: boolean; reply?: number }
/** A queued send (a recall, an edit, a reaction, a mention or a reply with `SendExtras`). */
export interface OutboundEntry extends SendExtras { conv: string; cid: number; body: string; after?: number }

/** Copies the extra fields `from` has onto `to` (absent ones stay absent: frames keep one shape). */
export function copyExtras(to: SendExtras, from: SendExtras): void {
  if (from.recall !== undefined) to.recall = from.recall;
  if (from.edit !== undefined) to.edit = from.edit;
  if (from.react !== undefined) to.react = from.react;
  if (from.mentions !== undefined) to.mentions = [...from.mentions];
  if (from.reply !== undefined) to.reply = from.reply;
  if (from.mentionAll === true) to.mentionAll = true;
}
