/** Rows one statement of a batch writer writes at most (a gateway's worth of users leaving at once takes a few). */
export const MAX_ROWS_PER_WRITE = 5_000;
import { isRetryableStorageError } from './pg-errors.js';

/** First wait before a failed batch is written again; it doubles with each failure in a row, up to the cap. */
export const RETRY_BASE_MS = 500;
export const RETRY_CAP_MS = 10_000;
/**
 * Tries of a batch Postgres refused (not isRetryableStorageError: a table renamed for a moment in a migration, or a
 * row it will refuse for good) before it is dropped: one bad row must not hold up every later one for ever.
 */
export const REFUSED_TRIES = 5;

/** The pause before the next write after `failures` failed ones in a row (0: none). */
export function retryDelayMs(failures: number): number {
  return failures > 0 ? Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** (failures - 1)) : 0;
}

export interface MaxBatchWriterOptions<T> {
  /** Stores one chunk (at most MAX_ROWS_PER_WRITE rows) in one statement. */
  write: (rows: T[]) => Promise<void>;
  /** The row to keep when a key is recorded again before it is written (the greater one). */
  merge: (had: T, next: T) => T;
  /** How long rows gather before a write; 0: the next turn of the event loop. */
  delayMs: number;
  /** Orders a batch before it is written, so that two writers lock the rows they share in one order. */
  sort?: (a: T, b: T) => number;
  /**
   * A failed batch goes back into the next one, written after a growing pause (retryDelayMs) rather than at once
   * against a database that is away: for good when it failed for a passing reason (isRetryableStorageError: the
   * database away, a deadline, a lost race), REFUSED_TRIES times in a row when Postgres refused it. Without `retry`
   * it is dropped. `onError` is told either way.
   */
  retry: boolean;
  onError: (err: unknown) => void;
}

/**
 * Keyed values that only ever grow (a delivery mark, a last-seen time), written in batches: one write at a time,
 * in arrival order, so a later value never lands before an earlier one. Their statements keep the greater of the
 * stored value and the written one, so batches need no fence: a stale writer cannot move one back.
 */
export class MaxBatchWriter<T> {
  private pending = new Map<string, T>();
  private scheduled = false;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private closed = false;
  /** Failed writes in a row (0 once one succeeds), and of those, refused ones (not isRetryableStorageError). */
  private failures = 0;
  private refused = 0;

  constructor(private readonly o: MaxBatchWriterOptions<T>) {}

  /** Records `row` under `key`, to be written soon; nothing once closed. */
  add(key: string, row: T): void {
    if (this.closed) return;
    const had = this.pending.get(key);
    this.pending.set(key, had === undefined ? row : this.o.merge(had, row));
    if (this.scheduled) return;
    this.scheduled = true;
    const delay = this.failures > 0 ? retryDelayMs(this.failures) : this.o.delayMs;
    if (delay > 0) this.timer = setTimeout(() => void this.flush(), delay);
    else setImmediate(() => void this.flush());
  }

  /** Writes what is recorded so far; resolves once it is stored (or failed: `onError` was told). */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.scheduled = false;
    if (this.pending.size > 0) {
      const batch = [...this.pending];
      if (this.o.sort) batch.sort(([, a], [, b]) => this.o.sort!(a, b));
      this.pending = new Map();
      this.writing = this.writing
        .then(() => this.writeAll(batch.map(([, row]) => row)))
        .then(
          () => void (this.failures = this.refused = 0),
          (err: unknown) => {
            this.failures++;
            const again = isRetryableStorageError(err) || ++this.refused < REFUSED_TRIES;
            if (!again) this.refused = 0;
            if (this.o.retry && again) for (const [key, row] of batch) this.add(key, row);
            this.o.onError(err);
          },
        );
    }
    return this.writing;
  }

  /** Drops what is recorded under `key` and not written yet (a failed write waiting to be tried again included). */
  forget(key: string): void {
    this.pending.delete(key);
  }

  /** Writes what is recorded (once: a failure now is not tried again) and takes no more. */
  close(): Promise<void> {
    const last = this.flush();
    this.closed = true;
    return last;
  }

  private async writeAll(rows: T[]): Promise<void> {
    for (let i = 0; i < rows.length; i += MAX_ROWS_PER_WRITE) await this.o.write(rows.slice(i, i + MAX_ROWS_PER_WRITE));
  }
}
