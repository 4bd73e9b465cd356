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

/**
 * A device's catch-up on hides made while it was away: a list's `hiddenAt` later than any hide the device heard of
 * makes it ask which messages, and only once that answer is in does the device count the hides as known, so a
 * failed ask is made again at the next list.
 */
export class HidesCatchUp {
  private readonly opts: HidesCatchUpOptions;
  /** Conversations whose hides this device is asking for: one ask at a time each. */
  private readonly asking = new Set<string>();

  constructor(opts: HidesCatchUpOptions) {
    this.opts = opts;
  }

  /** A list showed `hiddenAt` for `s`: asks, unless that is no news or an ask is out already. */
  listed(s: ChainState, hiddenAt: number | undefined): void {
    if (hiddenAt === undefined || hiddenAt <= (s.hiddenAt ?? 0)) return;
    // A second list while an ask is out (a sync right after a reconnect) waits for it.
    if (this.opts.hides === undefined || !this.opts.isOpen() || this.asking.has(s.conv)) return;
    this.asking.add(s.conv);
    this.opts
      .hides(s.conv)
      .then(
        () => void (s.hiddenAt = Math.max(s.hiddenAt ?? 0, hiddenAt)),
        (err: unknown) => {
          // Closed, or the connection dropped under the ask: the next list asks again, nothing to tell the app.
          const e = err as ImError;
          if (!this.opts.isClosed() && (e.code !== ErrorCode.CLOSED || this.opts.isOpen())) this.opts.onError?.(s.conv, e);
        },
      )
      .finally(() => this.asking.delete(s.conv));
  }
}
