import { cutOffFromNats, hostsKind, type NodeStore } from '../storage/node-store.js';
import type { ShardMapStore } from '../storage/shard-map-store.js';
import type { ShardMover } from './handoff.js';
import type { Logger } from './logger.js';
import { planAssignment, placementOf } from './placement.js';

/** Rounds a drain makes at most over what the map gives the node (a failed move is tried again in the next). */
export const DRAIN_ROUNDS = 3;

/** What a drain reads and moves through. */
export interface DrainDeps {
  nodeId: string;
  nodes: NodeStore;
  shardMap: ShardMapStore;
  mover: ShardMover;
  log: Logger;
}

/**
 * Moves every shard the map gives `d.nodeId` to the other live nodes hosting its kind (planned moves). It goes by
 * what the map gives the node, not what it serves now (after a lease blip it may serve nothing it owns), in rounds:
 * a move to this node begun before it was draining lands after its kind was handled. A failed move is logged and
 * tried again in the next round; what is left at the end is reassigned when the node's lease runs out.
 */
export async function drainShards(d: DrainDeps): Promise<void> {
  for (let round = 0; round < DRAIN_ROUNDS; round++) {
    const owned = await d.shardMap.ownedBy(d.nodeId);
    if (owned.length === 0 || !(await drainKinds(d, new Set(owned.map((r) => r.kind))))) break;
  }
}

/** One round of a drain: each kind's shards on the node move to the others; false when there are no others. */
async function drainKinds(d: DrainDeps, kinds: Set<string>): Promise<boolean> {
  for (const kind of kinds) {
    // Read again for each kind: a peer drained at the same time (a scale-down by two) must not be given shards.
    const live = await d.nodes.live();
    const others = live.filter((n) => n.state === 'alive' && n.nodeId !== d.nodeId && hostsKind(n, kind)).map((n) => n.nodeId);
    if (others.length === 0) return false;
    const rows = await d.shardMap.list(kind);
    // Not to a node cut off from NATS (it refuses moves while another reaches NATS): it keeps what it has.
    const target = planAssignment(placementOf(kind, rows, others, cutOffFromNats(live)));
    const mine = rows.filter((r) => r.owner === d.nodeId);
    const t0 = Date.now();
    await Promise.all(mine.map((r) => d.mover.move(kind, r.shard, target[r.shard]!).catch((err: unknown) => d.log.warn({ kind, shard: r.shard, err: (err as Error).message }, 'drain move failed'))));
    d.log.info({ kind, moved: mine.length, ms: Date.now() - t0 }, 'drained shards');
  }
  return true;
}
