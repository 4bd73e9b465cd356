import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../protocol/errors.js';
import { diffAssignment, placementOf, planAssignment, planWaves, type ShardMove } from '../../runtime/placement.js';

const nodeIds = (n: number) => fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9-]{0,11}$/), { minLength: n, maxLength: n });
/** S in [64, 1024], N in [1, 16] with S/N >= 16 so ±15% is a meaningful bound; `nodes` holds N + 1 ids. */
const cluster = fc
  .integer({ min: 1, max: 16 })
  .chain((n) => fc.record({ n: fc.constant(n), s: fc.integer({ min: Math.max(64, 16 * n), max: 1024 }), nodes: nodeIds(n + 1), kind: fc.constantFrom('chatter', 'connector') }));

const empty = (s: number): null[] => new Array<null>(s).fill(null);

function counts(target: readonly string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const t of target) m.set(t, (m.get(t) ?? 0) + 1);
  return m;
}

function expectBalanced(target: readonly string[], live: readonly string[], s: number): void {
  const c = counts(target);
  expect([...c.keys()].every((k) => live.includes(k))).toBe(true);
  for (const node of live) {
    const k = c.get(node) ?? 0;
    expect(k).toBeGreaterThanOrEqual(Math.floor(s / live.length));
    expect(k).toBeLessThanOrEqual(Math.ceil(s / live.length));
    expect(Math.abs(k - s / live.length)).toBeLessThanOrEqual(0.15 * (s / live.length));
  }
}

