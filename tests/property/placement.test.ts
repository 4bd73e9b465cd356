import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { diffAssignment, planAssignment, planWaves } from '../../runtime/placement.js';

const nodeIds = (n: number) => fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9-]{0,11}$/), { minLength: n, maxLength: n });
/** S in [64, 1024], N in [1, 16] with S/N >= 16 so ±15% is a meaningful bound. */
const cluster = fc
  .integer({ min: 1, max: 16 })
  .chain((n) => fc.record({ n: fc.constant(n), s: fc.integer({ min: Math.max(64, 16 * n), max: 1024 }), nodes: nodeIds(n + 1), kind: fc.constantFrom('chatter', 'connector') }));

function counts(target: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const t of target) m.set(t, (m.get(t) ?? 0) + 1);
  return m;
}

describe('placement – sticky rendezvous with bounded loads', () => {
  it('placement – every node holds within ±15% of S/N (in fact floor or ceil)', () => {
    fc.assert(
      fc.property(cluster, ({ n, s, nodes, kind }) => {
        const live = nodes.slice(0, n);
        const target = planAssignment({ kind, shardCount: s, nodes: live, current: new Array(s).fill(null) });
        const c = counts(target);
        expect(c.size).toBe(n);
        for (const node of live) {
          const k = c.get(node)!;
          expect(k).toBeGreaterThanOrEqual(Math.floor(s / n));
          expect(k).toBeLessThanOrEqual(Math.ceil(s / n));
          expect(Math.abs(k - s / n)).toBeLessThanOrEqual(0.15 * (s / n));
        }
      }),
      { numRuns: 200 },
    );
  });

  it('placement – adding a node moves about S/(N+1) shards, all onto the new node, none between old nodes', () => {
    fc.assert(
      fc.property(cluster, ({ n, s, nodes, kind }) => {
        const before = planAssignment({ kind, shardCount: s, nodes: nodes.slice(0, n), current: new Array(s).fill(null) });
        const after = planAssignment({ kind, shardCount: s, nodes, current: before });
        const moves = diffAssignment(before, after);
        expect(moves.every((m) => m.to === nodes[n])).toBe(true);
        expect(moves.length).toBeLessThanOrEqual(Math.ceil(s / (n + 1)));
        expect(moves.length).toBeGreaterThanOrEqual(Math.floor(s / (n + 1)));
      }),
      { numRuns: 200 },
    );
  });

  it('placement – removing a node moves exactly its shards and nothing else', () => {
    fc.assert(
      fc.property(cluster, fc.nat(), ({ n, s, nodes, kind }, pick) => {
        const all = nodes.slice(0, n + 1);
        const before = planAssignment({ kind, shardCount: s, nodes: all, current: new Array(s).fill(null) });
        const gone = all[pick % all.length]!;
        const rest = all.filter((x) => x !== gone);
        const current = before.map((o) => (o === gone ? null : o));
        const after = planAssignment({ kind, shardCount: s, nodes: rest, current });
        const moved = diffAssignment(before, after);
        expect(moved.every((m) => m.from === gone)).toBe(true);
        expect(moved.length).toBe(before.filter((o) => o === gone).length);
        for (const node of rest) expect(counts(after).get(node)!).toBeLessThanOrEqual(Math.ceil(s / rest.length));
      }),
      { numRuns: 200 },
    );
  });

  it('placement – the plan does not depend on the order nodes are listed in, and pins are kept', () => {
    fc.assert(
      fc.property(cluster, fc.nat(), ({ n, s, nodes, kind }, seed) => {
        const live = nodes.slice(0, n);
        const shuffled = [...live].sort((a, b) => ((a.charCodeAt(0) * (seed + 1)) % 7) - ((b.charCodeAt(0) * (seed + 1)) % 7));
        const pinned = new Map([[seed % s, live[seed % n]!]]);
        const a = planAssignment({ kind, shardCount: s, nodes: live, current: new Array(s).fill(null), pinned });
        const b = planAssignment({ kind, shardCount: s, nodes: shuffled, current: new Array(s).fill(null), pinned });
        expect(a).toEqual(b);
        expect(a[seed % s]).toBe(live[seed % n]);
      }),
      { numRuns: 100 },
    );
  });

  it('placement – waves never exceed their size and carry every move exactly once', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ shard: fc.nat(500), from: fc.option(fc.constantFrom('a', 'b', 'c')), to: fc.constantFrom('x', 'y') }), { maxLength: 120 }), fc.integer({ min: 1, max: 20 }), (moves, size) => {
        const waves = planWaves(moves, size);
        expect(waves.every((w) => w.length <= size && w.length > 0)).toBe(true);
        expect(waves.flat().length).toBe(moves.length);
        expect(new Set(waves.flat())).toEqual(new Set(moves));
      }),
    );
  });
});
