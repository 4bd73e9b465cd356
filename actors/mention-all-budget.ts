import { ErrorCode, ImError } from '../protocol/errors.js';

/**
 * Mention rows a conversation's members' mentions of all may write per minute. Each @all writes a row per member in
 * the node's shared group commit (10,000 rows took 170–190 ms to commit, and every conversation on the node waits
 * behind that statement), so an owner sending @all back to back in a big group would slow the whole node. Two a
 * minute in a group of 10,000; in small groups it never bites.
 */
export const MENTION_ALL_ROWS_PER_MINUTE = 20_000;

/** A token bucket of mention rows for one conversation's @all messages (made on the first one). */
export class MentionAllBudget {
  private rows = MENTION_ALL_ROWS_PER_MINUTE;
  private last: number;

  constructor(now = Date.now()) {
    this.last = now;
  }

  /** Takes the rows of an @all among `members` members, or refuses with RATE_LIMITED, saying how long to wait. */
  take(conv: string, members: number, now = Date.now()): void {
    const need = Math.max(0, members - 1);
    this.rows = Math.min(MENTION_ALL_ROWS_PER_MINUTE, this.rows + ((now - this.last) / 60_000) * MENTION_ALL_ROWS_PER_MINUTE);
    this.last = now;
    if (this.rows >= need) {
      this.rows -= need;
      return;
    }
    const waitSec = Math.ceil(((need - this.rows) / MENTION_ALL_ROWS_PER_MINUTE) * 60);
    throw new ImError(ErrorCode.RATE_LIMITED, `mentions of all in ${conv} may name ${MENTION_ALL_ROWS_PER_MINUTE} members a minute; try again in ${waitSec} s`);
  }
}
