import { ErrorCode, ImError } from '../protocol/errors.js';
import type { Sql } from './db.js';
import { bounded, boundedTx, guard, txTimeouts } from './pg-errors.js';

export type NodeState = 'alive' | 'draining' | 'left';

export interface NodeRow {
  nodeId: string;
  endpoints: string[];
  state: NodeState;
  /** Still serving but out of placement (state 'draining'). */
  draining: boolean;
  startedAt: number;
  /** ms since the epoch, database clock. */
  leaseUntil: number;
  load: Record<string, unknown>;
  /** The process that registered the node id last. */
  incarnation: string;
  /** `imctl drain` took it out of placement: it stays out across restarts until `imctl undrain`. */
  heldOut: boolean;
  /** Draining to stop (SIGTERM, close): never put back into placement, nor given shards. */
  closing: boolean;
  /** The actor kinds it hosts; undefined: not written yet, read as every kind. */
  kinds: string[] | undefined;
}

interface RawNode {
  node_id: string;
  endpoints: string[];
  state: NodeState;
  started_at: Date;
  lease_until: Date;
  load: Record<string, unknown>;
  incarnation: string;
  held_out: boolean;
  kinds: string[] | null;
}

const toNode = (r: RawNode): NodeRow => ({
  nodeId: r.node_id,
  endpoints: r.endpoints,
  state: r.state,
  draining: r.state === 'draining',
  startedAt: r.started_at.getTime(),
  leaseUntil: r.lease_until.getTime(),
  load: r.load,
  incarnation: r.incarnation,
  heldOut: r.held_out,
  closing: r.load?.['closing'] === true,
  kinds: r.kinds ?? undefined,
});

/** Whether a node hosts actors of `kind` (a row without kinds hosts every kind). */
export function hostsKind(n: Pick<NodeRow, 'kinds'>, kind: string): boolean {
  return n.kinds === undefined || n.kinds.includes(kind);
}

/**
 * The nodes of `nodes` whose last heartbeat said their NATS link was down (see placementOf: they take no shards);
 * none when that is every one of them: NATS itself is down, which says nothing against any (as takesShards reads it).
 */
export function cutOffFromNats(nodes: readonly Pick<NodeRow, 'nodeId' | 'load'>[]): Set<string> {
  const cut = nodes.filter((n) => n.load?.['nats'] === false).map((n) => n.nodeId);
  return new Set(cut.length === nodes.length ? [] : cut);
}

/** A registration: the node's row, and whether it took the id over from another process (its shards' epochs went up). */
export type Registration = NodeRow & { tookOver: boolean };

/** A node id is held by another process whose lease still runs: two processes must never share one. */
export class NodeIdInUseError extends ImError {
  override readonly name = 'NodeIdInUseError';

  constructor(
    readonly nodeId: string,
    /** How much longer the holder's lease runs, by the database clock. */
    readonly leaseLeftMs: number,
  ) {
    super(ErrorCode.CONFLICT, `node id ${nodeId} is held by another live process (its lease runs ${leaseLeftMs} ms more); every node process needs its own --node-id`);
  }
}

function checkLease(ms: number): void {
  if (!Number.isFinite(ms) || ms <= 0) throw new ImError(ErrorCode.INVALID_FIELD, `lease must be a positive number of ms, got ${ms}`);
}

/** Node registrations and their leases. Lease times use the database clock only, so node clocks may drift. */
export class NodeStore {
  constructor(private readonly sql: Sql) {}

