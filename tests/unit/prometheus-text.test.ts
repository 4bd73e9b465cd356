import { describe, expect, it } from 'vitest';
import { histogramBuckets, parseExposition, quantileBetween } from '../../scripts/lib/prometheus-text.js';

/** A histogram's exposition as prom-client writes it, for two nodes. */
const exposition = (counts: Record<string, number>[]): string =>
  counts
    .map((c, i) =>
      Object.entries(c)
        .map(([le, n]) => `lat_bucket{le="${le}",node="n${i}"} ${n}`)
        .join('\n'),
    )
    .join('\n');

describe('prometheus text', () => {
  it('histogram – buckets are summed over nodes by upper bound, +Inf included', () => {
    const b = histogramBuckets(parseExposition(exposition([{ '0.01': 3, '0.1': 5, '+Inf': 6 }, { '0.01': 1, '0.1': 1, '+Inf': 1 }])), 'lat');
    expect([...b]).toEqual([
      [0.01, 4],
      [0.1, 6],
      [Infinity, 7],
    ]);
  });

  it('histogram – a quantile of what was observed between two scrapes is interpolated inside its bucket', () => {
    const before = new Map([
      [0.01, 100],
      [0.1, 100],
      [Infinity, 100],
    ]);
    // 100 new observations: 50 under 10 ms, 50 between 10 and 100 ms.
    const after = new Map([
      [0.01, 150],
      [0.1, 200],
      [Infinity, 200],
    ]);
    expect(quantileBetween(before, after, 0.5)).toBeCloseTo(0.01);
    expect(quantileBetween(before, after, 0.25)).toBeCloseTo(0.005);
    expect(quantileBetween(before, after, 0.99)).toBeCloseTo(0.01 + 0.09 * (49 / 50));
    // Nothing new: no answer rather than a made-up one.
    expect(quantileBetween(after, after, 0.99)).toBeNaN();
    // Past the last finite bound the answer is that bound, as in Prometheus.
    const slow = new Map([
      [0.01, 100],
      [0.1, 100],
      [Infinity, 110],
    ]);
    expect(quantileBetween(before, slow, 0.99)).toBe(0.1);
  });
});
