/**
 * Cumulative acks batched per conversation (README §7.3 allows it): a conversation marked due is acked once, after
 * `delayMs`, at whatever its chain holds by then.
 */
export class AckBatcher {
  private readonly due = new Set<string>();
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly delayMs: number,
    /** Sends the ack of `conv` (up to what its chain holds now); false when not connected: the rest wait for the next batch. */
    private readonly send: (conv: string) => boolean,
  ) {}

  /** `conv` holds something new: ack it with the next batch. */
  schedule(conv: string): void {
    this.due.add(conv);
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, this.delayMs);
  }

  /** Forgets what is due (the connection closed: the server forgets in-flight state too). */
  clear(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.due.clear();
  }

  private flush(): void {
    const due = [...this.due];
    this.due.clear();
    for (const conv of due) if (!this.send(conv)) return;
  }
}
