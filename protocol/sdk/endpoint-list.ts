import { ErrorCode, ImError } from '../errors.js';

/** The subset of `fetch` the dispatcher lookup needs (browser and Node ≥ 18 globals). */
export type FetchLike = (url: string, init?: { signal?: AbortSignal }) => Promise<{ ok: boolean; status: number; json(): Promise<unknown> }>;

export interface EndpointListOptions {
  /** Fixed endpoints, best first (`url` is a list of one). */
  endpoints?: readonly string[];
  /** Dispatcher base URL: `GET ${dispatcherUrl}/v1/endpoints?uid=<uid>` answers `{endpoints: string[]}`. */
  dispatcherUrl?: string;
  uid?: string;
  fetch?: FetchLike;
  /** Timeout of one dispatcher lookup, in ms. */
  timeoutMs: number;
}

/** Where the next connection attempt goes. */
export interface EndpointChoice {
  endpoint: string;
  /** Taken from a `redirect` frame: the server asked for it, so it is tried without backoff. */
  redirected: boolean;
}

/**
 * The endpoints to try, in order: those of a pending `redirect` first, then the normal list round-robin
 * (fetched again from the dispatcher each time it has been gone through, so a dead node drops out).
 */
export class EndpointList {
  private readonly opts: EndpointListOptions;
  private list: string[];
  private index = 0;
  private redirects: string[] = [];
  /** The dispatcher lookup in flight, to be cut short by `close`. */
  private lookupAbort: AbortController | undefined;

  constructor(opts: EndpointListOptions) {
    if ((opts.endpoints === undefined || opts.endpoints.length === 0) && opts.dispatcherUrl === undefined) {
      throw new ImError(ErrorCode.INVALID_FIELD, 'ImClient needs url, endpoints or dispatcherUrl');
    }
    if (opts.dispatcherUrl !== undefined && opts.uid === undefined) {
      throw new ImError(ErrorCode.INVALID_FIELD, 'ImClient needs uid to ask the dispatcher for endpoints');
    }
    this.opts = opts;
    this.list = [...(opts.endpoints ?? [])];
  }

  /** Follows a `redirect`: its endpoints come next, in order, before the normal list. */
  redirect(endpoints: readonly string[]): void {
    this.redirects = [...endpoints];
  }

  /** Whether a redirect endpoint is waiting to be tried. */
  get hasRedirect(): boolean {
    return this.redirects.length > 0;
  }

  /**
   * A connection was established: forget the rest of a redirect list. With a dispatcher, the next attempt asks it
   * again (its first endpoint is the node of the user's connector, and it leaves out nodes that went away); a
   * fixed list goes on from the next endpoint.
   */
  connected(): void {
    this.redirects = [];
    if (this.opts.dispatcherUrl !== undefined) this.index = this.list.length;
  }

  /** Cuts short a dispatcher lookup in flight (the client closed): no timer is left behind. */
  close(): void {
    this.lookupAbort?.abort();
  }

  /** The endpoint of the next attempt; rejects when the dispatcher cannot be reached and no list is known. */
  async next(): Promise<EndpointChoice> {
    const redirected = this.redirects.shift();
    if (redirected !== undefined) return { endpoint: redirected, redirected: true };
    if (this.index >= this.list.length) {
      this.index = 0;
      if (this.opts.dispatcherUrl !== undefined) await this.refresh();
    }
    const endpoint = this.list[this.index++];
    if (endpoint === undefined) throw new ImError(ErrorCode.UNAVAILABLE, 'no endpoint to connect to');
    return { endpoint, redirected: false };
  }

  private async refresh(): Promise<void> {
    try {
      this.list = await this.lookup();
    } catch (err) {
      // A dispatcher outage must not stop reconnecting to the endpoints it gave us before.
      if (this.list.length === 0) throw err;
    }
  }

  private async lookup(): Promise<string[]> {
    const fetchFn = this.opts.fetch ?? (globalThis as { fetch?: FetchLike }).fetch;
    if (fetchFn === undefined) throw new ImError(ErrorCode.INVALID_FIELD, 'no fetch on this platform: pass the fetch option');
    const base = this.opts.dispatcherUrl!.replace(/\/+$/, '');
    const url = `${base}/v1/endpoints?uid=${encodeURIComponent(this.opts.uid!)}`;
    const abort = new AbortController();
    this.lookupAbort = abort;
    const timer = setTimeout(() => abort.abort(), this.opts.timeoutMs);
    // Raced as well as signalled: a fetch the app passed may ignore the signal, and hold the client connecting for good.
    const given = new Promise<never>((_, reject) => abort.signal.addEventListener('abort', () => reject(new ImError(ErrorCode.TIMEOUT, `dispatcher gave no answer in ${this.opts.timeoutMs} ms`)), { once: true }));
    given.catch(() => {});
    try {
      const res = await Promise.race([fetchFn(url, { signal: abort.signal }), given]);
      if (!res.ok) throw new ImError(res.status === 503 ? ErrorCode.OVERLOADED : ErrorCode.UNAVAILABLE, `dispatcher answered ${res.status}`);
      const body = (await Promise.race([res.json(), given])) as { endpoints?: unknown };
      const endpoints = Array.isArray(body?.endpoints) ? body.endpoints.filter((e): e is string => typeof e === 'string' && e.length > 0) : [];
      if (endpoints.length === 0) throw new ImError(ErrorCode.UNAVAILABLE, 'dispatcher returned no endpoints');
      return endpoints;
    } catch (err) {
      if (err instanceof ImError) throw err;
      throw new ImError(ErrorCode.UNAVAILABLE, `dispatcher lookup failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    } finally {
      clearTimeout(timer);
      if (this.lookupAbort === abort) this.lookupAbort = undefined;
    }
  }
}
