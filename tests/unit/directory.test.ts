import { describe, expect, it } from 'vitest';
import { changedShards } from '../../actors/gateway/directory.js';
import type { ShardRow } from '../../storage/shard-map-store.js';

const row = (shard: number, owner: string | null, epoch: number): ShardRow => ({ kind: 'connector', shard, owner, epoch, state: 'active', target: null, pinned: false, updatedAt: 0 });

describe('directory – connector moves seen in the shard map', () => {
  it('directory – shards whose owner or epoch changed between two reads are reported, others are not', () => {
    const before = [row(0, 'n1', 3), row(1, 'n2', 5), row(2, 'n3', 1), row(3, null, 0)];
    const after = [row(0, 'n1', 3), row(1, 'n3', 6), row(2, 'n3', 2), row(3, 'n1', 1)];
    expect(changedShards(before, after)).toEqual([1, 2, 3]);
  });

  it('directory – the first read reports nothing (the gateway attached its sessions as they connected)', () => {
    expect(changedShards([], [row(0, 'n1', 3)])).toEqual([]);
  });
});
