import { ErrorCode, ImError } from '../errors.js';

/** Where the client's JWT comes from: a fixed string, or a function called again after the server refused one. */
export type TokenOption = string | (() => string | Promise<string>);

/**
 * Refused upgrades in a row after which a token that is not near its expiry is asked for again anyway (it may have
 * been revoked). A browser cannot tell a 401 from a 503 (a gateway draining, full, or taking a connect storm):
 * renewing after every refusal sent each of a storm's retries to the app's token endpoint as well.
 */
export const DEFAULT_REFUSALS_BEFORE_RENEW = 3;
/** A token this close to its `exp` (by the client's clock) is renewed at the first refused upgrade. */
export const DEFAULT_TOKEN_RENEW_MARGIN_SEC = 60;
/**
 * Longest wait for the token function: a fetch that hangs (a network switch mid-request) would hold the client in
 * `connecting` for good, with nothing that could move it on.
 */
export const DEFAULT_TOKEN_TIMEOUT_MS = 30_000;

/**
 * The client's token: a fixed string as given, or the last one a token function returned, kept until the server
 * refuses it: at once after 4001, and after a refused upgrade when it is near its expiry (or unreadable), or
 * after DEFAULT_REFUSALS_BEFORE_RENEW refused upgrades in a row.
 */
export class TokenSource {
  private cached: string | undefined;
  private refusals = 0;
  /** The timeout of the token function's call in flight, for close(). */
  private askTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly source: TokenOption,
    private readonly timeoutMs = DEFAULT_TOKEN_TIMEOUT_MS,
  ) {}

  /** The token to connect with; calls the token function when there is none cached. */
  async get(): Promise<string> {
    if (typeof this.source === 'string') return this.source;
    if (this.cached === undefined) {
      const token = await this.ask(this.source);
      if (typeof token !== 'string' || token.length === 0) throw new ImError(ErrorCode.UNAUTHORIZED, 'the token function returned no token');
      this.cached = token;
    }
    return this.cached;
  }

  /** Calls the token function, giving up (TIMEOUT) after timeoutMs; a late answer is dropped. */
  private ask(fn: () => string | Promise<string>): Promise<string> {
    let answer: Promise<string>;
    try {
      answer = Promise.resolve(fn());
    } catch (err) {
      return Promise.reject(err);
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new ImError(ErrorCode.TIMEOUT, `the token function gave no token within ${this.timeoutMs} ms`)), this.timeoutMs);
      // In Node, a client closed meanwhile must not be kept alive by this wait.
      (timer as { unref?: () => void }).unref?.();
    });
    this.askTimer = timer;
    return Promise.race([answer, late]).finally(() => {
      clearTimeout(timer);
      if (this.askTimer === timer) this.askTimer = undefined;
    });
  }

  /** The client closed: a call of the token function still unanswered keeps no timer (its late answer goes nowhere). */
  close(): void {
    if (this.askTimer !== undefined) clearTimeout(this.askTimer);
    this.askTimer = undefined;
  }

  /** Whether a new token can be had (a token function, not a fixed string). */
  get renewable(): boolean {
    return typeof this.source !== 'string';
  }

  /** The `exp` of the token in use (seconds since the epoch, read without checking it); undefined if unknown. */
  expiry(): number | undefined {
    const token = typeof this.source === 'string' ? this.source : this.cached;
    return token === undefined ? undefined : expOf(token);
  }

  /** Asks the token function for a new token now (for an in-session refresh) and keeps it for the next connect too. */
  async fresh(): Promise<string> {
    this.cached = undefined;
    return this.get();
  }

  /** Forgets the cached token: the next `get` asks the token function again. */
  forget(): void {
    this.cached = undefined;
    this.refusals = 0;
  }

  /** A fixed token whose `exp` has passed: nothing will ever be taken again, as nothing can renew it. */
  deadForGood(nowMs: number = Date.now()): boolean {
    const exp = this.renewable ? undefined : this.expiry();
    return exp !== undefined && exp * 1000 <= nowMs;
  }

  /** An upgrade was refused without a reason the client can read: forget the token if it is likely the cause. */
  refused(nowMs: number = Date.now()): void {
    const exp = this.cached === undefined ? undefined : expOf(this.cached);
    if (++this.refusals >= DEFAULT_REFUSALS_BEFORE_RENEW || exp === undefined || exp - nowMs / 1000 < DEFAULT_TOKEN_RENEW_MARGIN_SEC) this.forget();
  }

  /** The server took the token (a `welcome` came). */
  accepted(): void {
    this.refusals = 0;
  }
}

/** The `exp` of a JWT, read without checking its signature (the server checks it); undefined when unreadable. */
function expOf(token: string): number | undefined {
  const payload = token.split('.')[1];
  if (!payload) return undefined;
  try {
    const exp = (JSON.parse(atob(payload.replace(/-/g, '+').replace(/_/g, '/'))) as { exp?: unknown }).exp;
    return typeof exp === 'number' && Number.isFinite(exp) ? exp : undefined;
  } catch {
    return undefined;
  }
}
