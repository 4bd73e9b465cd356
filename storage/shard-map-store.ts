import { ErrorCode, ImError } from '../protocol/errors.js';
import type { Sql } from './db.js';
import { bounded, boundedTx, DEFAULT_STATEMENT_TIMEOUT_MS, guard, txTimeouts } from './pg-errors.js';

export type ShardState = 'unassigned' | 'active' | 'moving';

export interface ShardRow {
  kind: string;
  shard: number;
  owner: string | null;
  epoch: number;
  state: ShardState;
  target: string | null;
  pinned: boolean;
  /** ms since the epoch, database clock. */
  updatedAt: number;
}

interface RawRow {
  kind: string;
  shard: number;
  owner: string | null;
  epoch: number;
  state: ShardState;
  target: string | null;
  pinned: boolean;
  updated_at: Date;
}

const toRow = (r: RawRow): ShardRow => ({
  kind: r.kind,
  shard: r.shard,
  owner: r.owner,
  epoch: r.epoch,
  state: r.state,
  target: r.target,
  pinned: r.pinned,
  updatedAt: r.updated_at.getTime(),
});

/** Upper bound on shards per kind: the map is read whole on every coordinator round. */
export const MAX_SHARDS = 65_536;

/**
 * The authoritative shard map. Every transition is one compare-and-set UPDATE on (kind, shard, epoch): it
 * returns the new row, or undefined when someone else changed the shard first. A plain UPDATE of the row
 * also waits for writers holding it FOR SHARE, which is what makes an epoch bump wait for in-flight writes.
 */
export class ShardMapStore {
  constructor(private readonly sql: Sql) {}

  /**
   * Creates the shard rows of `kind` once and returns the shard count stored at creation. S is fixed for good:
   * a different `shardCount` for an existing kind is ignored, and the caller sees it in the returned count.
   */
  async ensureKind(kind: string, shardCount: number): Promise<number> {
    if (kind.length === 0) throw new ImError(ErrorCode.INVALID_FIELD, 'actor kind must not be empty');
    if (!Number.isInteger(shardCount) || shardCount < 1 || shardCount > MAX_SHARDS) {
      throw new ImError(ErrorCode.INVALID_FIELD, `shard count must be an integer from 1 to ${MAX_SHARDS}, got ${shardCount}`);
    }
    const work = guard('ensure shard kind', () =>
      this.sql.begin(async (tx) => {
        await tx`SELECT ${txTimeouts(tx, DEFAULT_STATEMENT_TIMEOUT_MS)}`;
        await tx`INSERT INTO cluster_settings (key, value) VALUES (${`shards.${kind}`}, ${tx.json(shardCount)}) ON CONFLICT (key) DO NOTHING`;
        // The recorded count, which is the first node's when another got there first.
        const [row] = await tx<{ value: number }[]>`SELECT value FROM cluster_settings WHERE key = ${`shards.${kind}`}`;
        const recorded = Number(row!.value);
        await tx`INSERT INTO shards (kind, shard) SELECT ${kind}, s FROM generate_series(0, ${recorded - 1}::int) AS s ON CONFLICT DO NOTHING`;
        return recorded;
      }),
    );
    return boundedTx('ensure shard kind', work);
  }

  /** Shard count of `kind`, undefined when the kind does not exist. */
  async shardCount(kind: string): Promise<number | undefined> {
    const rows = await bounded('read shard count', this.sql<{ value: number }[]>`SELECT value FROM cluster_settings WHERE key = ${`shards.${kind}`}`);
    return rows[0] ? Number(rows[0].value) : undefined;
  }

  /** Every actor kind the cluster knows. */
  async kinds(): Promise<string[]> {
    const rows = await bounded('list kinds', this.sql<{ key: string }[]>`SELECT key FROM cluster_settings WHERE key LIKE 'shards.%' ORDER BY key`);
    return rows.map((r) => r.key.slice('shards.'.length));
  }

  /** All shards (of one kind), ordered by kind and shard. */
  async list(kind?: string): Promise<ShardRow[]> {
    // With a deadline, as NodeStore.live(): every router and the directory read the map through here.
    const rows = await bounded('list shards', kind === undefined ? this.sql<RawRow[]>`SELECT * FROM shards ORDER BY kind, shard` : this.sql<RawRow[]>`SELECT * FROM shards WHERE kind = ${kind} ORDER BY shard`);
    return rows.map(toRow);
  }

  /** One shard, or undefined. */
  async get(kind: string, shard: number): Promise<ShardRow | undefined> {
    const rows = await bounded('read shard', this.sql<RawRow[]>`SELECT * FROM shards WHERE kind = ${kind} AND shard = ${shard}`);
    return rows[0] ? toRow(rows[0]) : undefined;
  }

  /** The shards `node` owns (active or being moved away). */
  async ownedBy(node: string): Promise<ShardRow[]> {
    const rows = await bounded('list owned shards', this.sql<RawRow[]>`SELECT * FROM shards WHERE owner = ${node} ORDER BY kind, shard`);
    return rows.map(toRow);
  }

