import { ErrorCode, ImError } from '../protocol/errors.js';
import type { Sql } from './db.js';
import { bounded, guard } from './pg-errors.js';

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
}

interface RawNode {
  node_id: string;
  endpoints: string[];
  state: NodeState;
  started_at: Date;
  lease_until: Date;
  load: Record<string, unknown>;
}

const toNode = (r: RawNode): NodeRow => ({
  nodeId: r.node_id,
  endpoints: r.endpoints,
  state: r.state,
  draining: r.state === 'draining',
  startedAt: r.started_at.getTime(),
  leaseUntil: r.lease_until.getTime(),
  load: r.load,
});

function checkLease(ms: number): void {
  if (!Number.isFinite(ms) || ms <= 0) throw new ImError(ErrorCode.INVALID_FIELD, `lease must be a positive number of ms, got ${ms}`);
}

/** Node registrations and their leases. Lease times use the database clock only, so node clocks may drift. */
export class NodeStore {
  constructor(private readonly sql: Sql) {}

  /** Registers (or re-registers) a node as alive with a fresh lease. */
  async register(nodeId: string, endpoints: string[], leaseMs: number): Promise<NodeRow> {
    checkLease(leaseMs);
    const rows = await guard('register node', () => this.sql<RawNode[]>`
      INSERT INTO nodes (node_id, endpoints, state, started_at, lease_until)
      VALUES (${nodeId}, ${this.sql.json(endpoints)}, 'alive', now(), now() + ${leaseMs} * interval '1 millisecond')
      ON CONFLICT (node_id) DO UPDATE SET endpoints = EXCLUDED.endpoints, state = 'alive', started_at = now(), lease_until = EXCLUDED.lease_until
      RETURNING *`);
    return toNode(rows[0]!);
  }

  /**
   * Extends a node's lease; undefined when the node is unknown or has left. Gives up (TIMEOUT) after one lease:
   * an answer later than that is worth nothing, and a renewal that hung instead would stop the next ones.
   */
  async renew(nodeId: string, leaseMs: number, load?: Record<string, unknown>): Promise<number | undefined> {
    checkLease(leaseMs);
    const rows = await bounded(
      'renew lease',
      this.sql<{ lease_until: Date }[]>`
      UPDATE nodes SET lease_until = now() + ${leaseMs} * interval '1 millisecond', load = COALESCE(${load ? this.sql.json(load as never) : null}::jsonb, load)
      WHERE node_id = ${nodeId} AND state <> 'left' RETURNING lease_until`,
      leaseMs,
    );
    return rows[0]?.lease_until.getTime();
  }

  /** Sets a node's state ('draining' keeps it serving but out of placement; 'left' ends its membership). */
  async setState(nodeId: string, state: NodeState): Promise<boolean> {
    const rows = await guard('set node state', () => this.sql`UPDATE nodes SET state = ${state} WHERE node_id = ${nodeId} RETURNING 1`);
    return rows.length > 0;
  }

  /** Nodes whose lease is running (database clock) and that have not left; draining ones are flagged. */
  async live(): Promise<NodeRow[]> {
    const rows = await guard('list live nodes', () => this.sql<RawNode[]>`SELECT * FROM nodes WHERE lease_until > now() AND state <> 'left' ORDER BY node_id`);
    return rows.map(toNode);
  }

  /** Every registered node. */
  async all(): Promise<NodeRow[]> {
    const rows = await guard('list nodes', () => this.sql<RawNode[]>`SELECT * FROM nodes ORDER BY node_id`);
    return rows.map(toNode);
  }

  /** Forgets a node. */
  async remove(nodeId: string): Promise<boolean> {
    const rows = await guard('remove node', () => this.sql`DELETE FROM nodes WHERE node_id = ${nodeId} RETURNING 1`);
    return rows.length > 0;
  }

  /** The database clock, in ms. */
  async now(): Promise<number> {
    const rows = await guard('read clock', () => this.sql<{ now: Date }[]>`SELECT now() AS now`);
    return rows[0]!.now.getTime();
  }
}
