import { hash32 } from '../protocol/shard-hash.js';

/**
 * Sticky rendezvous placement with bounded loads. Plain rendezvous hashing is not balanced enough for a few
 * hundred shards (binomial noise: 256 shards on 3 nodes vary by ±15% routinely), so each node gets a hard
 * capacity of floor(S/N), with S mod N of them allowed one more: shards stay with their current owner while it has room (the ones it ranks highest
 * first), and every other shard goes to its highest-ranked node with room. Pure and deterministic: every
 * process and the admin CLI compute the same plan from the same inputs.
 */

export interface PlacementInput {
  kind: string;
  shardCount: number;
  /** Eligible nodes (live, not draining). */
  nodes: string[];
  /** Current owner per shard; null when unassigned or its owner is not eligible. */
  current: (string | null)[];
  /** Shards that must stay on a given node (when that node is eligible). */
  pinned?: ReadonlyMap<number, string>;
}

export interface ShardMove {
  shard: number;
  from: string | null;
  to: string;
}

/** HRW score of `node` for a shard. */
export function rank(kind: string, shard: number, node: string): number {
  return hash32(`${kind}/${shard}/${node}`);
}

/** Nodes in preference order for a shard: highest score first, ties by node id. */
function preference(kind: string, shard: number, nodes: string[]): string[] {
  return nodes
    .map((n) => ({ n, r: rank(kind, shard, n) }))
    .sort((a, b) => b.r - a.r || (a.n < b.n ? -1 : a.n > b.n ? 1 : 0))
    .map((x) => x.n);
}

/** The target owner of every shard. Every node ends with floor(S/N) or ceil(S/N) shards unless pins force otherwise. */
export function planAssignment(input: PlacementInput): string[] {
  const { kind, shardCount } = input;
  const nodes = [...new Set(input.nodes)].sort();
  if (nodes.length === 0) throw new Error('placement needs at least one eligible node');
  const eligible = new Set(nodes);
  // Exact balance: every node may hold `base`, and only `extras` of them one more.
  const base = Math.floor(shardCount / nodes.length);
  let extras = shardCount % nodes.length;
  const load = new Map(nodes.map((n) => [n, 0]));
  /** Takes a slot on `node` if it has room; the first `extras` nodes to pass `base` keep base + 1. */
  const take = (node: string): boolean => {
    const l = load.get(node)!;
    if (l < base || (l === base && extras > 0)) {
      if (l === base) extras--;
      load.set(node, l + 1);
      return true;
    }
    return false;
  };
  const target: (string | null)[] = new Array(shardCount).fill(null);

  // 1. Pins.
  for (const [shard, node] of input.pinned ?? []) {
    if (shard < shardCount && eligible.has(node)) {
      target[shard] = node;
      if (!take(node)) load.set(node, load.get(node)! + 1);
    }
  }
  // 2. Sticky: current owners keep the shards they rank highest, up to capacity.
  const keep = new Map<string, { shard: number; score: number }[]>();
  for (let s = 0; s < shardCount; s++) {
    const owner = input.current[s];
    if (target[s] !== null || !owner || !eligible.has(owner)) continue;
    const list = keep.get(owner) ?? [];
    list.push({ shard: s, score: rank(kind, s, owner) });
    keep.set(owner, list);
  }
  for (const [owner, list] of keep) {
    list.sort((a, b) => b.score - a.score || a.shard - b.shard);
    for (const { shard } of list) {
      if (!take(owner)) break;
      target[shard] = owner;
    }
  }
  // 3. The rest, in shard order: highest-ranked node with room.
  const rest: { shard: number; prefs: string[] }[] = [];
  for (let s = 0; s < shardCount; s++) if (target[s] === null) rest.push({ shard: s, prefs: preference(kind, s, nodes) });
  for (const { shard, prefs } of rest) {
    let to = prefs.find((n) => take(n));
    if (to === undefined) {
      // Only when pins overfilled nodes: fall back to the least loaded.
      to = [...prefs].sort((a, b) => load.get(a)! - load.get(b)!)[0]!;
      load.set(to, load.get(to)! + 1);
    }
    target[shard] = to;
  }
  return target as string[];
}

/** The moves that turn `current` into `target`. */
export function diffAssignment(current: (string | null)[], target: string[]): ShardMove[] {
  const moves: ShardMove[] = [];
  for (let s = 0; s < target.length; s++) if (current[s] !== target[s]) moves.push({ shard: s, from: current[s] ?? null, to: target[s]! });
  return moves;
}

/** Splits moves into waves of at most `size`, spreading each wave over as many source nodes as possible. */
export function planWaves<M extends ShardMove>(moves: M[], size: number): M[][] {
  if (size < 1) throw new Error('wave size must be at least 1');
  const bySource = new Map<string, M[]>();
  for (const m of moves) {
    const k = m.from ?? '';
    bySource.set(k, [...(bySource.get(k) ?? []), m]);
  }
  const queues = [...bySource.values()];
  const ordered: M[] = [];
  for (let i = 0; ordered.length < moves.length; i++) for (const q of queues) if (q[i]) ordered.push(q[i]!);
  const waves: M[][] = [];
  for (let i = 0; i < ordered.length; i += size) waves.push(ordered.slice(i, i + size));
  return waves;
}
