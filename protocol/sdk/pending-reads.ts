import { SEND_RETRYABLE_CODES } from './send-entry.js';

/** How long a read refused for a passing reason waits before it goes again. */
export const READ_RETRY_MS = 2_000;
/**
 * Codes after which a refused read mark goes again: those a send is kept for (README §9 retries `storage_error`
 * later and `rate_limited` after a pause as well as RETRYABLE_CODES). Dropped, the mark would wait for the next list.
 */
export const READ_RETRYABLE_CODES = SEND_RETRYABLE_CODES;

/**
 * Read marks not yet handed to a socket: one per conversation, the highest asked for. A mark made while
 * disconnected goes out at the next `welcome`; the server never moves a mark back, so sending the highest
 * one is enough.
 */
export class PendingReads {
  private readonly marks = new Map<string, number>();
  /** Conversations whose read the server refused for a passing reason, each with when it goes again (epoch ms). */
  private readonly refused = new Map<string, { at: number; again: (conv: string) => void }>();
  /** The one timer that sends them again, set for the earliest. */
  private retryTimer: ReturnType<typeof setTimeout> | undefined;

  /** Asks for `conv` to be marked read up to `seq`. */
  add(conv: string, seq: number): void {
    this.marks.set(conv, Math.max(seq, this.marks.get(conv) ?? 0));
  }

  /** Sends what it can, in order; stops at the first mark `send` could not hand to the socket. */
  flush(send: (conv: string, seq: number) => boolean): void {
    for (const [conv, seq] of this.marks) {
      if (!send(conv, seq)) return;
      this.marks.delete(conv);
    }
  }

  /**
   * The server refused a read in `conv` for a passing reason (a deadline, the database away): `again` sends the mark
   * once more after READ_RETRY_MS, or after `waitMs` when the refusal named a longer wait (`rate_limited`'s
   * `retryAfterMs`). Without it the mark would wait for the next list, and the user's other devices and the peer's
   * receipts with it.
   */
  retry(conv: string, again: (conv: string) => void, waitMs = 0): void {
    const due = Date.now() + Math.max(READ_RETRY_MS, waitMs);
    const planned = this.refused.get(conv);
    // A retry already planned covers a second refusal, unless that one asks to wait longer.
    if (planned !== undefined && waitMs <= READ_RETRY_MS) return;
    this.refused.set(conv, { at: Math.max(planned?.at ?? 0, due), again });
    this.plan();
  }

  /** Sets the timer for the earliest retry due. */
  private plan(): void {
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    let first = Infinity;
    for (const { at } of this.refused.values()) first = Math.min(first, at);
    if (first === Infinity) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      const now = Date.now();
      const due = [...this.refused].filter(([, r]) => r.at <= now);
      for (const [c] of due) this.refused.delete(c);
      this.plan();
      for (const [c, r] of due) r.again(c);
    }, first - Date.now());
  }

  /** Drops every mark and retry (the client closed). */
  clear(): void {
    this.marks.clear();
    this.refused.clear();
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }
}
