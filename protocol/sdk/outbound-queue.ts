import { ErrorCode, ImError } from '../errors.js';
import type { SendFrame, SentFrame } from '../frames.js';
import { validateClientFrame } from '../validate.js';
import { chained, cidFloor, foreignOutboxError, Outbox, renumberAbove, type OutboxStore } from './outbox.js';
import { copyExtras, SEND_RETRYABLE_CODES, type OutboundEntry, type SendExtras, type SendResult, type SentDetail } from './send-entry.js';

/** Largest number of unacknowledged sends one client keeps; more and `send()` is refused with `overloaded`. */
export const DEFAULT_MAX_QUEUE = 10_000;
/** A conversation whose sends got no answer for this long is re-sent (sends are idempotent on the server). */
export const DEFAULT_SEND_RETRY_MS = 10_000;
/** Delay bounds of a conversation's re-send after a retryable error: grows from base to cap, jittered. */
export const DEFAULT_RESEND_BASE_MS = 50;
export const DEFAULT_RESEND_CAP_MS = 500;
/** After `rate_limited` the re-send waits at least this long: re-sending at once would only be refused again. */
export const DEFAULT_RATE_LIMITED_RESEND_MS = 1_000;

interface Pending extends OutboundEntry {
  resolve: (r: SendResult) => void;
  reject: (err: ImError) => void;
  /** Times put on the wire (an earlier run's count as one): only a send made before may have been stored. */
  tries?: number;
}

/** Per-conversation re-send state: one scheduled re-send at most, and a stall timer while sends are unanswered. */
interface ConvState {
  entries: Pending[];
  /** cid of this client's latest send to the conversation still valid as an `after` (undefined: none yet). */
  lastCid: number | undefined;
  retryTimer: ReturnType<typeof setTimeout> | undefined;
  retryAttempts: number;
  stallTimer: ReturnType<typeof setTimeout> | undefined;
}

export interface OutboundQueueOptions {
  /** Puts one frame on the wire; returns false when there is no open connection (the entry stays queued). */
  transmit: (frame: SendFrame) => boolean;
  /** First cid; default `Date.now() * 1000` (strictly increasing across app restarts without persistence). */
  cidStart?: number;
  maxQueue?: number;
  /** Re-send a conversation whose sends got no answer for this long; 0 disables. */
  sendRetryMs?: number;
  resendBaseMs?: number;
  resendCapMs?: number;
  random?: () => number;
  /** A send became durable; `body` is what was sent, `prev` its predecessor in the conversation when the server said. */
  onSent?: (r: SendResult, detail: SentDetail) => void;
  /** A re-sent send was answered `expired`: stored, then past the conversation's retention. It left the queue. */
  onExpired?: (f: { cid: number; conv: string; body: string }) => void;
  /** A send failed for good and left the queue. */
  onFailed?: (f: { cid: number; conv: string; body: string; error: ImError }) => void;
  /** A send met a retryable error and stays queued for a re-send. */
  onRetry?: (f: { cid: number; conv: string; body: string; error: ImError }) => void;
  /** Where unacknowledged sends are kept across app restarts (see `Outbox`); none by default. */
  outbox?: OutboxStore;
  /** The outbox could not be read or written. */
  onOutboxError?: (error: ImError) => void;
  /** How long the outbox's `load()` may take (DEFAULT_OUTBOX_LOAD_TIMEOUT_MS). */
  outboxLoadTimeoutMs?: number;
}

/**
 * The outbound queue of README §7.1: every send stays here, in cid order, until its `sent` arrives.
 *
 * Each entry carries `after`, the cid of this client's previous send to the same conversation, so the server
 * stores a conversation's messages in cid order even when one send fails and a later one does not.
 */
export class OutboundQueue {
  private readonly opts: OutboundQueueOptions;
  private readonly maxQueue: number;
  private readonly sendRetryMs: number;
  private readonly resendBaseMs: number;
  private readonly resendCapMs: number;
  private readonly random: () => number;
  private readonly fixedStart: boolean;
  /** Every queued entry by cid; Map order is insertion order, which is cid order. */
  private readonly entries = new Map<number, Pending>();
  private readonly convs = new Map<string, ConvState>();
  /** Who waits for a conversation's queue to empty (whenSent). */
  private readonly emptied = new Map<string, (() => void)[]>();
  private lastCid: number;
  private closedWith: ImError | undefined;
  private readonly outbox: Outbox | undefined;
  /** Settles once the outbox (if any) is read into the queue: transmit nothing before. */
  readonly opened: Promise<void>;

