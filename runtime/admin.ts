import type { NatsConnection } from 'nats';
import { encodeControl, type ControlReply } from '../protocol/control.js';
import { ErrorCode, ImError } from '../protocol/errors.js';
import { clusterSettingsSubject, clusterShardsSubject } from '../protocol/subjects.js';
import { ClusterSettingsStore } from '../storage/cluster-settings-store.js';
import type { Sql } from '../storage/db.js';
import { LeaseStore } from '../storage/lease-store.js';
import { cutOffFromNats, hostsKind, NodeStore, type NodeRow } from '../storage/node-store.js';
import { ShardMapStore, type ShardRow } from '../storage/shard-map-store.js';
import { COORDINATOR_LEASE, coordinatorNode } from './coordinator.js';
import { controlRequest, ShardMover, type MoveOutcome } from './handoff.js';
import type { Logger } from './logger.js';
import { diffAssignment, planAssignment, placementOf, planWaves, type ShardMove } from './placement.js';

export interface PlannedMove extends ShardMove {
  kind: string;
}

export interface ProgressEvent {
  done: number;
  total: number;
  wave: number;
  waves: number;
  last?: MoveOutcome;
  failed: number;
}

/** Operations behind `imctl`: read the shard map and nodes, plan and carry out planned moves. */
export class Admin {
  readonly shardMap: ShardMapStore;
  readonly nodes: NodeStore;
  private readonly leases: LeaseStore;
  private readonly mover?: ShardMover;

  constructor(
    readonly sql: Sql,
    private readonly nc: NatsConnection | undefined,
    private readonly log: Logger,
    private readonly timeoutMs: number,
  ) {
    this.shardMap = new ShardMapStore(sql);
    this.nodes = new NodeStore(sql);
    this.leases = new LeaseStore(sql);
    if (nc) {
      this.mover = new ShardMover({
        nc,
        shardMap: this.shardMap,
        nodes: this.nodes,
        log,
        phaseTimeoutMs: timeoutMs,
        notify: (kind, shards) => nc.publish(clusterShardsSubject(), encodeControl({ type: 'shards-changed', kind, shards })),
      });
    }
  }

  /** Every registered node with whether its lease is running. */
  async listNodes(): Promise<(NodeRow & { live: boolean })[]> {
    const [all, live] = await Promise.all([this.nodes.all(), this.nodes.live()]);
    const liveIds = new Set(live.map((n) => n.nodeId));
    return all.map((n) => ({ ...n, live: liveIds.has(n.nodeId) }));
  }

  /** The node holding the coordinator lease, if any. */
  async coordinator(): Promise<string | undefined> {
    const holder = await this.leases.holder(COORDINATOR_LEASE);
    return holder === undefined ? undefined : coordinatorNode(holder);
  }

  /** Asks a node what it serves (over NATS). */
  nodeStatus(nodeId: string): Promise<ControlReply> {
    if (!this.nc) throw new ImError(ErrorCode.UNAVAILABLE, 'no NATS connection');
    return controlRequest(this.nc, nodeId, { type: 'status' }, this.timeoutMs);
  }

  /** The moves that would balance `kinds` over the live, non-draining nodes (but `excluding`, when given). */
  async plan(kinds?: string[], excluding?: string): Promise<PlannedMove[]> {
    const live = await this.nodes.live();
    const inPlacement = live.filter((n) => n.state === 'alive' && n.nodeId !== excluding);
    // Moves to a node cut off from NATS are refused (NodeStore.takesShards): none is planned, and it keeps what it has.
    // Read over every live node: the one being drained, reaching NATS, is what shows that NATS is up.
    const cutOff = cutOffFromNats(live);
    // Not `unavailable`: the cluster answered, and what it said is that no node can take the shards.
    if (inPlacement.length === 0) throw new ImError(ErrorCode.CONFLICT, 'no live node to place shards on');
    const out: PlannedMove[] = [];
    const known = await this.shardMap.kinds();
    // A misspelt kind would plan nothing and read as "balanced already".
    for (const kind of kinds ?? []) if (!known.includes(kind)) throw new ImError(ErrorCode.NOT_FOUND, `unknown actor kind "${kind}" (known: ${known.join(', ')})`);
    for (const kind of kinds ?? known) {
      // Only nodes that host the kind: one started with other --kinds would be given shards it never serves.
      const eligible = inPlacement.filter((n) => hostsKind(n, kind)).map((n) => n.nodeId);
      if (eligible.length === 0) {
        // Asked for by name, it is a refusal; otherwise the other kinds still balance (left-over rows of a kind no
        // node runs any more must not block them).
        if (kinds !== undefined) throw new ImError(ErrorCode.CONFLICT, `no live node hosting ${kind} to place its shards on`);
        continue;
      }
      // A drain would hand the node's shards to nodes nobody reaches: refused, it keeps serving them.
      if (excluding !== undefined && eligible.every((n) => cutOff.has(n))) throw new ImError(ErrorCode.CONFLICT, `every other node hosting ${kind} is cut off from NATS (DOWN in imctl nodes): draining ${excluding} now would leave its shards unserved`);
      const rows = await this.shardMap.list(kind);
      const target = planAssignment(placementOf(kind, rows, eligible, cutOff));
      for (const m of diffAssignment(rows.map((r) => r.owner), target)) out.push({ ...m, kind });
    }
    return out;
  }

