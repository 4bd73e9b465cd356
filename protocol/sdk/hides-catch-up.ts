import { ErrorCode, type ImError } from '../errors.js';
import type { ChainState } from './chain-state.js';

export interface HidesCatchUpOptions {
  /** Asks which messages of `conv` the user hid (`hides`; its answer reaches the app as a `hidden` event). */
  hides?: (conv: string) => Promise<unknown>;
  /** Whether requests can be sent now. */
  isOpen: () => boolean;
  /** Whether the client is closed for good (its errors are nobody's business then). */
  isClosed: () => boolean;
  onError?: (conv: string, error: ImError) => void;
}

/** Asks out at once: a list of many conversations with new hides must stay within the gateway's reads per connection (16). */
export const HIDES_ASKS_AT_ONCE = 4;

/**
 * A device's catch-up on hides made while it was away: a list's `hiddenAt` later than any hide the device heard of
 * makes it ask which messages, and only once that answer is in does the device count the hides as known, so a
 * failed ask is made again at the next list. HIDES_ASKS_AT_ONCE go out at once; the others wait their turn.
 */
export class HidesCatchUp {
  private readonly opts: HidesCatchUpOptions;
  /** Conversations whose hides this device is asking for, or will: one ask at a time each. */
  private readonly asking = new Set<string>();
  /** Asks waiting for one out to be answered. */
  private readonly waiting: { s: ChainState; hiddenAt: number }[] = [];
  private out = 0;

  constructor(opts: HidesCatchUpOptions) {
    this.opts = opts;
  }

  /** A list showed `hiddenAt` for `s`: asks, unless that is no news or an ask is out (or waiting) already. */
  listed(s: ChainState, hiddenAt: number | undefined): void {
    if (hiddenAt === undefined || hiddenAt <= (s.hiddenAt ?? 0)) return;
    // A second list while an ask is out (a sync right after a reconnect) waits for it.
    if (this.opts.hides === undefined || !this.opts.isOpen() || this.asking.has(s.conv)) return;
    this.asking.add(s.conv);
    this.waiting.push({ s, hiddenAt });
    this.next();
  }

  /** Sends waiting asks while fewer than HIDES_ASKS_AT_ONCE are out; a connection gone drops them (the next list asks again). */
  private next(): void {
    while (this.out < HIDES_ASKS_AT_ONCE && this.waiting.length > 0) {
      const { s, hiddenAt } = this.waiting.shift()!;
      if (!this.opts.isOpen()) {
        this.asking.delete(s.conv);
        continue;
      }
      this.out++;
      this.opts
        .hides!(s.conv)
        .then(
          () => void (s.hiddenAt = Math.max(s.hiddenAt ?? 0, hiddenAt)),
          (err: unknown) => {
            // Closed, or the connection dropped under the ask: the next list asks again, nothing to tell the app.
            const e = err as ImError;
            if (!this.opts.isClosed() && ((e.code !== ErrorCode.CLOSED && e.code !== ErrorCode.UNAVAILABLE) || this.opts.isOpen())) this.opts.onError?.(s.conv, e);
          },
        )
        .finally(() => {
          this.asking.delete(s.conv);
          this.out--;
          this.next();
        });
    }
  }
}