  constructor(opts: OutboundQueueOptions) {
    this.opts = opts;
    this.maxQueue = opts.maxQueue ?? DEFAULT_MAX_QUEUE;
    this.sendRetryMs = opts.sendRetryMs ?? DEFAULT_SEND_RETRY_MS;
    this.resendBaseMs = opts.resendBaseMs ?? DEFAULT_RESEND_BASE_MS;
    this.resendCapMs = opts.resendCapMs ?? DEFAULT_RESEND_CAP_MS;
    this.random = opts.random ?? Math.random;
    this.fixedStart = opts.cidStart !== undefined;
    this.lastCid = (opts.cidStart ?? 1) - 1;
    this.outbox = opts.outbox && new Outbox(opts.outbox, () => this.snapshot(), (e) => opts.onOutboxError?.(e), () => this.lastCid, opts.outboxLoadTimeoutMs);
    this.opened = this.outbox?.open((entries, lastCid) => this.restore(entries, lastCid)) ?? Promise.resolve();
  }

  /** Number of unacknowledged sends. */
  get size(): number {
    return this.entries.size;
  }

  /** The queued entries in cid order (copies). */
  snapshot(): OutboundEntry[] {
    return [...this.entries.values()].map((entry) => {
      const e: OutboundEntry = { conv: entry.conv, cid: entry.cid, body: entry.body };
      if (entry.after !== undefined) e.after = entry.after;
      copyExtras(e, entry);
      return e;
    });
  }

  /**
   * Puts the sends of an earlier run of the app (from an outbox) into the queue before anything is transmitted:
   * they keep their cids and go out with the rest at the next `welcome`; onSent and onFailed tell how they end.
   */
  private restore(saved: readonly OutboundEntry[], lastCid = 0): void {
    if (this.closedWith !== undefined) return;
    const floor = cidFloor(saved, lastCid);
    this.renumberEarly(floor);
    // Above every cid an earlier run gave out, acked ones too: its clock may have been ahead of this one's.
    this.lastCid = Math.max(this.lastCid, floor);
    if (saved.length === 0) return;
    const settled = (): void => {};
    const restored: Pending[] = saved.filter((e) => !this.entries.has(e.cid)).map((e) => ({ ...e, resolve: settled, reject: settled, tries: 1 }));
    // Chained again in cid order: a send queued before the restore named no predecessor, yet it has one now.
    const all = chained([...restored, ...this.entries.values()]);
    this.entries.clear();
    for (const state of this.convs.values()) state.entries = [];
    for (const e of all) {
      const state = this.convState(e.conv);
      state.entries.push(e);
      state.lastCid = e.cid;
      this.entries.set(e.cid, e);
    }
    this.lastCid = Math.max(this.lastCid, all.at(-1)!.cid);
    this.outbox?.changed();
  }

  /**
   * Sends queued before the store answered took their cids from this run's clock: if it went back, some may be at or
   * below `floor`, a cid an earlier run gave out (the server refuses a cid below one it stored, and answers an equal
   * one with the old message). Nothing has been transmitted before the restore, so they take new cids above it.
   */
  private renumberEarly(floor: number): void {
    const early = [...this.entries.values()];
    const moved = renumberAbove(early, floor);
    if (moved.size === 0) return;
    this.entries.clear();
    for (const e of early) this.entries.set(e.cid, e);
    for (const state of this.convs.values()) if (state.lastCid !== undefined) state.lastCid = moved.get(state.lastCid) ?? state.lastCid;
    this.lastCid = Math.max(this.lastCid, early.at(-1)!.cid);
  }

  /** Queues a message (a recall, an edit or a reaction, with `extras`), transmits it when connected, and resolves once it is durable. */
  enqueue(conv: string, body: string, extras: SendExtras = {}): Promise<SendResult> {
    if (this.closedWith !== undefined) return Promise.reject(this.closedWith);
    // Refused here, by the gateway's own rules, rather than by the server: a send that can never be stored must not
    // hold up the queue. (The cid is given out below; any valid one stands in for it.)
    const checked = validateClientFrame({ ...extras, type: 'send', conv, cid: 1, body });
    if (!checked.ok) return Promise.reject(checked.error);
    if (this.entries.size >= this.maxQueue) {
      return Promise.reject(new ImError(ErrorCode.OVERLOADED, `outbound queue is full (${this.maxQueue} unacknowledged sends)`));
    }
    const cid = this.nextCid();
    const state = this.convState(conv);
    const result = new Promise<SendResult>((resolve, reject) => {
      const entry: Pending = { conv, cid, body, resolve, reject };
      copyExtras(entry, extras);
      if (state.lastCid !== undefined) entry.after = state.lastCid;
      state.lastCid = cid;
      state.entries.push(entry);
      this.entries.set(cid, entry);
      this.outbox?.changed();
      // Behind an older entry that waits for a scheduled re-send, this one would only draw out_of_order now.
      if (state.retryTimer === undefined) this.transmit(state, entry);
    });
    // A queued send's failure is also told by onFailed (`sendFailed`), and close() is the app's own doing: an app that
    // sends without awaiting must not be ended by Node's unhandled-rejection rule. Awaiting still sees the rejection.
    result.catch(() => {});
    return result;
  }

