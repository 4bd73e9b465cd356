import { performance } from 'node:perf_hooks';
import { ErrorCode, toImError } from '../protocol/errors.js';
import type { LeaseStore } from '../storage/lease-store.js';
import { cutOffFromNats, hostsKind, type NodeStore } from '../storage/node-store.js';
import type { ShardMapStore, ShardRow } from '../storage/shard-map-store.js';
import type { ShardMover } from './handoff.js';
import type { Logger } from './logger.js';
import { diffAssignment, planAssignment, placementOf } from './placement.js';

export const COORDINATOR_LEASE = 'coordinator';

/** The coordinator lease's holder for one process of node `nodeId`. */
export function coordinatorHolder(nodeId: string, incarnation: string): string {
  return `${nodeId}#${incarnation}`;
}

/** The node a coordinator lease holder names (a holder from before incarnations were named is the node id). */
export function coordinatorNode(holder: string): string {
  const at = holder.lastIndexOf('#');
  return at < 0 ? holder : holder.slice(0, at);
}

export interface CoordinatorOptions {
  nodeId: string;
  /**
   * This process's name in the lease (coordinatorHolder): an earlier process of the same node, frozen and woken
   * again, must neither renew nor give up its successor's lease.
   */
  holder: string;
  kinds: string[];
  leases: LeaseStore;
  nodes: NodeStore;
  shardMap: ShardMapStore;
  mover: ShardMover;
  log: Logger;
  tickMs: number;
  leaseMs: number;
  /** A 'moving' shard untouched for this long lost its mover: it is rolled back. */
  stuckMoveMs: number;
  /** Move shards onto new nodes (and off draining ones) by itself, this many per tick. 0 = only by imctl. */
  autoRebalanceMoves: number;
  /** Membership must be unchanged this long before automatic rebalancing moves anything. */
  settleMs: number;
  notify: (kind: string, shards: number[]) => void;
  /**
   * Whether this node may coordinate now (its own lease is valid). A node that lost its lease — cut off from NATS,
   * say — gives the coordinator lease up: its moves would fail, and a live node's coordinator would make them.
   */
  active?: () => boolean;
}

/**
 * One node at a time (the holder of the coordinator lease) keeps the shard map whole: shards of dead or
 * departed nodes get a new owner with a bumped epoch, stuck moves are rolled back, and (optionally) new
 * nodes receive their share through planned moves.
 */
export class Coordinator {
  private timer?: NodeJS.Timeout;
  private running = false;
  private leader = false;
  /** When the lease was last taken or renewed (performance.now()). */
  private acquiredAt = 0;
  private lastMembers = '';
  private membersSince = Date.now();
  private stopped = false;

  constructor(private readonly opts: CoordinatorOptions) {}

  /** True while this node holds the coordinator lease. */
  get isLeader(): boolean {
    return this.leader;
  }

  start(): void {
    const loop = async (): Promise<void> => {
      await this.tick();
      if (this.timer !== undefined) this.timer = setTimeout(() => void loop(), this.opts.tickMs);
    };
    this.timer = setTimeout(() => void loop(), 0);
  }

