import { cutOffFromNats, hostsKind, type NodeStore } from '../storage/node-store.js';
import type { ShardMapStore } from '../storage/shard-map-store.js';
import type { ShardMover } from './handoff.js';
import type { Logger } from './logger.js';
import { planAssignment, placementOf } from './placement.js';

/** Rounds a drain makes at most over what the map gives the node (a failed move is tried again in the next). */
export const DRAIN_ROUNDS = 3;
/** Pause before a round again after it failed to read the map (Postgres failing over, a slow statement). */
export const DRAIN_RETRY_MS = 1_000;

/** What a drain reads and moves through. */
export interface DrainDeps {
  nodeId: string;
  /** This process's life as the node: only it is marked closing. */
  incarnation: string;
  /** Whether its lease still runs: once lapsed (the database out of reach, most likely), there is nothing to hand over. */
  member: () => boolean;
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
  // Out of placement first, or the coordinator would go on giving it shards. A statement that failed (a rolling
  // upgrade during a Postgres failover) is tried again in the next round, rather than skipping the whole drain.
  let marked = false;
  for (let round = 0; round < DRAIN_ROUNDS && d.member(); round++) {
    try {
      if (!marked) {
        marked = await d.nodes.markClosing(d.nodeId, d.incarnation);
        if (!marked) return d.log.warn('draining: another process holds this node id now; its shards are not this one\'s to move');
      }
      const owned = await d.shardMap.ownedBy(d.nodeId);
      if (owned.length === 0 || !(await drainKinds(d, new Set(owned.map((r) => r.kind))))) return;
    } catch (err) {
      d.log.warn({ round, err: (err as Error).message }, round + 1 < DRAIN_ROUNDS ? 'drain round failed; trying again' : 'drain round failed; giving up');
      if (round + 1 < DRAIN_ROUNDS) await new Promise((r) => setTimeout(r, DRAIN_RETRY_MS));
    }
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