  /** Handles a `sent` frame; returns false when its cid is not queued (a duplicate answer). */
  handleSent(frame: SentFrame): boolean {
    const entry = this.entries.get(frame.cid);
    if (entry === undefined) return false;
    this.settle(entry);
    const result: SendResult = { conv: entry.conv, cid: entry.cid, seq: frame.seq, ts: frame.ts };
    entry.resolve(result);
    const detail: SentDetail = { body: entry.body, prev: frame.prev };
    copyExtras(detail, entry);
    if (frame.replyFrom !== undefined) detail.replyFrom = frame.replyFrom;
    if (frame.was !== undefined) detail.was = frame.was;
    this.opts.onSent?.(result, detail);
    return true;
  }

  /** Handles an `error` frame naming `cid`; returns false when that cid is not queued. */
  handleError(cid: number, error: ImError, foreign = false): boolean {
    const entry = this.entries.get(cid);
    if (entry === undefined) return false;
    // Stored, and expired since: later sends may still name it, and the app drops it as any expired message. Not at
    // its first try: then it cannot have been stored before, and its cid is below an expired one (a clock gone back).
    if (error.code === ErrorCode.EXPIRED && (entry.tries ?? 0) > 1) {
      this.settle(entry);
      entry.reject(error);
      this.opts.onExpired?.({ cid: entry.cid, conv: entry.conv, body: entry.body });
      return true;
    }
    const state = this.convState(entry.conv);
    if (SEND_RETRYABLE_CODES.has(error.code)) {
      // The server's wait, when it names one (slow mode: up to a day), else a second.
      this.scheduleResend(state, error.code === ErrorCode.RATE_LIMITED ? Math.max(DEFAULT_RATE_LIMITED_RESEND_MS, error.retryAfterMs ?? 0) : 0);
      this.opts.onRetry?.({ cid: entry.cid, conv: entry.conv, body: entry.body, error });
      return true;
    }
    this.remove(entry);
    // Later sends named this one as their predecessor; it will never be stored, so they must name its own
    // predecessor instead, or the server would answer out_of_order for ever. Not a foreign send's: that is another
    // device's cid, which this one never stored either.
    const before = foreign ? undefined : entry.after;
    for (const other of state.entries) {
      if (other.after === entry.cid) {
        if (before === undefined) delete other.after;
        else other.after = before;
      }
    }
    if (state.lastCid === entry.cid) state.lastCid = before;
    this.outbox?.changed();
    entry.reject(error);
    this.opts.onFailed?.({ cid: entry.cid, conv: entry.conv, body: entry.body, error });
    return true;
  }

  /**
   * A session opened as `uid`/`did` (`welcome`): restored sends another user or device queued fail with
   * `forbidden` (never sent as this one); then the whole queue is re-sent.
   */
  welcome(uid: string, did: string): void {
    for (const cid of this.outbox?.welcome(uid, did) ?? []) this.handleError(cid, foreignOutboxError(), true);
    this.resendAll();
  }

  /** Re-sends the whole queue in cid order (after a reconnect's `welcome`). */
  resendAll(): void {
    if (this.closedWith !== undefined) return;
    for (const state of this.convs.values()) {
      this.clearRetry(state);
      this.clearStall(state);
    }
    for (const entry of this.entries.values()) {
      if (!this.transmit(this.convState(entry.conv), entry)) return;
    }
  }

  /** The connection is gone: nothing can be answered, so pending re-sends wait for `resendAll`. */
  disconnected(): void {
    for (const state of this.convs.values()) {
      this.clearRetry(state);
      this.clearStall(state);
    }
  }

  /** Rejects every queued send with `error` and stops every timer; later `enqueue` calls reject too. */
  close(error: ImError = new ImError(ErrorCode.CLOSED, 'client closed')): void {
    if (this.closedWith !== undefined) return;
    this.closedWith = error;
    this.outbox?.stop(); // before the queue empties: what it holds stays stored for the next run
    this.disconnected();
    const pending = [...this.entries.values()];
    this.entries.clear();
    this.convs.clear();
    for (const entry of pending) entry.reject(error);
    for (const conv of [...this.emptied.keys()]) this.tellEmptied(conv);
  }

