import type { Sql } from '../storage/db.js';
import { SegmentAllocator } from '../storage/segment-allocator.js';
import type { Fence } from '../storage/types.js';

/** Ids per segment grab: at 25k msgs/s over ~85 shards a node grabs a segment every few seconds per shard. */
export const CHATTER_SEGMENT_STEP = 10_000;

/**
 * One seq allocator per chatter shard and epoch, shared by every conversation of the shard on this node.
 * Seqs of a conversation are then unique and increasing but not contiguous (`prev` links them). Fencing the
 * allocator with the shard's epoch means a deposed owner cannot even reserve ids; the new owner's first grab
 * lies above every id the old one could have used.
 */
export class ShardSegments {
  private readonly byShard = new Map<number, { epoch: number; alloc: SegmentAllocator }>();

  constructor(
    private readonly sql: Sql,
    private readonly step = CHATTER_SEGMENT_STEP,
  ) {}

  /** The allocator of the fence's shard at the fence's epoch (an older epoch's allocator is closed). */
  get(fence: Fence): SegmentAllocator {
    const cur = this.byShard.get(fence.shard);
    if (cur && cur.epoch === fence.epoch) return cur.alloc;
    cur?.alloc.close();
    const alloc = new SegmentAllocator(this.sql, { name: `${fence.kind}:${fence.shard}`, step: this.step, fence });
    this.byShard.set(fence.shard, { epoch: fence.epoch, alloc });
    return alloc;
  }

  /** Closes every allocator; unused ids are skipped for good. */
  close(): void {
    for (const a of this.byShard.values()) a.alloc.close();
    this.byShard.clear();
  }
}