  /** Stops ticking and gives the lease up so another node takes over at once. */
  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    // A round in progress ends at its next kind or move (each statement and move phase has its deadline).
    this.stopped = true;
    while (this.running) await new Promise((r) => setTimeout(r, 10));
    if (this.leader) await this.opts.leases.release(COORDINATOR_LEASE, this.opts.holder).catch(() => undefined);
    this.leader = false;
  }

  /** One round: take or keep the lease, then repair the shard map. Never throws. */
  async tick(): Promise<void> {
    if (this.running || this.stopped) return;
    this.running = true;
    try {
      const was = this.leader;
      if (this.opts.active?.() === false) {
        if (was) await this.opts.leases.release(COORDINATOR_LEASE, this.opts.holder);
        this.leader = false;
      } else this.leader = await this.acquire();
      if (this.leader !== was) this.opts.log.info({ leader: this.leader }, this.leader ? 'became coordinator' : 'lost coordinator lease');
      if (this.leader) await this.reconcile();
    } catch (err) {
      const e = toImError(err);
      this.opts.log.warn({ code: e.code, err: e.message }, 'coordinator round failed');
    } finally {
      this.running = false;
    }
  }

  /**
   * Renews the lease within a round, before each kind and each move, once a third of it has passed: a round of slow
   * moves can outlast the lease, and another node's coordinator may have begun rounds of its own since. A quick round
   * costs no statement more than its tick's. False (and the round ends) once it is lost.
   */
  private async stillLeader(): Promise<boolean> {
    if (this.stopped) return false;
    if (performance.now() - this.acquiredAt < this.opts.leaseMs / 3) return this.leader;
    this.leader = await this.acquire();
    if (!this.leader) this.opts.log.info({ leader: false }, 'lost coordinator lease');
    return this.leader;
  }

  /** Takes or renews the lease; the time counts from before the statement (its answer may come late). */
  private async acquire(): Promise<boolean> {
    const at = performance.now();
    const won = await this.opts.leases.acquire(COORDINATOR_LEASE, this.opts.holder, this.opts.leaseMs);
    if (won) this.acquiredAt = at;
    return won;
  }

  private async reconcile(): Promise<void> {
    for (const kind of this.opts.kinds) {
      if (!(await this.stillLeader())) return;
      // Read again for each kind: one kind's moves take seconds, and a node drained or closing meanwhile must not be
      // given the next kind's orphans (a closing node would never serve them), nor one just joined its share at once.
      const live = await this.opts.nodes.live();
      const inPlacement = live.filter((n) => n.state === 'alive');
      const members = inPlacement.map((n) => n.nodeId).sort().join(',');
      if (members !== this.lastMembers) {
        this.lastMembers = members;
        this.membersSince = Date.now();
      }
      const cutOff = cutOffFromNats(live);
      // Only nodes that host the kind (`--kinds`). None in placement (every live one drained): orphans still need an
      // owner, and one imctl holds out serves them (one shutting down would refuse them), where the kind would stay
      // dark until someone ran undrain.
      let eligible = inPlacement.filter((n) => hostsKind(n, kind)).map((n) => n.nodeId).sort();
      const fallback = eligible.length === 0;
      if (fallback) eligible = live.filter((n) => n.heldOut && !n.closing && hostsKind(n, kind)).map((n) => n.nodeId).sort();
      const rows = await this.opts.shardMap.list(kind);
      // A live owner that does not host the kind never serves its shards: they are orphans as a dead owner's are.
      const hosting = new Set(live.filter((n) => hostsKind(n, kind)).map((n) => n.nodeId));
      await this.repairKind(kind, rows, hosting, eligible, fallback, cutOff);
    }
  }

  private async repairKind(kind: string, rows: ShardRow[], hosting: Set<string>, eligible: string[], fallback: boolean, cutOff: Set<string>): Promise<void> {
    const { shardMap, log } = this.opts;
    const now = Date.now();
    // A move whose mover vanished: roll it back so the shard is either served by its owner or reassigned below.
    // Postgres' clock decides how old it is: this node's may be behind (a longer outage) or ahead (every move aborted).
    for (const r of rows) {
      if (r.state === 'moving') {
        const back = await shardMap.abortMove(kind, r.shard, r.epoch, this.opts.stuckMoveMs);
        if (back) Object.assign(r, back);
      }
    }
    if (eligible.length === 0) return;
    // Orphans and moves go to nodes that reach NATS; one cut off keeps what it has until it gives way (its lease).
    const target = planAssignment(placementOf(kind, rows, eligible, cutOff));
    // Orphans: unassigned, or owned by a node whose lease ran out — also mid-move: a dead owner finishes nothing,
    // and the mover's own compare-and-set simply loses. A live owner's move is the mover's business.
    const orphans = rows.filter((r) => r.owner === null || !hosting.has(r.owner));
    if (orphans.length > 0) {
      const won = await shardMap.assignMany(orphans.map((r) => ({ kind, shard: r.shard, expectedEpoch: r.epoch, owner: target[r.shard]! })));
      if (won.length > 0) {
        const dead = [...new Set(orphans.map((r) => r.owner).filter(Boolean))];
        if (fallback) log.warn({ kind, count: won.length, dead, to: eligible }, 'reassigned orphaned shards to drained nodes: no node is in placement (imctl undrain one)');
        else log.info({ kind, count: won.length, dead }, 'reassigned orphaned shards');
        this.opts.notify(kind, won.map((r) => r.shard));
      }
      return;
    }
    if (fallback || this.opts.autoRebalanceMoves <= 0 || now - this.membersSince < this.opts.settleMs) return;
    if (rows.some((r) => r.state === 'moving')) return;
    const moves = diffAssignment(rows.map((r) => r.owner), target).slice(0, this.opts.autoRebalanceMoves);
    for (const m of moves) {
      if (!(await this.stillLeader())) return;
      try {
        await this.opts.mover.move(kind, m.shard, m.to);
      } catch (err) {
        const e = toImError(err);
        log.warn({ kind, shard: m.shard, code: e.code, err: e.message }, 'automatic move failed');
        // A target that takes no shards now (draining, its lease run out, cut off from NATS) refuses its own moves
        // only: the round goes on with the others, which a refusal at its head held back for as long as it lasted.
        if (e.code === ErrorCode.CONFLICT) continue;
        return;
      }
    }
    if (moves.length > 0) log.info({ kind, moved: moves.length }, 'rebalanced shards');
  }
}