  /**
   * Carries out moves in waves of `waveSize` (moves in one wave run concurrently). Once `signal` is aborted no wave
   * starts: the moves in flight finish, and `notStarted` counts the rest.
   */
  async execute(
    moves: PlannedMove[],
    waveSize: number,
    onProgress: (e: ProgressEvent) => void,
    signal?: AbortSignal,
  ): Promise<{ outcomes: MoveOutcome[]; failures: { move: PlannedMove; error: string }[]; notStarted: number }> {
    const mover = this.requireMover();
    const waves = planWaves(moves, waveSize);
    const outcomes: MoveOutcome[] = [];
    const failures: { move: PlannedMove; error: string }[] = [];
    let done = 0;
    let started = 0;
    for (let w = 0; w < waves.length; w++) {
      if (signal?.aborted) break;
      started += waves[w]!.length;
      await Promise.all(
        waves[w]!.map(async (m) => {
          try {
            const o = await mover.move(m.kind, m.shard, m.to);
            outcomes.push(o);
            done++;
            onProgress({ done, total: moves.length, wave: w + 1, waves: waves.length, last: o, failed: failures.length });
          } catch (err) {
            failures.push({ move: m, error: (err as Error).message });
            onProgress({ done, total: moves.length, wave: w + 1, waves: waves.length, failed: failures.length });
          }
        }),
      );
    }
    return { outcomes, failures, notStarted: moves.length - started };
  }

  /** Moves one shard to a node, after checking both exist and that the node hosts the kind. */
  async move(kind: string, shard: number, to: string): Promise<MoveOutcome> {
    await this.checkShard(kind, shard);
    const n = await this.requireLiveNode(to);
    if (!hostsKind(n, kind)) throw new ImError(ErrorCode.INVALID_FIELD, `node ${to} does not host ${kind} (it hosts ${n.kinds!.join(', ') || 'nothing'})`);
    return this.requireMover().move(kind, shard, to);
  }

  private async checkShard(kind: string, shard: number): Promise<void> {
    const count = await this.shardMap.shardCount(kind);
    if (count === undefined) throw new ImError(ErrorCode.NOT_FOUND, `unknown actor kind "${kind}" (known: ${(await this.shardMap.kinds()).join(', ')})`);
    if (!Number.isInteger(shard) || shard < 0 || shard >= count) throw new ImError(ErrorCode.INVALID_FIELD, `shard must be an integer from 0 to ${count - 1}`);
  }

