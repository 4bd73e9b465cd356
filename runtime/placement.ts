import { ErrorCode, ImError } from '../protocol/errors.js';
import { hash32 } from '../protocol/shard-hash.js';

/**
 * Sticky rendezvous placement with bounded loads. Plain rendezvous hashing is not balanced enough for a few
 * hundred shards (binomial noise: 256 shards on 3 nodes vary by ±15% routinely), so nodes get hard quotas:
 * every node may hold floor(S/N), and only S mod N of them one more (a bare ceil(S/N) cap can leave the last
 * node far below floor(S/N)). Shards stay with their current owner while it has room (the ones it ranks
 * highest first), and every other shard goes to its highest-ranked node with room. Pure and deterministic:
 * every process and the admin CLI compute the same plan from the same inputs, whatever order they list
 * the nodes in.
 */

export interface PlacementInput {
  kind: string;
  shardCount: number;
  /** Eligible nodes (live, not draining). */
  nodes: readonly string[];
  /** Current owner per shard; null when unassigned or its owner is not eligible. */
  current: readonly (string | null | undefined)[];
  /** Shards that must stay on a given node (when that node is eligible). */
  pinned?: ReadonlyMap<number, string>;
  /**
   * Shards that stay with their owner outside the plan, eligible or not (a node that takes no shards now keeps those
   * it has, see placementOf); the rest are spread over `nodes` alone.
   */
  kept?: ReadonlyMap<number, string>;
}

/** A shard map row as a plan reads it. */
export interface PlacedShard {
  shard: number;
  owner: string | null;
  pinned?: boolean;
}

/**
 * What a plan of `kind` starts from: its shard map `rows` (in shard order) and the nodes that may own its shards
 * (`eligible`). Those in `cutOff` (their last heartbeat said they were cut off from NATS while other nodes reach it)
 * keep the shards they own but are given none: a shard sent there would be served by nobody until the node's link
 * came back or it gave way. When every node hosting the kind is cut off, they share it as ever: nobody else could
 * serve it, and a dead one's shards are at least not left unowned.
 */
export function placementOf(kind: string, rows: readonly PlacedShard[], eligible: readonly string[], cutOff: ReadonlySet<string> = new Set()): PlacementInput {
  const reaching = eligible.filter((n) => !cutOff.has(n));
  const nodes = reaching.length > 0 ? reaching : eligible;
  const open = new Set(nodes);
  const holding = new Set(eligible.filter((n) => !open.has(n)));
  const current = rows.map((r) => (r.owner !== null && open.has(r.owner) ? r.owner : null));
  const pinned = new Map(rows.filter((r) => r.pinned === true && r.owner !== null).map((r) => [r.shard, r.owner!]));
  const kept = new Map(rows.filter((r) => r.owner !== null && holding.has(r.owner)).map((r) => [r.shard, r.owner!]));
  return { kind, shardCount: rows.length, nodes, current, pinned, ...(kept.size > 0 && { kept }) };
}

export interface ShardMove {
  shard: number;
  from: string | null;
  to: string;
}

/**
 * HRW score of `node` for a shard: higher is preferred, ties go to the smaller node id. It does not depend on
 * the kind, so shard s of every kind prefers the same node: a user's connector and the direct conversations
 * hashed to that user (protocol/shard-hash.ts) land together.
 */
export function rank(shard: number, node: string): number {
  return hash32(`${shard}/${node}`);
}

/**
 * Per-node quotas: `base` each, and the first `extras` nodes to ask may go one over. A node pinned above the
 * average holds exactly its pins, and the other nodes share the remaining shards evenly among themselves.
 */
class Quotas {
  private readonly load = new Map<string, number>();
  private readonly closed = new Set<string>();
  private readonly base: number;
  private extras: number;

  constructor(nodes: readonly string[], shardCount: number, pinCounts: ReadonlyMap<string, number>) {
    let open = [...nodes];
    let rest = shardCount;
    // Water-filling: drop nodes whose pins alone exceed the fair share of what is left, until none does.
    for (;;) {
      const over = open.filter((n) => (pinCounts.get(n) ?? 0) * open.length > rest);
      if (over.length === 0 || over.length === open.length) break;
      for (const n of over) {
        this.closed.add(n);
        rest -= pinCounts.get(n)!;
      }
      open = open.filter((n) => !this.closed.has(n));
    }
    this.base = Math.floor(rest / open.length);
    this.extras = rest % open.length;
    for (const n of nodes) this.load.set(n, 0);
  }

  hasRoom(node: string): boolean {
    if (this.closed.has(node)) return false;
    const l = this.load.get(node)!;
    return l < this.base || (l === this.base && this.extras > 0);
  }

  /** Takes a slot on `node` if it has room. */
  take(node: string): boolean {
    if (!this.hasRoom(node)) return false;
    this.force(node);
    return true;
  }

  /** Takes a slot whether or not there is room (pins). */
  force(node: string): void {
    const l = this.load.get(node)!;
    if (!this.closed.has(node) && l === this.base && this.extras > 0) this.extras--;
    this.load.set(node, l + 1);
  }

