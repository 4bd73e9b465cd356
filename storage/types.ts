/**
 * The proof that a write is made by the current owner of a shard. Every store method that writes on behalf
 * of a shard takes one and checks it against `shards.epoch` in the same statement or transaction
 * (a `FOR SHARE` read of the shard row, so an epoch bump waits for in-flight writes). A stale fence
 * fails the write with ImError(FENCED) and writes nothing.
 */
export interface Fence {
  kind: string;
  shard: number;
  epoch: number;
}
