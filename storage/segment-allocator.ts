import { ErrorCode, ImError } from '../protocol/errors.js';
import type { Sql } from './db.js';
import { checkFence, fencedError, fenceRow } from './fence.js';
import { bounded, DEFAULT_STATEMENT_TIMEOUT_MS } from './pg-errors.js';
import type { Fence } from './types.js';

export interface SegmentAllocatorOptions {
  /** The sequence's name; every allocator of one name shares its id space. */
  name: string;
  /** Ids per segment (one UPDATE per segment) at low rates: the smallest segment grabbed. */
  step?: number;
  /**
   * A segment should last at least this long at the rate ids are taken; a faster rate doubles the next grab's
   * size (Leaf's dynamic step), so the background fetch always has time to land. 0 keeps every segment at `step`.
   */
  minSegmentMs?: number;
  /** The largest segment a fast rate may grow the grab to (default `step` × DEFAULT_MAX_STEP_FACTOR). */
  maxStep?: number;
  /** Millisecond clock the rate is measured with (tests pass a fake one). */
  now?: () => number;
  /** Start fetching the next segment once this share of the current one is used (double buffer). */
  prefetchRatio?: number;
  /** When set, segment grabs are refused with FENCED once the shard's epoch moved on. */
  fence?: Fence;
  /** Deadline of one segment grab. */
  timeoutMs?: number;
}

export const DEFAULT_SEGMENT_STEP = 1000;
export const DEFAULT_PREFETCH_RATIO = 0.1;
/** Long enough to ride out a slow Postgres round trip many times over; short enough that a moved shard skips few ids. */
export const DEFAULT_SEGMENT_MIN_MS = 2_000;
export const MAX_SEGMENT_STEP = 10_000_000;
/** A dropped allocator skips at most this many times `step` ids. */
export const DEFAULT_MAX_STEP_FACTOR = 64;
const MAX_NAME_LENGTH = 200;

interface Segment {
  next: number;
  /** Inclusive. */
  max: number;
  size: number;
  /** Hand-outs after which the next segment is fetched. */
  prefetchAfter: number;
}

/**
 * Leaf-style segment mode: one `INSERT … ON CONFLICT DO UPDATE … RETURNING` grabs the range
 * (max_id, max_id + step], and ids are then handed out from memory. Once `prefetchRatio` of the current
 * segment is used the next one is fetched in the background (double buffer), so once warm the hot path
 * (`tryNext`) never waits on Postgres. Ids of one name are unique and strictly increasing across restarts and
 * across racing allocators: each grab advances max_id atomically under the row lock, a later grab always
 * gets a higher range, and unused ids of a dropped allocator are skipped, never reused.
 * A FENCED grab is final: the allocator hands out nothing more, the owner of the shard changed.
 * The grab's size follows the rate: at the prefetch point the allocator knows how fast the current segment is
 * used, and sizes the next one (`step` × a power of two, up to `maxStep`) to last `minSegmentMs`.
 */
export class SegmentAllocator {
  readonly name: string;
  readonly step: number;
  private readonly maxStep: number;
  private readonly minSegmentMs: number;
  private readonly now: () => number;
  /** Size of the next grab; set at each prefetch point from the rate seen since the one before. */
  private nextStep: number;
  /** Ids handed out so far, and that count and the time at the last prefetch point (at first, when the first
   * segment came into use; -1 before): the rate's window. */
  private handed = 0;
  private markHanded = 0;
  private markAt = -1;
  private readonly prefetchRatio: number;
  private readonly fence: Fence | undefined;
  private readonly timeoutMs: number;
  private current?: Segment;
  private buffered?: Segment;
  /** The one grab in flight; resolves to its error (never rejects), so every waiter sees the same outcome. */
  private fetching?: Promise<ImError | undefined>;
  private fenced?: ImError;
  private closed = false;

  constructor(
    private readonly sql: Sql,
    opts: SegmentAllocatorOptions,
  ) {
    if (typeof opts.name !== 'string' || opts.name.length === 0 || opts.name.length > MAX_NAME_LENGTH) {
      throw new ImError(ErrorCode.INVALID_FIELD, `segment name must be a non-empty string of at most ${MAX_NAME_LENGTH} characters`);
    }
    this.name = opts.name;
    this.step = opts.step ?? DEFAULT_SEGMENT_STEP;
    if (!Number.isInteger(this.step) || this.step < 1 || this.step > MAX_SEGMENT_STEP) {
      throw new ImError(ErrorCode.INVALID_FIELD, `segment step must be an integer from 1 to ${MAX_SEGMENT_STEP}`);
    }
    this.maxStep = opts.maxStep ?? Math.min(MAX_SEGMENT_STEP, this.step * DEFAULT_MAX_STEP_FACTOR);
    if (!Number.isInteger(this.maxStep) || this.maxStep < this.step || this.maxStep > MAX_SEGMENT_STEP) {
      throw new ImError(ErrorCode.INVALID_FIELD, `maxStep must be an integer from step to ${MAX_SEGMENT_STEP}`);
    }
    this.minSegmentMs = opts.minSegmentMs ?? DEFAULT_SEGMENT_MIN_MS;
    if (!(this.minSegmentMs >= 0 && Number.isFinite(this.minSegmentMs))) throw new ImError(ErrorCode.INVALID_FIELD, 'minSegmentMs must be a finite number ≥ 0');
    this.nextStep = this.step;
    this.now = opts.now ?? (() => performance.now());
    this.prefetchRatio = opts.prefetchRatio ?? DEFAULT_PREFETCH_RATIO;
    if (!(this.prefetchRatio >= 0 && this.prefetchRatio <= 1)) throw new ImError(ErrorCode.INVALID_FIELD, 'prefetchRatio must be from 0 to 1');
    checkFence(opts.fence);
    this.fence = opts.fence;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS;
  }