  loadOf(node: string): number {
    return this.load.get(node)!;
  }
}

function byId(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The target owner of every shard. Every node ends with floor(S/N) or ceil(S/N) shards unless pins force otherwise. */
export function planAssignment(input: PlacementInput): string[] {
  const { kind, shardCount } = input;
  if (!Number.isInteger(shardCount) || shardCount < 0) throw new ImError(ErrorCode.INVALID_FIELD, `shard count must be a non-negative integer, got ${shardCount}`);
  // Sorted so the plan does not depend on the order callers list nodes in.
  const nodes = [...new Set(input.nodes)].sort(byId);
  if (shardCount === 0) return [];
  if (nodes.length === 0) throw new ImError(ErrorCode.UNAVAILABLE, `no eligible node to place ${kind} shards on`);
  const eligible = new Set(nodes);
  // 1. Pins win, even over quota.
  const target: (string | null)[] = new Array<string | null>(shardCount).fill(null);
  const valid = (shard: number): boolean => Number.isInteger(shard) && shard >= 0 && shard < shardCount;
  // 0. Kept shards are not the plan's: the quotas share out the others.
  let planned = shardCount;
  for (const [shard, node] of input.kept ?? []) {
    if (!valid(shard) || target[shard] !== null) continue;
    target[shard] = node;
    planned--;
  }
  const pinCounts = new Map<string, number>();
  for (const [shard, node] of input.pinned ?? []) {
    if (!valid(shard) || target[shard] !== null || !eligible.has(node)) continue;
    target[shard] = node;
    pinCounts.set(node, (pinCounts.get(node) ?? 0) + 1);
  }
  const quotas = new Quotas(nodes, planned, pinCounts);
  for (const [node, count] of pinCounts) for (let i = 0; i < count; i++) quotas.force(node);

  // 2. Sticky: each current owner keeps the shards it ranks highest, up to its quota, so the shards that
  // leave a node are the ones that prefer it least. Owners go in id order so extras are handed out stably.
  const keep = new Map<string, { shard: number; score: number }[]>();
  for (let s = 0; s < shardCount; s++) {
    const owner = input.current[s];
    if (target[s] !== null || !owner || !eligible.has(owner)) continue;
    let list = keep.get(owner);
    if (!list) keep.set(owner, (list = []));
    list.push({ shard: s, score: rank(s, owner) });
  }
  for (const owner of [...keep.keys()].sort(byId)) {
    const list = keep.get(owner)!.sort((a, b) => b.score - a.score || a.shard - b.shard);
    for (const { shard } of list) {
      if (!quotas.take(owner)) break;
      target[shard] = owner;
    }
  }

  // 3. The rest, in shard order: the highest-ranked node with room.
  for (let s = 0; s < shardCount; s++) {
    if (target[s] !== null) continue;
    let best: string | undefined;
    let bestScore = -1;
    for (const n of nodes) {
      if (!quotas.hasRoom(n)) continue;
      const score = rank(s, n);
      // Strictly greater: nodes are in id order, so ties go to the smaller id.
      if (score > bestScore) {
        best = n;
        bestScore = score;
      }
    }
    // Quotas add up to S, so this is only a safety net.
    best ??= leastLoaded(s, nodes, quotas);
    quotas.force(best);
    target[s] = best;
  }
  return target as string[];
}

function leastLoaded(shard: number, nodes: readonly string[], quotas: Quotas): string {
  let best = nodes[0]!;
  for (const n of nodes) {
    const d = quotas.loadOf(n) - quotas.loadOf(best);
    if (d < 0 || (d === 0 && rank(shard, n) > rank(shard, best))) best = n;
  }
  return best;
}

/** The moves that turn `current` into `target`, in shard order. */
export function diffAssignment(current: readonly (string | null | undefined)[], target: readonly string[]): ShardMove[] {
  const moves: ShardMove[] = [];
  for (let s = 0; s < target.length; s++) {
    const from = current[s] ?? null;
    if (from !== target[s]) moves.push({ shard: s, from, to: target[s]! });
  }
  return moves;
}

/** Splits moves into waves of at most `size`, each spread over as many source nodes as possible. */
export function planWaves<M extends ShardMove>(moves: readonly M[], size: number): M[][] {
  if (!Number.isInteger(size) || size < 1) throw new ImError(ErrorCode.INVALID_FIELD, `wave size must be a positive integer, got ${size}`);
  // Round-robin over sources so one wave does not make a single node release many shards at once.
  const bySource = new Map<string, M[]>();
  for (const m of moves) {
    const k = m.from ?? '';
    let q = bySource.get(k);
    if (!q) bySource.set(k, (q = []));
    q.push(m);
  }
  const queues = [...bySource.values()];
  const ordered: M[] = [];
  for (let i = 0; ordered.length < moves.length; i++) for (const q of queues) if (i < q.length) ordered.push(q[i]!);
  const waves: M[][] = [];
  for (let i = 0; i < ordered.length; i += size) waves.push(ordered.slice(i, i + size));
  return waves;
}
