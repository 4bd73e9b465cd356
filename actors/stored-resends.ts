import type { ChatterSend } from '../protocol/chat-ops.js';
import { ErrorCode, ImError } from '../protocol/errors.js';
import type { StoredMessage } from '../storage/message-store.js';
import type { ChatServices } from './chat-services.js';

/** A re-send answered from Postgres fans its message out again when it was committed at most this long ago. */
export const REFANOUT_WITHIN_MS = 5 * 60_000;
/** How far the node's clock may be from Postgres' for a join to count as after a message. */
const CLOCK_MARGIN_MS = 5_000;
/** Seqs remembered as fanned out again, so repeated re-sends of one message fan it out once. */
const REFANNED_KEPT = 256;

/**
 * A chatter's re-sends answered from Postgres. Such a message may have been committed and never fanned out: its
 * chatter died between the two, or the commit's answer never reached the node and the row was found stored after a
 * reload. Its sender re-sends because it had no ack, so a recent one goes to the members again, once per chatter:
 * connectors drop what they already pushed and clients dedup on (conv, seq), but members offline may get a second
 * push event and the business server a second `message` event (both are at least once, keyed by conv and seq).
 */
export class StoredResends {
  private readonly done = new Set<number>();

  /**
   * Whether `m` is to be fanned out again now: committed lately, not fanned out again already, and still what the
   * members would be served: not recalled since, not past the conversation's own retention, no block between the
   * two members of a direct conversation now, and nobody joined since (a newcomer to a group that shows them only
   * what follows their joining must not get it; the members are the live set, not those of the commit).
   */
  fanOutAgain(m: StoredMessage, c: { blocked: boolean; retentionSec: number; lastJoinAt: number }, now = Date.now()): boolean {
    const age = now - m.createdAt;
    if (age > REFANOUT_WITHIN_MS || c.blocked || m.recalledBy !== undefined || (c.retentionSec > 0 && age >= c.retentionSec * 1000)) return false;
    // Joins are timed by the node's clock or Postgres', messages by Postgres': a margin for the two to differ.
    if (c.lastJoinAt >= m.createdAt - CLOCK_MARGIN_MS) return false;
    if (this.done.has(m.seq)) return false;
    // Forgetting them all when full costs at most one more fan-out each, which connectors drop.
    if (this.done.size >= REFANNED_KEPT) this.done.clear();
    this.done.add(m.seq);
    return true;
  }
}

/**
 * Refuses with `expired` a re-send of `p` whose message was stored and has since passed the conversation's retention
 * (its ack was lost): it was sent, and the sender must not show it as failed.
 */
export async function refuseExpired(svc: ChatServices, conv: string, p: ChatterSend): Promise<void> {
  if (p.cid <= (await svc.messages.expiredClientMsgId(conv, p.uid, p.did))) throw new ImError(ErrorCode.EXPIRED, `send.cid ${p.cid} was stored and has since passed the conversation's retention: it was sent`);
}
