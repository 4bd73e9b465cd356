import type { Fence } from '../storage/types.js';

/** Seqs reserved ahead per grab: a shard's chatters take a grab only when one of its conversations passes the last. */
export const CHATTER_RESERVE_STEP = 10_000;

interface ShardReservation {
  kind: string;
  epoch: number;
  /** Every seq up to this one is reserved for the shard at this epoch (0: none known yet). */
  through: number;
  /** The grab in flight, which every chatter of the shard waits on. */
  pending?: Promise<void>;
}

/** Raises segment `name` to cover `id` with `step` to spare under `fence`; resolves with the segment's new top (storage's reserveThrough). */
export type ReserveGrab = (name: string, fence: Fence, id: number, step: number) => Promise<number>;

/**
 * The seqs a node's chatters may give out, per chatter shard: a chatter numbers its conversation's messages itself
 * (its last seq + 1), and reserves them in the shard's segment (`chatter:<shard>`, Leaf-style, `step` at a time)
 * before it gives one out. Nodes of older versions took every seq from that segment; reserved, a seq of ours is one
 * they can never hand out again should such a node take the shard (an upgrade under way, a rollback). Reservations
 * are fenced by the shard's epoch, and one of an older epoch is forgotten.
 */
export class SeqReservations {
  /** By shard (each names its kind): `covers` runs for every message, and builds no key string. */
  private readonly byShard = new Map<number, ShardReservation>();

  constructor(
    private readonly grab: ReserveGrab,
    private readonly step = CHATTER_RESERVE_STEP,
  ) {}

  /** True when `seq` may be given out under `fence` now, without waiting. */
  covers(fence: Fence, seq: number): boolean {
    const r = this.byShard.get(fence.shard);
    return r !== undefined && r.kind === fence.kind && r.epoch === fence.epoch && seq <= r.through;
  }

  /** Resolves once `seq` is reserved under `fence`; FENCED when the shard moved on, as a storage error when Postgres failed. */
  async reserve(fence: Fence, seq: number): Promise<void> {
    for (;;) {
      let r = this.byShard.get(fence.shard);
      if (r === undefined || r.kind !== fence.kind || r.epoch < fence.epoch) this.byShard.set(fence.shard, (r = { kind: fence.kind, epoch: fence.epoch, through: 0 }));
      // A chatter of an older epoch is fenced out at commit anyway: it reserves nothing new for the shard.
      if (r.epoch > fence.epoch || seq <= r.through) return;
      if (r.pending === undefined) {
        const shard = r;
        shard.pending = this.grab(segmentName(fence), fence, seq, this.step)
          .then((through) => {
            shard.through = Math.max(shard.through, through);
          })
          .finally(() => {
            shard.pending = undefined;
          });
      }
      await r.pending;
    }
  }

  /** Starts reserving `seq` unless it is covered, without waiting: a chatter's first send then finds it done. A failure is that send's to meet. */
  warm(fence: Fence, seq: number): void {
    if (!this.covers(fence, seq)) this.reserve(fence, seq).catch(() => undefined);
  }

  /** Forgets every reservation (the node is closing). */
  clear(): void {
    this.byShard.clear();
  }
}

/** The segment older versions took the shard's seqs from. */
function segmentName(fence: Fence): string {
  return `${fence.kind}:${fence.shard}`;
}
