import type { Sql } from '../../storage/db.js';

export interface CounterRow {
  key: string;
  op_id: string;
  value: number;
  epoch: number;
  node_id: string;
}

/** What the verifier found wrong; every list is empty when exactly-once and fencing held. */
export interface CounterReport {
  rows: number;
  ackedMissing: string[];
  ackedValueMismatch: string[];
  valueGapsOrDuplicates: string[];
  epochRegressions: string[];
}

/**
 * Checks exactly-once from what Postgres holds: every acked op has its row with the acked value, and each
 * counter's values are exactly 1..n with epochs never going back — a stale owner writing after a newer
 * epoch would leave a duplicate value or an epoch regression.
 */
export async function verifyCounters(sql: Sql, acked: Map<string, number>): Promise<CounterReport> {
  const rows = await sql<CounterRow[]>`SELECT key, op_id, value, epoch, node_id FROM counter_ops ORDER BY key, value, applied_at`;
  const byOp = new Map(rows.map((r) => [r.op_id, r]));
  const report: CounterReport = { rows: rows.length, ackedMissing: [], ackedValueMismatch: [], valueGapsOrDuplicates: [], epochRegressions: [] };
  for (const [op, value] of acked) {
    const r = byOp.get(op);
    if (!r) report.ackedMissing.push(op);
    else if (r.value !== value) report.ackedValueMismatch.push(`${op}: acked ${value}, stored ${r.value}`);
  }
  const byKey = new Map<string, CounterRow[]>();
  for (const r of rows) byKey.set(r.key, [...(byKey.get(r.key) ?? []), r]);
  for (const [key, list] of byKey) {
    list.forEach((r, i) => {
      if (r.value !== i + 1) report.valueGapsOrDuplicates.push(`${key}: position ${i + 1} holds value ${r.value} (${r.op_id} by ${r.node_id}@${r.epoch})`);
      const prev = list[i - 1];
      if (prev && r.epoch < prev.epoch) report.epochRegressions.push(`${key}: value ${r.value} at epoch ${r.epoch} after value ${prev.value} at epoch ${prev.epoch}`);
    });
  }
  return report;
}
