import { ChatKind } from '../../protocol/chat-ops.js';
import { shardOf } from '../../protocol/shard-hash.js';
import type { Logger } from '../../runtime/logger.js';
import type { NodeRow, NodeStore } from '../../storage/node-store.js';
import type { ShardMapStore, ShardRow } from '../../storage/shard-map-store.js';

/** Endpoints the dispatcher answers with, at most. */
export const MAX_ENDPOINTS = 8;
const REFRESH_MS = 2000;

interface Gw {
  nodeId: string;
  endpoint: string;
  connections: number;
  accepting: boolean;
}

/** Connector shards whose owner or epoch differs between two reads of the map (none on the first read). */
export function changedShards(before: readonly ShardRow[], after: readonly ShardRow[]): number[] {
  if (before.length === 0) return [];
  const was = new Map(before.map((r) => [r.shard, r]));
  const out: number[] = [];
  for (const r of after) {
    const b = was.get(r.shard);
    if (!b || b.owner !== r.owner || b.epoch !== r.epoch) out.push(r.shard);
  }
  return out;
}

/**
 * The dispatcher's view of the cluster (seed 000's ip config server): live gateways with their load, and who
 * owns each connector shard, refreshed from Postgres every couple of seconds. A user is sent first to the node
 * that owns their connector shard (their pushes then never leave the process), then to the least loaded.
 */
export class NodeDirectory {
  private gateways: Gw[] = [];
  /** The connector shard map as last read, in shard order. */
  private rows: ShardRow[] = [];
  private movedListener: ((shards: number[]) => void) | undefined;
  private liveListener: ((live: readonly NodeRow[]) => void) | undefined;
  private readonly timer: NodeJS.Timeout;
  private refreshing?: Promise<void>;

  constructor(
    private readonly selfId: string,
    private readonly nodes: NodeStore,
    private readonly shardMap: ShardMapStore,
    private readonly log: Logger,
  ) {
    this.timer = setInterval(() => void this.refresh(), REFRESH_MS);
    this.timer.unref();
  }

  /** Re-reads nodes and connector shard owners. */
  refresh(): Promise<void> {
    this.refreshing ??= (async () => {
      try {
        const [live, shards] = await Promise.all([this.nodes.live(), this.shardMap.list(ChatKind.CONNECTOR)]);
        this.gateways = live
          .filter((n) => n.endpoints.length > 0)
          .map((n) => ({
            nodeId: n.nodeId,
            endpoint: n.endpoints[0]!,
            connections: Number(n.load['connections'] ?? 0),
            // A node cut off from NATS still renews its lease in Postgres, but cannot route a message: no clients.
            accepting: n.state === 'alive' && n.load['accepting'] !== false && n.load['nats'] !== false,
          }));
        this.liveListener?.(live);
        const moved = changedShards(this.rows, shards);
        this.rows = shards;
        if (moved.length > 0) this.movedListener?.(moved);
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'directory refresh failed');
      }
    })().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  /** Up to 8 endpoints for a user: its connector shard's node first when it accepts, then the least loaded. */
  async endpointsFor(uid: string): Promise<string[]> {
    if (this.gateways.length === 0) await this.refresh();
    const open = this.gateways.filter((g) => g.accepting).sort((a, b) => a.connections - b.connections);
    const owner = this.rows.length > 0 ? this.rows[shardOf(uid, this.rows.length)]!.owner : undefined;
    const first = open.find((g) => g.nodeId === owner);
    const list = first ? [first, ...open.filter((g) => g !== first)] : open;
    return list.slice(0, MAX_ENDPOINTS).map((g) => g.endpoint);
  }

  /** Other accepting gateways, least loaded first: where this node sends clients it refuses or moves. */
  others(): string[] {
    return this.gateways
      .filter((g) => g.accepting && g.nodeId !== this.selfId)
      .sort((a, b) => a.connections - b.connections)
      .slice(0, MAX_ENDPOINTS)
      .map((g) => g.endpoint);
  }

  /**
   * Calls `listener` with the connector shards whose owner or epoch changed since the last read: a second way
   * for the gateway to learn of a move, for when it missed the new owner's announcement on NATS.
   */
  onConnectorMoves(listener: (shards: number[]) => void): void {
    this.movedListener = listener;
  }

  /** Calls `listener` with every read of the live nodes (so that nothing else on the node reads them again). */
  onLiveNodes(listener: (live: readonly NodeRow[]) => void): void {
    this.liveListener = listener;
  }

  close(): void {
    clearInterval(this.timer);
  }
}
