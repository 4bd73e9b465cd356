import type { Sql } from '../../storage/db.js';
import { NodeStore, hostsKind } from '../../storage/node-store.js';
import { ShardMapStore } from '../../storage/shard-map-store.js';

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
      [...new Set(rows.map((r) => r.kind))].every((kind) => {
        const hosts = placed.filter((n) => hostsKind(n, kind));
        const counts = hosts.map((n) => rows.filter((r) => r.kind === kind && r.owner === n.nodeId).length);
        return counts.length > 0 && counts.every((c) => c > 0) && Math.max(...counts) - Math.min(...counts) <= 1 && rows.filter((r) => r.kind === kind).every((r) => hosts.some((n) => n.nodeId === r.owner));
      });
    if (even) return;
    if (Date.now() > deadline) throw new Error(`shards not spread over ${nodeCount} nodes after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
