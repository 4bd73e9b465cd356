import { ErrorCode, toImError, type ImError } from '../errors.js';
import { isBehind, type ChainState } from './chain-state.js';
import type { HistoryPage } from './conversation-info.js';

/**
 * First delay before retrying a failed gap-repair pull; doubles up to the cap. The cap is short: a device that
 * knows it is behind should catch up soon after the cluster recovers, and a pull is one indexed read.
 */
export const DEFAULT_PULL_RETRY_BASE_MS = 500;
export const DEFAULT_PULL_RETRY_CAP_MS = 5_000;
/**
 * Conversations pulled at once; the rest wait their turn. A device back after a long absence may be behind in
 * hundreds: all at once, their pulls went past the gateway's burst (200 frames) and the dropped ones waited out
 * the request timeout (10 s) before a retry.
 */
export const DEFAULT_MAX_CONCURRENT_PULLS = 8;

export interface GapPullerDeps {
  /** Fetches messages of `conv` with seq > `after`. */
  pull: (conv: string, after: number, limit: number) => Promise<HistoryPage>;
  /** Takes a page into the conversation's chain. */
  accept: (s: ChainState, page: HistoryPage) => void;
  /** Whether requests can be sent now (a closed connection ends a loop; the reconnect's `convs` restarts it). */
  isOpen: () => boolean;
  /**
   * The chains were closed, or forgot `s` (left long ago) while its pull was out: nothing more is taken for it, and a
   * return starts a chain of its own, which must not get the old loop's pages twice.
   */
  isClosed: (s: ChainState) => boolean;
  limit: number;
  /** Conversations pulled at once (DEFAULT_MAX_CONCURRENT_PULLS). */
  maxConcurrent?: number;
  onPullError?: (conv: string, error: ImError) => void;
}

/**
 * The pulls of gap repair (README §7.2): at most one loop per conversation, from its `last` until the server has
 * nothing more and every held message is reached; a failed one is retried after a pause that backs off while the
 * gap remains. At most `maxConcurrent` loops run; the other conversations wait their turn, in order.
 */
export class GapPuller {
  private readonly maxConcurrent: number;
  private running = 0;
  private readonly waiting = new Set<ChainState>();

  constructor(private readonly d: GapPullerDeps) {
    this.maxConcurrent = Math.max(1, d.maxConcurrent ?? DEFAULT_MAX_CONCURRENT_PULLS);
  }

  /** Pulls `s` from its `last` now (or when its turn comes), or once more after the loop running already. */
  start(s: ChainState): void {
    if (s.pulling) {
      s.pullAgain = true;
      return;
    }
    if (!this.d.isOpen() || s.pullRetryTimer !== undefined) return;
    if (this.running >= this.maxConcurrent) {
      this.waiting.add(s);
      return;
    }
    this.run(s);
  }

  /** Forgets a retry waiting out its pause, or a turn waited for (the connection closed: the next list restarts it). */
  clearRetry(s: ChainState): void {
    if (s.pullRetryTimer !== undefined) clearTimeout(s.pullRetryTimer);
    s.pullRetryTimer = undefined;
    this.waiting.delete(s);
  }

  private run(s: ChainState): void {
    s.pulling = true;
    this.running++;
    void this.loop(s).finally(() => {
      this.running--;
      this.next();
    });
  }

  /** Starts the conversations waiting, in order, while there is room; one caught up meanwhile is skipped. */
  private next(): void {
    for (const s of this.waiting) {
      if (this.running >= this.maxConcurrent) return;
      this.waiting.delete(s);
      if (isBehind(s)) this.start(s);
    }
  }

  private async loop(s: ChainState): Promise<void> {
    try {
      for (;;) {
        s.pullAgain = false;
        const page = await this.d.pull(s.conv, s.last, this.d.limit);
        if (this.d.isClosed(s)) return;
        this.d.accept(s, page);
        s.pullFailures = 0;
        // An empty page with `more` would be a server bug: stopping there keeps the loop finite.
        if (page.more && page.msgs.length > 0) continue;
        // A gap or a higher lastSeq reported while this page was on its way may lie beyond it.
        if (s.pullAgain && isBehind(s)) continue;
        return;
      }
    } catch (err) {
      const error = toImError(err);
      if (this.d.isClosed(s)) return;
      // The connection dropped under the pull: no news for the app, as the next list pulls it again.
      if ((error.code !== ErrorCode.CLOSED && error.code !== ErrorCode.UNAVAILABLE) || this.d.isOpen()) this.d.onPullError?.(s.conv, error);
      this.afterFailure(s, error);
    } finally {
      s.pulling = false;
    }
  }

  private afterFailure(s: ChainState, error: ImError): void {
    if (error.code === ErrorCode.NOT_MEMBER || error.code === ErrorCode.NOT_FOUND) {
      // Nothing more will come from this conversation: what is held can never be reached.
      s.held.clear();
      return;
    }
    // A lost connection restarts catch-up through the next `convs`; only a live one needs a timer.
    if (!this.d.isOpen()) return;
    const delay = Math.min(DEFAULT_PULL_RETRY_CAP_MS, DEFAULT_PULL_RETRY_BASE_MS * 2 ** s.pullFailures);
    s.pullFailures++;
    s.pullRetryTimer = setTimeout(() => {
      s.pullRetryTimer = undefined;
      if (isBehind(s)) this.start(s);
    }, delay);
  }
}
