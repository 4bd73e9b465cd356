import { describe, expect, it } from 'vitest';
import { LoadSampler } from '../../runtime/load-sampler.js';
import { latencyHistogram } from '../../runtime/metrics.js';

describe('load sampler', () => {
  it('load sampler – each sample gives the percentiles of what was observed since the last one, none when nothing was', async () => {
    const h = latencyHistogram('test_seconds', 'test');
    const s = new LoadSampler(h);
    for (let i = 0; i < 98; i++) h.observe(0.0015); // in the 1–2.5 ms bucket
    h.observe(0.04);
    h.observe(0.04); // two in the 20–50 ms bucket: the 99th percentile is there
    const first = await s.sample();
    expect(first.p90Ms).toBeGreaterThan(1);
    expect(first.p90Ms).toBeLessThanOrEqual(2.5);
    expect(first.p99Ms).toBeGreaterThan(20);
    expect(first.p99Ms).toBeLessThanOrEqual(50);
    expect(first.perSec).toBeGreaterThan(0);
    expect(first.cpu).toBeGreaterThanOrEqual(0);
    // Nothing new: no percentiles, no rate (the old observations are not counted again).
    const second = await s.sample();
    expect(second).not.toHaveProperty('p99Ms');
    expect(second.perSec).toBe(0);
    h.observe(0.003);
    expect((await s.sample()).p99Ms).toBeLessThanOrEqual(5);
    s.close();
  });
});