  /** How many shards are being moved to `node` now. */
  async movingTo(node: string): Promise<number> {
    const rows = await bounded('count moves to a node', this.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM shards WHERE target = ${node} AND state = 'moving'`);
    return rows[0]!.n;
  }

  /** Whether `node` owns any shard of `kind` (active or being moved away). */
  async owns(node: string, kind: string): Promise<boolean> {
    const rows = await bounded('look for owned shards', this.sql`SELECT 1 FROM shards WHERE owner = ${node} AND kind = ${kind} LIMIT 1`);
    return rows.length > 0;
  }

  /** Gives a shard to `owner` with a new epoch (unassigned shards, shards of dead nodes). */
  async assign(kind: string, shard: number, expectedEpoch: number, owner: string): Promise<ShardRow | undefined> {
    const rows = await bounded('assign shard', this.sql<RawRow[]>`
      UPDATE shards SET owner = ${owner}, epoch = epoch + 1, state = 'active', target = NULL, updated_at = now()
      WHERE kind = ${kind} AND shard = ${shard} AND epoch = ${expectedEpoch} RETURNING *`);
    return rows[0] ? toRow(rows[0]) : undefined;
  }

  /** Several assigns in one statement; returns the rows whose compare-and-set won. */
  async assignMany(list: { kind: string; shard: number; expectedEpoch: number; owner: string }[]): Promise<ShardRow[]> {
    if (list.length === 0) return [];
    const rows = await bounded('assign shards', this.sql<RawRow[]>`
      UPDATE shards s SET owner = x.owner, epoch = s.epoch + 1, state = 'active', target = NULL, updated_at = now()
      FROM unnest(${list.map((l) => l.kind)}::text[], ${list.map((l) => l.shard)}::int[], ${list.map((l) => l.expectedEpoch)}::int8[], ${list.map((l) => l.owner)}::text[])
        AS x(kind, shard, epoch, owner)
      WHERE s.kind = x.kind AND s.shard = x.shard AND s.epoch = x.epoch RETURNING s.*`);
    return rows.map(toRow).sort((a, b) => (a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : a.shard - b.shard));
  }

  /** Marks an active shard as moving from `from` to `to` (the epoch stays: `from` keeps serving until it releases). */
  async beginMove(kind: string, shard: number, expectedEpoch: number, from: string, to: string): Promise<ShardRow | undefined> {
    const rows = await bounded('begin shard move', this.sql<RawRow[]>`
      UPDATE shards SET state = 'moving', target = ${to}, updated_at = now()
      WHERE kind = ${kind} AND shard = ${shard} AND epoch = ${expectedEpoch} AND state = 'active' AND owner = ${from} RETURNING *`);
    return rows[0] ? toRow(rows[0]) : undefined;
  }

  /** Finishes a move: `to` owns the shard at a new epoch. */
  async completeMove(kind: string, shard: number, expectedEpoch: number, to: string): Promise<ShardRow | undefined> {
    const rows = await bounded('complete shard move', this.sql<RawRow[]>`
      UPDATE shards SET owner = ${to}, epoch = epoch + 1, state = 'active', target = NULL, updated_at = now()
      WHERE kind = ${kind} AND shard = ${shard} AND epoch = ${expectedEpoch} AND state = 'moving' RETURNING *`);
    return rows[0] ? toRow(rows[0]) : undefined;
  }

  /**
   * Rolls a move back to 'active' under the same owner. Unlike a plain state reset, the epoch is bumped: the
   * old owner may already have released the shard, and a new epoch is what makes it (re)acquire and fences
   * anything it still had in flight under the old one.
   */
  async abortMove(kind: string, shard: number, expectedEpoch: number, olderThanMs?: number): Promise<ShardRow | undefined> {
    // `olderThanMs`: only a move begun that long ago by Postgres' clock (nodes' clocks may drift from it).
    const rows = await bounded('abort shard move', this.sql<RawRow[]>`
      UPDATE shards SET state = 'active', target = NULL, epoch = epoch + 1, updated_at = now()
      WHERE kind = ${kind} AND shard = ${shard} AND epoch = ${expectedEpoch} AND state = 'moving'
        ${olderThanMs === undefined ? this.sql`` : this.sql`AND updated_at < now() - ${olderThanMs} * interval '1 millisecond'`}
      RETURNING *`);
    return rows[0] ? toRow(rows[0]) : undefined;
  }

  /**
   * Pins or unpins a shard to its current owner (placement leaves pinned shards alone). `updated_at` stays: it dates
   * the shard's state, and a stuck move's rollback waits from it.
   */
  async setPinned(kind: string, shard: number, pinned: boolean): Promise<boolean> {
    const rows = await bounded('pin shard', this.sql`UPDATE shards SET pinned = ${pinned} WHERE kind = ${kind} AND shard = ${shard} RETURNING 1`);
    return rows.length > 0;
  }
}