describe('placement – sticky rendezvous with bounded loads', () => {
  it('placement – every node holds within ±15% of S/N (in fact floor or ceil)', () => {
    fc.assert(
      fc.property(cluster, ({ n, s, nodes, kind }) => {
        const live = nodes.slice(0, n);
        const target = planAssignment({ kind, shardCount: s, nodes: live, current: empty(s) });
        expect(target).toHaveLength(s);
        expectBalanced(target, live, s);
      }),
      { numRuns: 200 },
    );
  });

  it('placement – from any current map, the plan is balanced and keeps as many shards in place as the quotas allow', () => {
    fc.assert(
      fc.property(cluster, fc.infiniteStream(fc.nat()), ({ n, s, nodes, kind }, picks) => {
        const live = nodes.slice(0, n);
        // Owners drawn from the live nodes, a dead one (the extra id) and null, in random proportions.
        const it = picks[Symbol.iterator]();
        const pool: (string | null)[] = [...nodes, null];
        const current = Array.from({ length: s }, () => pool[it.next().value! % pool.length]!);
        const target = planAssignment({ kind, shardCount: s, nodes: live, current });
        expectBalanced(target, live, s);
        const base = Math.floor(s / n);
        const had = counts(current.filter((o): o is string => o !== null && live.includes(o)));
        const over = live.filter((x) => (had.get(x) ?? 0) > base).length;
        const best = live.reduce((a, x) => a + Math.min(had.get(x) ?? 0, base), 0) + Math.min(s % n, over);
        expect(target.filter((t, i) => t === current[i]).length).toBe(best);
      }),
      { numRuns: 150 },
    );
  });

  it('placement – replanning a settled map moves nothing', () => {
    fc.assert(
      fc.property(cluster, ({ n, s, nodes, kind }) => {
        const live = nodes.slice(0, n);
        const once = planAssignment({ kind, shardCount: s, nodes: live, current: empty(s) });
        expect(diffAssignment(once, planAssignment({ kind, shardCount: s, nodes: live, current: once }))).toEqual([]);
      }),
      { numRuns: 100 },
    );
  });

  it('placement – adding a node moves about S/(N+1) shards, all onto the new node, none between old nodes', () => {
    fc.assert(
      fc.property(cluster, ({ n, s, nodes, kind }) => {
        const before = planAssignment({ kind, shardCount: s, nodes: nodes.slice(0, n), current: empty(s) });
        const after = planAssignment({ kind, shardCount: s, nodes, current: before });
        const moves = diffAssignment(before, after);
        expect(moves.every((m) => m.to === nodes[n])).toBe(true);
        expect(moves.length).toBeLessThanOrEqual(Math.ceil(s / (n + 1)));
        expect(moves.length).toBeGreaterThanOrEqual(Math.floor(s / (n + 1)));
        expectBalanced(after, nodes, s);
      }),
      { numRuns: 200 },
    );
  });

  it("placement – a node cut off from NATS keeps what it owns and is given nothing; a dead node's shards and every move go to the others, balanced; all cut off, nothing changes", () => {
    fc.assert(
      fc.property(
        cluster.filter(({ n }) => n >= 2),
        fc.nat(),
        ({ n, s, nodes, kind }, pick) => {
          // n live nodes and one that died (the extra id), all holding shards.
          const before = planAssignment({ kind, shardCount: s, nodes, current: empty(s) });
          const live = nodes.slice(0, n);
          const cut = live[pick % n]!;
          const rows = before.map((owner, shard) => ({ shard, owner, pinned: false }));
          const after = planAssignment(placementOf(kind, rows, live, new Set([cut])));
          const moves = diffAssignment(before, after);
          expect(moves.some((m) => m.to === cut || m.from === cut)).toBe(false);
          expect(after.filter((o) => o === cut).length).toBe(before.filter((o) => o === cut).length);
          const rest = live.filter((x) => x !== cut);
          expect(after.every((o) => o === cut || rest.includes(o))).toBe(true);
          expectBalanced(after.filter((o) => o !== cut), rest, s - before.filter((o) => o === cut).length);
          // Every live node cut off: NATS itself is down, and the plan is the one without any cut off.
          expect(planAssignment(placementOf(kind, rows, live, new Set(live)))).toEqual(planAssignment(placementOf(kind, rows, live)));
        },
      ),
      { numRuns: 150 },
    );
  });

  it('placement – removing a node moves exactly its shards and nothing else', () => {
    fc.assert(
      fc.property(
        cluster,
        fc.nat(),
        ({ n, s, nodes, kind }, pick) => {
          const all = nodes.slice(0, n + 1);
          const before = planAssignment({ kind, shardCount: s, nodes: all, current: empty(s) });
          const gone = all[pick % all.length]!;
          const rest = all.filter((x) => x !== gone);
          const current = before.map((o) => (o === gone ? null : o));
          const after = planAssignment({ kind, shardCount: s, nodes: rest, current });
          const moved = diffAssignment(before, after);
          expect(moved.every((m) => m.from === gone)).toBe(true);
          expect(moved.length).toBe(before.filter((o) => o === gone).length);
          expectBalanced(after, rest, s);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('placement – the plan does not depend on the order nodes are listed in', () => {
    fc.assert(
      fc.property(
        cluster.chain((c) => fc.record({ c: fc.constant(c), shuffled: fc.shuffledSubarray(c.nodes.slice(0, c.n), { minLength: c.n, maxLength: c.n }) })),
        fc.nat(),
        ({ c: { n, s, nodes, kind }, shuffled }, seed) => {
          const live = nodes.slice(0, n);
          // A half-filled current map so the sticky phase matters too.
          const current = Array.from({ length: s }, (_, i) => (i % 2 === 0 ? (nodes[(i + seed) % nodes.length] ?? null) : null));
          const a = planAssignment({ kind, shardCount: s, nodes: live, current });
          const b = planAssignment({ kind, shardCount: s, nodes: shuffled, current });
          expect(b).toEqual(a);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('placement – pins are kept on eligible nodes and ignored for ineligible ones', () => {
    fc.assert(
      fc.property(cluster, fc.uniqueArray(fc.nat(), { minLength: 1, maxLength: 8 }), ({ n, s, nodes, kind }, picks) => {
        const live = nodes.slice(0, n);
        const dead = nodes[n]!;
        const pinned = new Map(picks.map((p, i) => [p % s, i % 3 === 2 ? dead : live[p % n]!]));
        const target = planAssignment({ kind, shardCount: s, nodes: live, current: empty(s), pinned });
        for (const [shard, node] of pinned) {
          if (node === dead) expect(live).toContain(target[shard]);
          else expect(target[shard]).toBe(node);
        }
        expect(target.every((t) => live.includes(t))).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  it('placement – pins that overfill a node still give every shard an eligible owner', () => {
    const nodes = ['a', 'b', 'c'];
    const pinned = new Map(Array.from({ length: 40 }, (_, i) => [i, 'a'] as const));
    const target = planAssignment({ kind: 'chatter', shardCount: 64, nodes, current: empty(64), pinned });
    const c = counts(target);
    expect(c.get('a')).toBe(40);
    expect((c.get('b') ?? 0) + (c.get('c') ?? 0)).toBe(24);
    expect(Math.abs((c.get('b') ?? 0) - (c.get('c') ?? 0))).toBeLessThanOrEqual(1);
  });

  it('placement – no eligible node is UNAVAILABLE, bad sizes are INVALID_FIELD', () => {
    expect(() => planAssignment({ kind: 'chatter', shardCount: 8, nodes: [], current: empty(8) })).toThrow(expect.objectContaining({ code: ErrorCode.UNAVAILABLE }));
    expect(() => planAssignment({ kind: 'chatter', shardCount: 1.5, nodes: ['a'], current: [] })).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_FIELD }));
    expect(() => planWaves([], 0)).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_FIELD }));
    expect(planAssignment({ kind: 'chatter', shardCount: 0, nodes: [], current: [] })).toEqual([]);
  });

  it('placement – waves never exceed their size, carry every move exactly once and spread over sources', () => {
    const move = fc.record({ shard: fc.nat(500), from: fc.option(fc.constantFrom('a', 'b', 'c', 'd')), to: fc.constantFrom('x', 'y') });
    fc.assert(
      fc.property(fc.array(move, { maxLength: 120 }), fc.integer({ min: 1, max: 20 }), (moves: ShardMove[], size) => {
        const waves = planWaves(moves, size);
        expect(waves.every((w) => w.length <= size && w.length > 0)).toBe(true);
        expect(waves.flat()).toHaveLength(moves.length);
        expect(new Set(waves.flat())).toEqual(new Set(moves));
        expect(waves.length).toBe(Math.ceil(moves.length / size));
        // The first wave takes from as many distinct sources as it can.
        if (waves[0]) {
          const sources = new Set(moves.map((m) => m.from));
          expect(new Set(waves[0].map((m) => m.from)).size).toBe(Math.min(sources.size, waves[0].length));
        }
      }),
    );
  });

  it('placement – shard s of every kind goes to the same node, from scratch and after nodes come and go', () => {
    fc.assert(
      fc.property(cluster, fc.integer({ min: 0, max: 2 ** 31 }), ({ n, s, nodes }, seed) => {
        const live = nodes.slice(0, n);
        const plan = (kind: string, current: (string | null)[], on: string[]) => planAssignment({ kind, shardCount: s, nodes: on, current });
        const connectors = plan('connector', empty(s), live);
        expect(plan('chatter', empty(s), live)).toEqual(connectors);
        // A node joins, then one leaves: both kinds move the same shards the same way.
        const grown = [...live, nodes[n]!];
        const afterJoin = plan('connector', connectors, grown);
        expect(plan('chatter', connectors, grown)).toEqual(afterJoin);
        const shrunk = grown.filter((_, i) => i !== seed % grown.length);
        expect(plan('chatter', afterJoin, shrunk)).toEqual(plan('connector', afterJoin, shrunk));
      }),
      { numRuns: 100 },
    );
  });
});
