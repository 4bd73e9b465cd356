/**
 * Cumulative acks batched per conversation (README §7.3 allows it): a conversation marked due is acked once, after
 * `delayMs`, at whatever its chain holds by then.
 */
export class AckBatcher {
  private readonly due = new Set<string>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** Between a closed connection and the next session's first list: what becomes due waits. */
  private paused = false;

  constructor(
    private readonly delayMs: number,
    /** Sends the ack of `conv` (up to what its chain holds now); false when not connected: the rest wait for the next batch. */
    private readonly send: (conv: string) => boolean,
  ) {}

  /** `conv` holds something new: ack it with the next batch. */
  schedule(conv: string): void {
    this.due.add(conv);
    if (!this.paused) this.arm();
  }

  /**
   * The connection closed: nothing goes out until `resume`, but what is due stays due. The server moves a delivery
   * mark only on an ack, and a list after the reconnect shows nothing behind, so an ack dropped here was never sent.
   */
  pause(): void {
    this.paused = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** A new session: what is due goes out with the next batch. */
  resume(): void {
    this.paused = false;
    if (this.due.size > 0) this.arm();
  }

  /** Forgets what is due (the client closed). */
  clear(): void {
    this.pause();
    this.due.clear();
  }

  private arm(): void {
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, this.delayMs);
  }

  private flush(): void {
    for (const conv of this.due) {
      if (!this.send(conv)) return;
      this.due.delete(conv);
    }
  }
}