  /**
   * Registers process `incarnation` as node `nodeId`, alive with a fresh lease. Refused (NodeIdInUseError) while
   * another incarnation's lease runs; with `timeoutMs`, TIMEOUT when a statement or lock wait would outlast it. Taking the id over from another incarnation raises the epoch of every shard
   * the id owns, in the same transaction: what the old process may still have in flight is fenced, since
   * fencing compares epochs and both processes would otherwise write as the same owner at the same epoch.
   */
  async register(nodeId: string, endpoints: string[], leaseMs: number, incarnation: string, timeoutMs?: number, kinds?: readonly string[]): Promise<Registration> {
    checkLease(leaseMs);
    const work = guard('register node', () =>
      this.sql.begin(async (tx) => {
        // In the heartbeat (a renewal found the row changed) an answer later than one lease is worth nothing, and a
        // registration stuck on a lock would stop every later heartbeat.
        if (timeoutMs !== undefined) {
          await tx`SELECT set_config('lock_timeout', ${String(timeoutMs)}, true), ${txTimeouts(tx, timeoutMs)}`;
        }
        // A placeholder first, so that the row exists and FOR UPDATE orders two processes registering one new id.
        const created = await tx`INSERT INTO nodes (node_id, state, lease_until) VALUES (${nodeId}, 'left', '-infinity') ON CONFLICT (node_id) DO NOTHING RETURNING 1`;
        const [prev] = await tx<{ incarnation: string; live: boolean; left_ms: number }[]>`
          SELECT incarnation, lease_until > now() AND state <> 'left' AS live,
                 GREATEST(0, CEIL(EXTRACT(EPOCH FROM lease_until - now()) * 1000))::float8 AS left_ms
          FROM nodes WHERE node_id = ${nodeId} FOR UPDATE`;
        if (prev!.live && prev!.incarnation !== incarnation) throw new NodeIdInUseError(nodeId, prev!.left_ms);
        const tookOver = created.length === 0 && prev!.incarnation !== incarnation;
        if (tookOver) await tx`UPDATE shards SET epoch = epoch + 1, updated_at = now() WHERE owner = ${nodeId}`;
        const rows = await tx<RawNode[]>`
          UPDATE nodes SET endpoints = ${tx.json(endpoints)}, state = CASE WHEN held_out THEN 'draining' ELSE 'alive' END, load = load - 'closing' - 'natsUpMs', started_at = now(),
                 kinds = COALESCE(${kinds === undefined ? null : tx.array([...kinds])}::text[], kinds),
                 lease_until = now() + ${leaseMs} * interval '1 millisecond', incarnation = ${incarnation}
          WHERE node_id = ${nodeId} RETURNING *`;
        return { ...toNode(rows[0]!), tookOver };
      }),
    );
    // Postgres ends a statement past timeoutMs; a link gone silent answers nothing, and the heartbeat would wait on
    // this registration (and renew nothing) until the socket died, minutes later.
    return timeoutMs === undefined ? work : boundedTx('register node', work, timeoutMs);
  }

  /**
   * Extends the lease of `incarnation` of a node; undefined when the node is unknown, has left, or is held by
   * another incarnation now. Gives up (TIMEOUT) after one lease:
   * an answer later than that is worth nothing, and a renewal that hung instead would stop the next ones.
   */
  async renew(nodeId: string, incarnation: string, leaseMs: number, load?: Record<string, unknown>): Promise<number | undefined> {
    checkLease(leaseMs);
    const rows = await bounded(
      'renew lease',
      this.sql<{ lease_until: Date }[]>`
      UPDATE nodes SET lease_until = now() + ${leaseMs} * interval '1 millisecond', load = COALESCE(${load ? this.sql.json(load as never) : null}::jsonb, load)
      WHERE node_id = ${nodeId} AND incarnation = ${incarnation} AND state <> 'left' RETURNING lease_until`,
      leaseMs,
    );
    return rows[0]?.lease_until.getTime();
  }

  /**
   * Live nodes in placement other than `nodeId` whose last renewal said their NATS connection had been up for
   * `upForMs` or more (load `natsUpMs`): proof that NATS itself is up, that a node cut off from it is cut off alone,
   * and that some node can take its shards (a draining one would not, nor one hosting none of `kinds`: those of a
   * node with shards; none given, or empty, for a gateway-only node, which has only clients to hand over).
   */
  async natsReachers(nodeId: string, upForMs: number, kinds?: readonly string[]): Promise<string[]> {
    const hosting = kinds === undefined || kinds.length === 0 ? this.sql`` : this.sql`AND (kinds IS NULL OR kinds && ${this.sql.array([...kinds])}::text[])`;
    const rows = await bounded(
      'list nodes reaching NATS',
      this.sql<{ node_id: string }[]>`
        SELECT node_id FROM nodes
        WHERE node_id <> ${nodeId} AND lease_until > now() AND state = 'alive' AND (load->>'natsUpMs')::float8 >= ${upForMs} ${hosting}
        ORDER BY node_id`,
    );
    return rows.map((r) => r.node_id);
  }

  /**
   * Sets a node's state ('draining' keeps it serving but out of placement; 'left' ends its membership); with
   * `incarnation`, only while that process holds the id (a replaced process must not mark its successor).
   */
  async setState(nodeId: string, state: NodeState, incarnation?: string): Promise<boolean> {
    const held = incarnation === undefined ? this.sql`` : this.sql`AND incarnation = ${incarnation}`;
    const rows = await bounded('set node state', this.sql`UPDATE nodes SET state = ${state} WHERE node_id = ${nodeId} ${held} RETURNING 1`);
    return rows.length > 0;
  }