  private nextCid(): number {
    // Without a persisted start, the clock keeps cids above those of an earlier run of the app.
    const floor = this.fixedStart ? 0 : Date.now() * 1000;
    this.lastCid = Math.max(this.lastCid + 1, floor);
    return this.lastCid;
  }

  private convState(conv: string): ConvState {
    let state = this.convs.get(conv);
    if (state === undefined) {
      state = { entries: [], lastCid: undefined, retryTimer: undefined, retryAttempts: 0, stallTimer: undefined };
      this.convs.set(conv, state);
    }
    return state;
  }

  private transmit(state: ConvState, entry: Pending): boolean {
    const frame: SendFrame = { type: 'send', conv: entry.conv, cid: entry.cid, body: entry.body };
    if (entry.after !== undefined) frame.after = entry.after;
    copyExtras(frame, entry);
    try {
      if (!this.opts.transmit(frame)) return false;
      entry.tries = (entry.tries ?? 0) + 1;
    } catch (err) {
      // Over the gateway's frame size: refused here for good, as the server would refuse it, and the rest go on.
      if (!(err instanceof ImError) || err.code !== ErrorCode.FRAME_TOO_LARGE) throw err;
      this.handleError(entry.cid, err);
      return true;
    }
    // A conversation waiting out a re-send (a named wait: slow mode, up to a day) is not re-sent early by the stall timer.
    if (state.stallTimer === undefined && state.retryTimer === undefined) this.armStall(state);
    return true;
  }

  /** Takes an answered send out (stored: `sent`, or `expired`); the rest of its conversation's queue goes on. */
  private settle(entry: Pending): void {
    this.remove(entry);
    this.outbox?.changed();
    const state = this.convs.get(entry.conv);
    if (state === undefined) return;
    state.retryAttempts = 0;
    this.clearStall(state);
    // Not while the rest waits out a named wait (slow mode): the stall timer would re-send it early.
    if (state.entries.length > 0 && state.retryTimer === undefined) this.armStall(state);
  }

  private remove(entry: Pending): void {
    this.entries.delete(entry.cid);
    const state = this.convs.get(entry.conv);
    if (state === undefined) return;
    const i = state.entries.indexOf(entry);
    if (i >= 0) state.entries.splice(i, 1);
    if (state.entries.length === 0) {
      this.clearRetry(state);
      this.clearStall(state);
      // Nothing of it left unanswered: the next send needs no `after` (every earlier one is stored, or failed for
      // good), and a client that wrote to thousands of conversations keeps no state for each.
      this.convs.delete(entry.conv);
      this.tellEmptied(entry.conv);
    }
  }

  /** Resolves once no send to `conv` is queued (at once when none is, and at close()). */
  whenSent(conv: string): Promise<void> {
    if (!this.convs.has(conv)) return Promise.resolve();
    return new Promise((resolve) => this.emptied.set(conv, [...(this.emptied.get(conv) ?? []), resolve]));
  }

  private tellEmptied(conv: string): void {
    const waiting = this.emptied.get(conv);
    this.emptied.delete(conv);
    for (const resolve of waiting ?? []) resolve();
  }

  /** Conversations with sends still queued (what the queue keeps state for). */
  get conversationsQueued(): number {
    return this.convs.size;
  }

  /** One re-send of the conversation's whole queue, after a growing jittered delay (coalesced). */
  private scheduleResend(state: ConvState, minDelayMs: number): void {
    if (state.retryTimer !== undefined) return;
    const ceiling = Math.min(this.resendCapMs, this.resendBaseMs * 2 ** state.retryAttempts);
    // Half fixed, half random: never a burst at 0 ms, and two clients do not retry in step.
    const delay = Math.max(minDelayMs, Math.floor(ceiling / 2 + (this.random() * ceiling) / 2));
    state.retryAttempts++;
    this.clearStall(state);
    state.retryTimer = setTimeout(() => {
      state.retryTimer = undefined;
      this.resendConv(state);
    }, delay);
  }

  private resendConv(state: ConvState): void {
    this.clearStall(state);
    for (const entry of [...state.entries]) {
      if (!this.transmit(state, entry)) return;
    }
  }

  private armStall(state: ConvState): void {
    if (this.sendRetryMs <= 0) return;
    state.stallTimer = setTimeout(() => {
      state.stallTimer = undefined;
      if (state.entries.length > 0) this.resendConv(state);
    }, this.sendRetryMs);
  }

  private clearStall(state: ConvState): void {
    if (state.stallTimer !== undefined) clearTimeout(state.stallTimer);
    state.stallTimer = undefined;
  }

  private clearRetry(state: ConvState): void {
    if (state.retryTimer !== undefined) clearTimeout(state.retryTimer);
    state.retryTimer = undefined;
  }
}
