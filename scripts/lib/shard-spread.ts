import type { Sql } from '../../storage/db.js';
import { NodeStore, hostsKind } from '../../storage/node-store.js';
import { ShardMapStore, type ShardRow } from '../../storage/shard-map-store.js';

/**
 * Waits until `nodeCount` nodes are in placement, every shard is active, and each kind is spread evenly (±1) over the
 * nodes that host it (`--kinds`): a cluster's start-up rebalance is over, so a test or benchmark that begins now sees
 * no shard move it did not make.
 */
export async function waitForEvenSpread(sql: Sql, nodeCount: number, timeoutMs = 60_000): Promise<void> {
  const map = new ShardMapStore(sql);
  const nodes = new NodeStore(sql);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [rows, live] = await Promise.all([map.list(), nodes.live()]);
    const placed = live.filter((n) => n.state === 'alive');
    const even =
      placed.length === nodeCount &&
      rows.every((r) => r.state === 'active') &&
      [...new Set(rows.map((r) => r.kind))].every((kind) => evenOver(rows.filter((r) => r.kind === kind), placed.filter((n) => hostsKind(n, kind)).map((n) => n.nodeId)));
    if (even) return;
    if (Date.now() > deadline) throw new Error(`shards not spread over ${nodeCount} nodes after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Whether every one of `rows` is owned by one of `hosts`, each of which owns some, within one of each other. */
function evenOver(rows: readonly ShardRow[], hosts: readonly string[]): boolean {
  const counts = new Map(hosts.map((h) => [h, 0]));
  for (const r of rows) {
    const n = r.owner === null ? undefined : counts.get(r.owner);
    if (n === undefined) return false;
    counts.set(r.owner!, n + 1);
  }
  const n = [...counts.values()];
  return n.length > 0 && Math.min(...n) > 0 && Math.max(...n) - Math.min(...n) <= 1;
}