  /** Ids in the segment ids now come from (0 before the first); grows with the rate, see `minSegmentMs`. */
  get segmentSize(): number {
    return this.current?.size ?? 0;
  }

  /** True when the next segment is already in memory (the double buffer is full). */
  get prefetched(): boolean {
    return this.buffered !== undefined;
  }

  /** The next id from memory, or undefined when both buffers are empty (call `next()` then). Never waits. */
  tryNext(): number | undefined {
    if (this.closed || this.fenced) return undefined;
    let seg = this.current;
    if (!seg || seg.next > seg.max) {
      if (!this.buffered) {
        this.prefetch();
        return undefined;
      }
      seg = this.current = this.buffered;
      this.buffered = undefined;
      // The rate's first window opens when the first segment comes into use.
      if (this.markAt < 0) {
        this.markAt = this.now();
        this.markHanded = this.handed;
      }
    }
    const id = seg.next++;
    this.handed++;
    if (!this.buffered && !this.fetching && id - (seg.max - seg.size) >= seg.prefetchAfter) {
      this.resize(seg);
      this.prefetch();
    }
    return id;
  }

  /**
   * Sizes the next grab from the rate since the last prefetch point (a whole segment's worth of ids), or, at the
   * first one, since the first segment came into use: the smallest `step` × 2^k (at most `maxStep`) lasting
   * `minSegmentMs`.
   */
  private resize(seg: Segment): void {
    // A retry after a failed grab comes a few ids after the last point: too few to tell a rate by.
    if (this.handed - this.markHanded < seg.prefetchAfter) return;
    const now = this.now();
    const msPerId = (now - this.markAt) / (this.handed - this.markHanded);
    this.markAt = now;
    this.markHanded = this.handed;
    let size = this.step;
    while (size < this.maxStep && size * msPerId < this.minSegmentMs) size *= 2;
    this.nextStep = Math.min(size, this.maxStep);
  }

  /** The next id, waiting for a segment only when both buffers ran dry; a failed grab rejects with its ImError. */
  async next(): Promise<number> {
    for (;;) {
      const id = this.tryNext();
      if (id !== undefined) return id;
      await this.waitForSegment();
    }
  }

  /** `n` ids in increasing order, from memory where possible. */
  async nextMany(n: number): Promise<number[]> {
    if (!Number.isInteger(n) || n < 0) throw new ImError(ErrorCode.INVALID_FIELD, 'count must be a non-negative integer');
    const ids: number[] = [];
    while (ids.length < n) {
      const id = this.tryNext();
      if (id !== undefined) ids.push(id);
      else await this.waitForSegment();
    }
    return ids;
  }

  /** Fetches the first segment now, so the first `tryNext` does not miss. */
  async warm(): Promise<void> {
    if (this.current || this.buffered) return;
    await this.waitForSegment();
  }

  /** Stops handing out ids; the ones not handed out are skipped for good. */
  close(): void {
    this.closed = true;
  }

  private async waitForSegment(): Promise<void> {
    if (this.closed) throw new ImError(ErrorCode.CLOSED, `allocator ${this.name} is closed`);
    if (this.fenced) throw this.fenced;
    const err = await this.prefetch();
    if (err) throw err;
  }

  /** Starts a grab unless one is in flight or the buffer is full; returns the grab to wait on. */
  private prefetch(): Promise<ImError | undefined> {
    if (this.fetching) return this.fetching;
    if (this.buffered || this.closed || this.fenced) return Promise.resolve(undefined);
    const fetching = this.grab().then(
      (seg) => {
        this.buffered = seg;
        return undefined;
      },
      (err: unknown) => {
        const e = err instanceof ImError ? err : new ImError(ErrorCode.INTERNAL, String(err), { cause: err });
        if (e.code === ErrorCode.FENCED) {
          this.fenced = e;
          this.current = this.buffered = undefined;
        }
        return e;
      },
    );
    this.fetching = fetching.finally(() => {
      this.fetching = undefined;
    });
    return this.fetching;
  }

  private async grab(): Promise<Segment> {
    const { name, nextStep: step, sql, fence } = this;
    const rows = await bounded(
      `segment ${name}`,
      sql<{ max_id: number }[]>`
        WITH f AS MATERIALIZED (${fenceRow(sql, fence)})
        INSERT INTO seq_segments (name, max_id, step)
        SELECT ${name}, ${step}, ${step} WHERE EXISTS (SELECT 1 FROM f)
        ON CONFLICT (name) DO UPDATE SET max_id = seq_segments.max_id + EXCLUDED.step, step = EXCLUDED.step, updated_at = now()
        RETURNING max_id`,
      this.timeoutMs,
    );
    if (rows.length === 0) throw fencedError(fence!, `segment ${name}`);
    const max = rows[0]!.max_id;
    return { next: max - step + 1, max, size: step, prefetchAfter: Math.max(1, Math.ceil(step * this.prefetchRatio)) };
  }
}
