/**
 * Read marks not yet handed to a socket: one per conversation, the highest asked for. A mark made while
 * disconnected goes out at the next `welcome`; the server never moves a mark back, so sending the highest
 * one is enough.
 */
export class PendingReads {
  private readonly marks = new Map<string, number>();

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

  /** Drops every mark (the client closed). */
  clear(): void {
    this.marks.clear();
  }
}
