import { ErrorCode, ImError } from '../errors.js';

/** How long a `pull` or `sync` waits for its answer. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

/** A promise with its settle functions outside it (the `connect()` waiter). */
export interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (err: ImError) => void;
}

/** Resolves once `p` settles, or after `ms` if it has not by then. */
export async function settledWithin(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const waited = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
  await Promise.race([p.catch(() => undefined), waited]);
  clearTimeout(timer);
}

/** Makes a Deferred. */
export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: ImError) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (err: ImError) => void;
  timer: ReturnType<typeof setTimeout>;
  /** Starts the timeout again (a long answer that is still coming). */
  rearm: () => ReturnType<typeof setTimeout>;
}

/**
 * Requests correlated by `rid` (README §4): each gets a fresh rid, a timeout, and exactly one outcome.
 * A late answer after the timeout finds no entry and is dropped.
 */
export class PendingRequests {
  private readonly pending = new Map<number, Pending>();
  private nextRid = 1;

  constructor(private readonly timeoutMs: number = DEFAULT_REQUEST_TIMEOUT_MS) {}

  /** Number of requests waiting for an answer. */
  get size(): number {
    return this.pending.size;
  }

  /** Registers a request; `send(rid)` puts it on the wire and may throw (the request then rejects). */
  start<T>(what: string, send: (rid: number) => void): Promise<T> {
    // rids only need to be unique among outstanding requests; wrap long before 2^53.
    const rid = this.nextRid;
    this.nextRid = this.nextRid >= Number.MAX_SAFE_INTEGER ? 1 : this.nextRid + 1;
    return new Promise<T>((resolve, reject) => {
      const rearm = (): ReturnType<typeof setTimeout> =>
        setTimeout(() => {
          this.pending.delete(rid);
          reject(new ImError(ErrorCode.TIMEOUT, `${what} got no answer within ${this.timeoutMs} ms`));
        }, this.timeoutMs);
      this.pending.set(rid, { resolve: resolve as (value: unknown) => void, reject, timer: rearm(), rearm });
      try {
        send(rid);
      } catch (err) {
        this.settle(rid);
        reject(err instanceof ImError ? err : new ImError(ErrorCode.INTERNAL, `${what} could not be sent`, { cause: err }));
      }
    });
  }

  /** Resolves the request `rid`; returns false when none is waiting. */
  resolve(rid: number, value: unknown): boolean {
    const p = this.settle(rid);
    p?.resolve(value);
    return p !== undefined;
  }

  /** Gives the request `rid` its whole timeout again: part of its answer came, more is coming. */
  extend(rid: number): void {
    const p = this.pending.get(rid);
    if (p === undefined) return;
    clearTimeout(p.timer);
    p.timer = p.rearm();
  }

  /** Rejects the request `rid`; returns false when none is waiting. */
  reject(rid: number, error: ImError): boolean {
    const p = this.settle(rid);
    p?.reject(error);
    return p !== undefined;
  }

  /** Rejects every waiting request with `error` (connection lost, client closed). */
  rejectAll(error: ImError): void {
    const all = [...this.pending.values()];
    for (const p of all) clearTimeout(p.timer);
    this.pending.clear();
    for (const p of all) p.reject(error);
  }

  private settle(rid: number): Pending | undefined {
    const p = this.pending.get(rid);
    if (p === undefined) return undefined;
    clearTimeout(p.timer);
    this.pending.delete(rid);
    return p;
  }
}
