import { DEFAULT_TYPING_INTERVAL_MS } from '../limits.js';

/** Entries kept before expired ones are dropped: a 5,000-member group's chatter holds only those typing lately. */
const PRUNE_ABOVE = 64;

/**
 * Lets one `typing` per key out every `intervalMs`: per conversation in the SDK, so the app may call `typing()` on
 * every keystroke; per member in a chatter, so a client typing too often costs no fan-out per event.
 */
export class TypingThrottle {
  /** When `typing` last went out per key (pruned of expired entries once there are many). */
  private readonly sentAt = new Map<string, number>();

  constructor(private readonly intervalMs: number = DEFAULT_TYPING_INTERVAL_MS) {}

  /** True when a `typing` for `conv` went out less than an interval before `now`. */
  recent(conv: string, now: number): boolean {
    return now - (this.sentAt.get(conv) ?? -Infinity) < this.intervalMs;
  }

  /** Records that a `typing` for `conv` went out at `now`. */
  sent(conv: string, now: number): void {
    this.sentAt.set(conv, now);
    if (this.sentAt.size > PRUNE_ABOVE) for (const [k, at] of this.sentAt) if (now - at >= this.intervalMs) this.sentAt.delete(k);
  }

  /** Sends a `typing` for `key` through `transmit` unless one went out lately; false when it could not be sent. */
  offer(key: string, now: number, transmit: () => boolean): boolean {
    if (this.recent(key, now)) return true;
    if (!transmit()) return false;
    this.sent(key, now);
    return true;
  }

  /** Forgets every conversation (the client closed). */
  clear(): void {
    this.sentAt.clear();
  }
}
