import type { Sql } from '../../storage/db.js';
import { ShardMapStore } from '../../storage/shard-map-store.js';

/**
 * Waits until every shard is active and each kind is spread evenly (±1) over `nodeCount` nodes: a cluster's
 * start-up rebalance is over, so a test or benchmark that begins now sees no shard move it did not make.
 */
export async function waitForEvenSpread(sql: Sql, nodeCount: number, timeoutMs = 60_000): Promise<void> {
  const map = new ShardMapStore(sql);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = await map.list();
    const perNode = new Map<string, number>();
    for (const r of rows) if (r.state === 'active' && r.owner) perNode.set(`${r.kind}/${r.owner}`, (perNode.get(`${r.kind}/${r.owner}`) ?? 0) + 1);
    const kinds = new Set(rows.map((r) => r.kind));
    const counts = [...perNode.values()];
    const even = rows.every((r) => r.state === 'active') && perNode.size === kinds.size * nodeCount && Math.max(...counts) - Math.min(...counts) <= 1;
    if (even) return;
    if (Date.now() > deadline) throw new Error(`shards not spread over ${nodeCount} nodes after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
