import { describe, expect, it, vi } from 'vitest';
import { ErrorCode, ImError } from '../../protocol/errors.js';
import { MAX_ROWS_PER_WRITE, MaxBatchWriter, REFUSED_TRIES, RETRY_BASE_MS, RETRY_CAP_MS, retryDelayMs } from '../../storage/max-batch-writer.js';

type Row = { key: string; v: number };

/** A writer over an in-memory "table" whose writes can be made to fail or to wait. */
function harness(opts: { retry: boolean; delayMs?: number }) {
  const writes: Row[][] = [];
  const errors: unknown[] = [];
  let failNext = 0;
  let failWith: Error = new ImError(ErrorCode.UNAVAILABLE, 'database away');
  let active = 0;
  let maxActive = 0;
  const w = new MaxBatchWriter<Row>({
    delayMs: opts.delayMs ?? 0,
    merge: (had, next) => (next.v > had.v ? next : had),
    sort: (a, b) => (a.key < b.key ? -1 : 1),
    retry: opts.retry,
    onError: (e) => errors.push(e),
    write: async (rows) => {
      maxActive = Math.max(maxActive, ++active);
      await new Promise((r) => setTimeout(r, 1));
      active--;
      if (failNext > 0) {
        failNext--;
        throw failWith;
      }
      writes.push(rows);
    },
  });
  return { w, writes, errors, fail: (n: number, err?: Error) => ((failNext = n), err && (failWith = err)), maxActive: () => maxActive };
}

describe('max batch writer', () => {
  it('max batch writer – a key recorded twice is written once with the greater value, sorted, in chunks of at most 5,000', async () => {
    const { w, writes } = harness({ retry: false });
    w.add('b', { key: 'b', v: 2 });
    w.add('a', { key: 'a', v: 5 });
    w.add('b', { key: 'b', v: 1 });
    await w.flush();
    expect(writes).toEqual([[{ key: 'a', v: 5 }, { key: 'b', v: 2 }]]);
    for (let i = 0; i < MAX_ROWS_PER_WRITE + 1; i++) w.add(`k${String(i).padStart(5, '0')}`, { key: `k${i}`, v: i });
    await w.flush();
    expect(writes.slice(1).map((x) => x.length)).toEqual([MAX_ROWS_PER_WRITE, 1]);
  });

  it('max batch writer – writes run one at a time, on their own after the delay', async () => {
    const { w, writes, maxActive } = harness({ retry: false, delayMs: 20 });
    w.add('a', { key: 'a', v: 1 });
    void w.flush();
    w.add('a', { key: 'a', v: 2 });
    void w.flush();
    w.add('c', { key: 'c', v: 3 });
    expect(writes).toEqual([]);
    await new Promise((r) => setTimeout(r, 80));
    expect(writes).toEqual([[{ key: 'a', v: 1 }], [{ key: 'a', v: 2 }], [{ key: 'c', v: 3 }]]);
    expect(maxActive()).toBe(1);
  });

  it('max batch writer – a failed batch goes into the next one when retrying, and is dropped otherwise; closed, it takes nothing', async () => {
    const retrying = harness({ retry: true });
    retrying.fail(1);
    retrying.w.add('a', { key: 'a', v: 1 });
    await retrying.w.flush();
    expect(retrying.errors).toHaveLength(1);
    retrying.w.add('b', { key: 'b', v: 2 });
    await retrying.w.close();
    expect(retrying.writes).toEqual([[{ key: 'a', v: 1 }, { key: 'b', v: 2 }]]);
    retrying.w.add('c', { key: 'c', v: 3 });
    await retrying.w.flush();
    expect(retrying.writes).toHaveLength(1);

    const dropping = harness({ retry: false });
    dropping.fail(1);
    dropping.w.add('a', { key: 'a', v: 1 });
    await dropping.w.flush();
    dropping.w.add('b', { key: 'b', v: 2 });
    await dropping.w.flush();
    expect([dropping.errors.length, dropping.writes]).toEqual([1, [[{ key: 'b', v: 2 }]]]);
  });

  it('max batch writer – a database that is away is tried again after growing pauses, not at once; the first success ends them', async () => {
    vi.useFakeTimers();
    try {
      const { w, writes, errors, fail } = harness({ retry: true });
      fail(3);
      w.add('a', { key: 'a', v: 1 });
      await vi.advanceTimersByTimeAsync(5); // the first try fails
      expect(errors).toHaveLength(1);
      await vi.advanceTimersByTimeAsync(RETRY_BASE_MS - 10);
      expect(errors).toHaveLength(1); // no try before the pause is over
      w.add('a', { key: 'a', v: 2 }); // meanwhile a later value: it is what the retry writes
      await vi.advanceTimersByTimeAsync(20);
      expect(errors).toHaveLength(2);
      // The second failure came at ~RETRY_BASE_MS: the next try waits twice as long, the one after four times.
      await vi.advanceTimersByTimeAsync(2 * RETRY_BASE_MS - 100);
      expect(errors).toHaveLength(2);
      await vi.advanceTimersByTimeAsync(100);
      expect(errors).toHaveLength(3);
      await vi.advanceTimersByTimeAsync(4 * RETRY_BASE_MS - 100);
      expect(writes).toEqual([]);
      await vi.advanceTimersByTimeAsync(100);
      expect(writes).toEqual([[{ key: 'a', v: 2 }]]);
      // Written again: the next batch goes on the next turn, as before the failures.
      w.add('b', { key: 'b', v: 1 });
      await vi.advanceTimersByTimeAsync(5);
      expect(writes).toHaveLength(2);
      // The pauses stop growing at the cap.
      expect([1, 2, 3].map(retryDelayMs)).toEqual([RETRY_BASE_MS, 2 * RETRY_BASE_MS, 4 * RETRY_BASE_MS]);
      expect(retryDelayMs(50)).toBe(RETRY_CAP_MS);
    } finally {
      vi.useRealTimers();
    }
  });

  it('max batch writer – a batch Postgres refuses is tried a few times, then dropped, not for ever; a row forgotten is not written', async () => {
    const { w, writes, errors, fail } = harness({ retry: true });
    fail(REFUSED_TRIES, new ImError(ErrorCode.STORAGE, 'check constraint'));
    w.add('a', { key: 'a', v: 1 });
    for (let i = 0; i < REFUSED_TRIES; i++) await w.flush();
    w.add('b', { key: 'b', v: 1 });
    await w.flush();
    expect([errors.length, writes]).toEqual([REFUSED_TRIES, [[{ key: 'b', v: 1 }]]]);
    w.add('c', { key: 'c', v: 1 });
    w.forget('c');
    await w.flush();
    expect(writes).toHaveLength(1);
  });
});
