import type { ImError } from '../errors.js';
import type { Msg } from '../frames.js';
import type { HistoryBaseline, HistoryPage } from './conversation-info.js';

/** Acks are batched per conversation for this long (README §7.3 allows batching). */
export const DEFAULT_ACK_DELAY_MS = 50;
/** Out-of-order messages kept aside per conversation while a pull repairs the gap; more are dropped (the pull brings them back). */
export const DEFAULT_MAX_HELD = 1_000;
/**
 * A list does not take out a conversation a live `joined` or `msg` made known this recently: the list may have been
 * read before the user was added and arrive after the news (it travels another way). A real removal meanwhile
 * comes as `left`; the next list corrects the rest.
 */
export const DEFAULT_LIST_STALE_GRACE_MS = 10_000;

export interface ConversationChainsOptions {
  /** Hands one message to the app: called in order, exactly once per (conv, seq). */
  deliver: (msg: Msg) => void;
  /** Fetches messages of `conv` with seq > `after` (the client's rid-correlated, timed-out `pull`). */
  pull: (conv: string, after: number, limit: number) => Promise<HistoryPage>;
  /** Puts an `ack` on the wire; returns false when not connected. */
  ack: (conv: string, seq: number) => boolean;
  /** Sends this device's read mark of `conv` again: a list showed the server without it. */
  reread?: (conv: string, seq: number) => void;
  /** Whether requests can be sent now (a closed connection ends a pull loop; the reconnect's `convs` restarts it). */
  isOpen: () => boolean;
  history?: HistoryBaseline;
  ackDelayMs?: number;
  maxHeld?: number;
  maxLeft?: number;
  pullLimit?: number;
  /** Errors of the background pulls (the app may log them). */
  onPullError?: (conv: string, error: ImError) => void;
  /** See DEFAULT_LIST_STALE_GRACE_MS. */
  listStaleGraceMs?: number;
  /** Asks which messages of `conv` the user hid (`hides`; its answer reaches the app as a `hidden` event). */
  hides?: (conv: string) => Promise<unknown>;
}