  /**
   * `imctl drain` (`held`: out of placement until `imctl undrain`, across restarts) or `imctl undrain`. Undefined when
   * the node is unknown or has left; false for an undrain of a node that is shutting down (it drains by itself, and
   * put back it would be given shards it refuses).
   */
  async holdOut(nodeId: string, held: boolean): Promise<boolean | undefined> {
    const rows = await bounded(
      'hold node out',
      this.sql<{ changed: boolean }[]>`
        UPDATE nodes SET held_out = ${held}, state = ${held ? 'draining' : 'alive'}
        WHERE node_id = ${nodeId} AND state <> 'left' AND (${held}::boolean OR NOT COALESCE((load->>'closing')::boolean, false))
        RETURNING true AS changed`,
    );
    if (rows.length > 0) return true;
    const known = await bounded('read node state', this.sql`SELECT 1 FROM nodes WHERE node_id = ${nodeId} AND state <> 'left'`);
    return known.length > 0 ? false : undefined;
  }

  /**
   * Marks the node draining to stop (its own drain, or a close), in the same statement as the mark that tells it from a
   * node `imctl drain` holds out; with `incarnation`, only while that process holds the id.
   */
  async markClosing(nodeId: string, incarnation: string): Promise<boolean> {
    const rows = await bounded(
      'mark node closing',
      this.sql`UPDATE nodes SET state = 'draining', load = load || '{"closing": true}'::jsonb WHERE node_id = ${nodeId} AND incarnation = ${incarnation} AND state <> 'left' RETURNING 1`,
    );
    return rows.length > 0;
  }

  /** Nodes whose lease is running (database clock) and that have not left; draining ones are flagged. */
  async live(): Promise<NodeRow[]> {
    // With a deadline: the directory, placement and imctl wait on this read, and a half-open link would hold them for good.
    const rows = await bounded('list live nodes', this.sql<RawNode[]>`SELECT * FROM nodes WHERE lease_until > now() AND state <> 'left' ORDER BY node_id`);
    return rows.map(toNode);
  }

  /**
   * Whether `nodeId` is live, in placement (not draining), hosts `kind` and reaches NATS: a node shards of `kind` may be
   * moved to. One whose last renewal said NATS was down while another live node's did not (a draining one's too: it
   * shows NATS is up) could serve them to nobody (a drain, a rebalance or a restart's moves to it all went dark until
   * its link came back, or its lease ran out); when no node reaches NATS, NATS itself is down, and that says nothing
   * against this one.
   */
  async takesShards(nodeId: string, kind: string): Promise<boolean> {
    const rows = await bounded(
      'read node state',
      this.sql`SELECT 1 FROM nodes WHERE node_id = ${nodeId} AND lease_until > now() AND state = 'alive' AND (kinds IS NULL OR ${kind} = ANY(kinds))
        AND (load->>'nats' IS DISTINCT FROM 'false'
          OR NOT EXISTS (SELECT 1 FROM nodes o WHERE o.lease_until > now() AND o.state <> 'left' AND o.load->>'nats' IS DISTINCT FROM 'false'))`,
    );
    return rows.length > 0;
  }

  /** Every registered node. */
  async all(): Promise<NodeRow[]> {
    const rows = await bounded('list nodes', this.sql<RawNode[]>`SELECT * FROM nodes ORDER BY node_id`);
    return rows.map(toNode);
  }

  /**
   * Deletes a dead node's row (an operator's `imctl forget`): only one whose lease ran out (or that left) and that owns
   * no shard, in one statement, so a process that came back meanwhile is never forgotten under it.
   */
  async forget(nodeId: string): Promise<boolean> {
    const rows = await bounded(
      'forget node',
      this.sql`DELETE FROM nodes WHERE node_id = ${nodeId} AND NOT (lease_until > now() AND state <> 'left')
        AND NOT EXISTS (SELECT 1 FROM shards WHERE owner = ${nodeId} OR target = ${nodeId}) RETURNING 1`,
    );
    return rows.length > 0;
  }

  /** Forgets a node. */
  async remove(nodeId: string): Promise<boolean> {
    const rows = await bounded('remove node', this.sql`DELETE FROM nodes WHERE node_id = ${nodeId} RETURNING 1`);
    return rows.length > 0;
  }

  /** The database clock, in ms. */
  async now(): Promise<number> {
    const rows = await bounded('read clock', this.sql<{ now: Date }[]>`SELECT now() AS now`);
    return rows[0]!.now.getTime();
  }
}