  /**
   * Marks a node draining (the coordinator places nothing new on it) and returns the moves that empty it. A dry run
   * only returns them: the node stays in placement.
   */
  async planDrain(nodeId: string, dryRun = false): Promise<PlannedMove[]> {
    const n = await this.requireLiveNode(nodeId, true);
    // Out of placement before the plan is read: a move to it that the coordinator began meanwhile would land after the
    // drain. A drain that cannot be planned (no other live node) puts it back, unless an earlier drain had it out.
    if (!dryRun) await this.nodes.holdOut(nodeId, true);
    try {
      // Moves to it begun before that (the coordinator's) land first, or the plan would leave their shards behind.
      const until = Date.now() + this.timeoutMs;
      while (!dryRun && (await this.shardMap.movingTo(nodeId)) > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
      const rows = (await this.shardMap.ownedBy(nodeId)) as ShardRow[];
      const moves = await this.plan([...new Set(rows.map((r) => r.kind))], nodeId);
      return moves.filter((m) => m.from === nodeId);
    } catch (err) {
      // Back as it was: in placement only if it was (not one shutting down, nor one an earlier drain holds out).
      if (!dryRun && n.state === 'alive') await this.nodes.holdOut(nodeId, false).catch(() => undefined);
      throw err;
    }
  }

  /** How many shards `nodeId` owns or is being given: what a drain has not moved off (0 once it is empty). */
  async stillOn(nodeId: string): Promise<number> {
    return (await this.shardMap.ownedBy(nodeId)).length + (await this.shardMap.movingTo(nodeId));
  }

  /** Pins a shard to its current owner (rebalancing and the coordinator leave it there) or unpins it. */
  async pin(kind: string, shard: number, pinned: boolean): Promise<void> {
    await this.checkShard(kind, shard);
    await this.shardMap.setPinned(kind, shard, pinned);
  }

  /**
   * Changes a cluster setting and tells every node, then waits (up to the admin timeout) until each live node's
   * heartbeat reports the new value. Returns the live nodes that did and those that had not yet.
   */
  async changeSetting(name: string, value: string): Promise<{ applied: string[]; pending: string[] }> {
    if (!this.nc) throw new ImError(ErrorCode.UNAVAILABLE, 'changing a setting needs NATS, to tell the nodes');
    await new ClusterSettingsStore(this.sql).set(name, value);
    this.nc.publish(clusterSettingsSubject(), encodeControl({ type: 'settings-changed', name }));
    await this.nc.flush();
    const until = Date.now() + this.timeoutMs;
    for (;;) {
      const running = await this.runningSettings();
      const applied = running.filter((n) => n.settings[name] === value).map((n) => n.nodeId);
      const pending = running.filter((n) => n.settings[name] !== value).map((n) => n.nodeId);
      if (pending.length === 0 || Date.now() >= until) return { applied, pending };
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** The cluster settings each live node runs with, as its last heartbeat reported them. */
  async runningSettings(): Promise<{ nodeId: string; settings: Record<string, string> }[]> {
    const live = await this.nodes.live();
    return live.map((n) => ({ nodeId: n.nodeId, settings: (n.load['settings'] ?? {}) as Record<string, string> }));
  }

  /** Puts a node `imctl drain` took out back into placement; shards return to it through rebalancing. */
  async undrain(nodeId: string): Promise<void> {
    await this.requireLiveNode(nodeId, true);
    // A node shutting down drains by itself: put back, it would be given shards it refuses.
    if (!(await this.nodes.holdOut(nodeId, false))) throw new ImError(ErrorCode.CONFLICT, `node ${nodeId} is shutting down`);
  }

  /** Removes a dead node from the registry (`imctl nodes` lists it no more, its cordon goes): never a live one. */
  async forget(nodeId: string): Promise<void> {
    if (await this.nodes.forget(nodeId)) return;
    const n = (await this.listNodes()).find((x) => x.nodeId === nodeId);
    if (n === undefined) throw new ImError(ErrorCode.NOT_FOUND, `unknown node "${nodeId}"`);
    if (n.live) throw new ImError(ErrorCode.CONFLICT, `node ${nodeId} is live: drain it and stop it first`);
    throw new ImError(ErrorCode.CONFLICT, `node ${nodeId} still owns shards: the coordinator reassigns a dead node's within seconds; try again`);
  }

  private async requireLiveNode(nodeId: string, allowDraining = false): Promise<NodeRow> {
    const live = await this.nodes.live();
    const n = live.find((x) => x.nodeId === nodeId);
    if (!n) {
      const known = (await this.nodes.all()).map((x) => x.nodeId);
      throw new ImError(ErrorCode.NOT_FOUND, known.includes(nodeId) ? `node ${nodeId} is not live (its lease ran out)` : `unknown node "${nodeId}" (known: ${known.join(', ') || 'none'})`);
    }
    if (!allowDraining && n.state !== 'alive') throw new ImError(ErrorCode.INVALID_FIELD, `node ${nodeId} is ${n.state}`);
    return n;
  }

  private requireMover(): ShardMover {
    if (!this.mover) throw new ImError(ErrorCode.UNAVAILABLE, 'moving shards needs a NATS connection (--nats)');
    return this.mover;
  }
}
