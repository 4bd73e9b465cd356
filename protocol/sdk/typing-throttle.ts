import { DEFAULT_TYPING_INTERVAL_MS } from '../limits.js';

/** Lets one `typing` per conversation out every `intervalMs`, so the app may call `typing()` on every keystroke. */
export class TypingThrottle {
  /** When `typing` last went out per conversation (one entry per conversation the user typed in). */
  private readonly sentAt = new Map<string, number>();

  constructor(private readonly intervalMs: number = DEFAULT_TYPING_INTERVAL_MS) {}

  /** True when a `typing` for `conv` went out less than an interval before `now`. */
  recent(conv: string, now: number): boolean {
    return now - (this.sentAt.get(conv) ?? -Infinity) < this.intervalMs;
  }

  /** Records that a `typing` for `conv` went out at `now`. */
  sent(conv: string, now: number): void {
    this.sentAt.set(conv, now);
  }

  /** Forgets every conversation (the client closed). */
  clear(): void {
    this.sentAt.clear();
  }
}
