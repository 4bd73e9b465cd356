import { ErrorCode, toImError, type ImError } from '../errors.js';
import type { TokenSource } from './token-source.js';

/** A token is refreshed this long before its `exp` (or at half the time it has left, if that is shorter). */
export const DEFAULT_TOKEN_REFRESH_LEAD_SEC = 60;
/**
 * After a refresh, a token with less than this left is not refreshed again: a token function that hands out
 * tokens about to expire would otherwise keep the client refreshing; expiry then takes its course (4001, reconnect).
 */
const MIN_REFRESH_GAP_MS = 5_000;
/** setTimeout's longest delay; a token good for longer is looked at again after it. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface TokenRefresherOptions {
  token: TokenSource;
  /** Sends `refresh` with the token; resolves once the server took it. */
  refresh: (token: string) => Promise<unknown>;
  random: () => number;
  onError: (error: ImError) => void;
}

/**
 * Gives an open session a new token before its current one expires (`refresh`, protocol/README §2), so that a
 * connection outlives its token without the close (4001), reconnect, re-attach and re-sync that expiry costs.
 * The time is spread by jitter: tokens minted together (after a mass reconnect) would otherwise all come back at
 * once, to the app's token endpoint too. A refresh that fails changes nothing: the server closes with 4001 at
 * expiry, and the reconnect takes a new token as always.
 */
export class TokenRefresher {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private generation = 0;

  constructor(private readonly opts: TokenRefresherOptions) {}

  /** Plans the refresh of the session's token (after `welcome`). */
  start(): void {
    this.stop();
    this.schedule(this.generation, false);
  }

  /** Cancels what is planned (the session ended). */
  stop(): void {
    this.generation++;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(gen: number, afterRefresh: boolean): void {
    const exp = this.opts.token.expiry();
    if (!this.opts.token.renewable || exp === undefined) return;
    const leftMs = exp * 1000 - Date.now();
    const leadMs = Math.min(DEFAULT_TOKEN_REFRESH_LEAD_SEC * 1000, leftMs / 2) * (1 - 0.25 * this.opts.random());
    const waitMs = Math.max(0, leftMs - leadMs);
    if (afterRefresh && waitMs < MIN_REFRESH_GAP_MS) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (waitMs > MAX_TIMER_MS) this.schedule(gen, false);
      else void this.run(gen);
    }, Math.min(waitMs, MAX_TIMER_MS));
  }

  private async run(gen: number): Promise<void> {
    try {
      const token = await this.opts.token.fresh();
      if (gen !== this.generation) return;
      await this.opts.refresh(token);
      if (gen === this.generation) this.schedule(gen, true);
    } catch (err) {
      if (gen !== this.generation) return;
      const e = toImError(err);
      // A token the server refused is not kept for the reconnect either.
      if (e.code === ErrorCode.UNAUTHORIZED || e.code === ErrorCode.TOKEN_EXPIRED) this.opts.token.forget();
      this.opts.onError(e);
    }
  }
}
