/** How long a read refused for a passing reason waits before it goes again. */
export const READ_RETRY_MS = 2_000;

/**
 * Read marks not yet handed to a socket: one per conversation, the highest asked for. A mark made while
 * disconnected goes out at the next `welcome`; the server never moves a mark back, so sending the highest
 * one is enough.
 */
export class PendingReads {
  private readonly marks = new Map<string, number>();
  /** Conversations whose read the server refused for a passing reason, and the one timer that sends them again. */
  private readonly refused = new Set<string>();
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
   * once more after READ_RETRY_MS. Without it the mark would wait for the next list, and the user's other devices
   * and the peer's receipts with it.
   */
  retry(conv: string, again: (conv: string) => void): void {
    this.refused.add(conv);
    this.retryTimer ??= setTimeout(() => {
      this.retryTimer = undefined;
      const convs = [...this.refused];
      this.refused.clear();
      for (const c of convs) again(c);
    }, READ_RETRY_MS);
  }

  /** Drops every mark and retry (the client closed). */
  clear(): void {
    this.marks.clear();
    this.refused.clear();
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }
}
