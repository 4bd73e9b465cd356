import { ErrorCode, ImError } from '../protocol/errors.js';
import type { Sql } from './db.js';
import { bounded } from './pg-errors.js';
import type { Fence } from './types.js';

export interface CounterState {
  value: number;
  applied: Map<string, number>;
}

/** Persistence of the diagnostic `counter` actor kind. */
export class CounterStore {
  constructor(private readonly sql: Sql) {}

  /** Loads every applied operation of a counter. */
  async load(key: string): Promise<CounterState> {
    const rows = await bounded('load counter', this.sql<{ op_id: string; value: number }[]>`SELECT op_id, value FROM counter_ops WHERE key = ${key}`);
    const applied = new Map(rows.map((r) => [r.op_id, r.value]));
    return { value: rows.reduce((m, r) => Math.max(m, r.value), 0), applied };
  }

  /** Records one increment under `fence` in one statement; FENCED when the shard's epoch moved on. */
  async apply(key: string, opId: string, value: number, fence: Fence, nodeId: string): Promise<void> {
    const rows = await bounded(
      'apply counter operation',
      this.sql<{ ok: number }[]>`
        WITH f AS (
          SELECT 1 FROM shards WHERE kind = ${fence.kind} AND shard = ${fence.shard} AND epoch = ${fence.epoch} FOR SHARE
        )
        INSERT INTO counter_ops (key, op_id, value, epoch, node_id)
        SELECT ${key}, ${opId}, ${value}, ${fence.epoch}, ${nodeId} WHERE EXISTS (SELECT 1 FROM f)
        RETURNING 1 AS ok`,
    );
    if (rows.length === 0) throw new ImError(ErrorCode.FENCED, `shard ${fence.kind}/${fence.shard} is no longer at epoch ${fence.epoch}`);
  }
}
