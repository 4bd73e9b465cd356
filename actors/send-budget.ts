import { rateLimited } from '../protocol/errors.js';

/**
 * Mention rows a conversation's members' mentions of all may write per minute. Each @all writes a row per member in
 * the node's shared group commit (10,000 rows took 170–190 ms to commit, and every conversation on the node waits
 * behind that statement), so an owner sending @all back to back in a big group would slow the whole node. Two a
 * minute in a group of 10,000; in small groups it never bites.
 */
export const MENTION_ALL_ROWS_PER_MINUTE = 20_000;

/**
 * Deliveries a conversation's reactions may cost per second. A reaction goes to every member like a message, and
 * any member may react as often as they like: in a channel of 100,000 a reaction storm would take the whole
 * cluster's fan-out (~1M deliveries/s on two gateways here). This lets one conversation's reactions take a fifth of
 * it: two a second in a group of 100,000, forty in one of 5,000; in groups of up to 4,000 no member reaches it
 * under the per-connection rate limit.
 */
export const REACTION_DELIVERIES_PER_SEC = 200_000;

/**
 * A token bucket of what one kind of send costs a conversation (rows written, deliveries), refilled at `rate` per
 * `perMs`; a conversation makes one at its first such send. A send never costs more than a whole interval's worth,
 * so one always goes through after a wait, however large the group.
 */
export class SendBudget {
  private left: number;
  private last: number;

  constructor(
    private readonly rate: number,
    private readonly perMs: number,
    /** What the refusal says, e.g. "mentions of all in g1 may name 20000 members a minute". */
    private readonly limit: (conv: string) => string,
    now = Date.now(),
  ) {
    this.left = rate;
    this.last = now;
  }

  /** Takes `cost`, or refuses with RATE_LIMITED, saying how long to wait. */
  take(conv: string, cost: number, now = Date.now()): void {
    const need = Math.min(Math.max(0, cost), this.rate);
    // A wall clock stepped back (NTP) gives nothing back, rather than taking up to that much from the budget.
    this.left = Math.min(this.rate, this.left + (Math.max(0, now - this.last) / this.perMs) * this.rate);
    this.last = now;
    if (this.left >= need) {
      this.left -= need;
      return;
    }
    throw rateLimited(this.limit(conv), ((need - this.left) / this.rate) * this.perMs);
  }
}

/** The budget of a conversation's mentions of all: a row per member but the sender (MENTION_ALL_ROWS_PER_MINUTE). */
export const mentionAllBudget = (now?: number): SendBudget =>
  new SendBudget(MENTION_ALL_ROWS_PER_MINUTE, 60_000, (conv) => `mentions of all in ${conv} may name ${MENTION_ALL_ROWS_PER_MINUTE} members a minute`, now);

/** The budget of a conversation's reactions: a delivery per member (REACTION_DELIVERIES_PER_SEC). */
export const reactionBudget = (now?: number): SendBudget =>
  new SendBudget(REACTION_DELIVERIES_PER_SEC, 1_000, (conv) => `reactions in ${conv} may reach ${REACTION_DELIVERIES_PER_SEC} members a second`, now);
