import { ErrorCode, ImError } from '../protocol/errors.js';
import type { Sql } from './db.js';
import { toStorageError } from './pg-errors.js';
import type { Fence } from './types.js';

export interface SegmentAllocatorOptions {
  /** The sequence's name; every allocator of one name shares its id space. */
  name: string;
  /** Ids per segment (one UPDATE per segment). */
  step?: number;
  /** Start fetching the next segment once this share of the current one is used (double buffer). */
  prefetchAt?: number;
  /** When set, segment grabs are refused with FENCED once the shard's epoch moved on. */
  fence?: Fence;
}

export const DEFAULT_SEGMENT_STEP = 1000;
export const DEFAULT_PREFETCH_AT = 0.1;

interface Segment {
  next: number;
  /** Inclusive. */
  max: number;
  size: number;
}

/**
 * Leaf-style segment mode: one `UPDATE … RETURNING` grabs the range (max_id, max_id + step], ids are then
 * handed out from memory. Once 10% of the current segment is used the next one is fetched in the background,
 * so the hot path (`tryNext`) never waits on Postgres. Ids of one name are unique and strictly increasing
 * across restarts and across racing allocators: each grab advances max_id atomically, and a restarted
 * allocator only ever sees ranges above every range handed out before (unused ids are skipped, never reused).
 */
export class SegmentAllocator {
  readonly name: string;
  private readonly step: number;
  private readonly prefetchAt: number;
  private current?: Segment;
  private buffered?: Segment;
  private fetching?: Promise<void>;
  private lastError?: ImError;
  private closed = false;

  constructor(
    private readonly sql: Sql,
    private readonly opts: SegmentAllocatorOptions,
  ) {
    if (!opts.name) throw new ImError(ErrorCode.INVALID_FIELD, 'segment name must not be empty');
    this.name = opts.name;
    this.step = opts.step ?? DEFAULT_SEGMENT_STEP;
    if (!Number.isInteger(this.step) || this.step < 1) throw new ImError(ErrorCode.INVALID_FIELD, 'segment step must be a positive integer');
    this.prefetchAt = opts.prefetchAt ?? DEFAULT_PREFETCH_AT;
  }

  /** True when the next segment is already in memory (the double buffer is full). */
  get prefetched(): boolean {
    return this.buffered !== undefined;
  }

  /** The next id from memory, or undefined when both buffers are empty (call `next()` then). */
  tryNext(): number | undefined {
    let seg = this.current;
    if (!seg || seg.next > seg.max) {
      if (!this.buffered) {
        this.prefetch();
        return undefined;
      }
      seg = this.current = this.buffered;
      this.buffered = undefined;
    }
    const id = seg.next++;
    if (!this.buffered && !this.fetching && seg.size - (seg.max - seg.next + 1) >= seg.size * this.prefetchAt) this.prefetch();
    return id;
  }

  /** The next id, waiting for a segment only when both buffers ran dry. */
  async next(): Promise<number> {
    for (;;) {
      const id = this.tryNext();
      if (id !== undefined) return id;
      if (this.closed) throw new ImError(ErrorCode.CLOSED, `allocator ${this.name} is closed`);
      this.prefetch();
      await this.fetching;
      if (!this.buffered && this.lastError) {
        const err = this.lastError;
        this.lastError = undefined;
        throw err;
      }
    }
  }

  /** Fetches the first segment now, so the first `tryNext` does not miss. */
  async warm(): Promise<void> {
    if (this.current || this.buffered) return;
    this.prefetch();
    await this.fetching;
    if (!this.buffered && this.lastError) throw this.lastError;
  }

  /** Stops prefetching; ids not handed out are skipped for good. */
  close(): void {
    this.closed = true;
  }

  private prefetch(): void {
    if (this.fetching || this.buffered || this.closed) return;
    this.fetching = this.grab()
      .then((seg) => {
        this.buffered = seg;
        this.lastError = undefined;
      })
      .catch((err: unknown) => {
        this.lastError = toStorageError(err, `segment ${this.name}`);
      })
      .finally(() => {
        this.fetching = undefined;
      });
  }

  private async grab(): Promise<Segment> {
    const { name, step } = this;
    const f = this.opts.fence;
    let rows: { max_id: number }[];
    if (!f) {
      rows = await this.sql<{ max_id: number }[]>`
        INSERT INTO seq_segments (name, max_id, step) VALUES (${name}, ${step}, ${step})
        ON CONFLICT (name) DO UPDATE SET max_id = seq_segments.max_id + ${step}, step = ${step}, updated_at = now()
        RETURNING max_id`;
    } else {
      rows = await this.sql<{ max_id: number }[]>`
        WITH f AS (SELECT 1 FROM shards WHERE kind = ${f.kind} AND shard = ${f.shard} AND epoch = ${f.epoch} FOR SHARE)
        INSERT INTO seq_segments (name, max_id, step)
        SELECT ${name}, ${step}, ${step} WHERE EXISTS (SELECT 1 FROM f)
        ON CONFLICT (name) DO UPDATE SET max_id = seq_segments.max_id + ${step}, step = ${step}, updated_at = now()
        RETURNING max_id`;
      if (rows.length === 0) throw new ImError(ErrorCode.FENCED, `segment ${name}: shard ${f.kind}/${f.shard} is no longer at epoch ${f.epoch}`);
    }
    const max = rows[0]!.max_id;
    return { next: max - step + 1, max, size: step };
  }
}
