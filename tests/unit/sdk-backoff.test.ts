import { describe, expect, it } from 'vitest';
import { Backoff } from '../../protocol/sdk/backoff.js';

describe('sdk backoff – full jitter', () => {
  it('sdk backoff – delays stay within [0, min(cap, base·2^attempt)] and the ceiling doubles up to the cap', () => {
    const high = new Backoff({ baseMs: 1000, capMs: 30_000, random: () => 0.999_999 });
    const delays = Array.from({ length: 8 }, () => high.next());
    expect(delays).toEqual([999, 1999, 3999, 7999, 15_999, 29_999, 29_999, 29_999]);
    const low = new Backoff({ random: () => 0 });
    expect(Array.from({ length: 5 }, () => low.next())).toEqual([0, 0, 0, 0, 0]);
  });

  it('sdk backoff – random delays never leave the window', () => {
    const b = new Backoff({ baseMs: 100, capMs: 1000 });
    for (let i = 0; i < 200; i++) {
      const ceiling = Math.min(1000, 100 * 2 ** b.attempt);
      const d = b.next();
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThanOrEqual(ceiling);
    }
  });

  it('sdk backoff – a connection that lived long enough resets it, a short one does not', () => {
    const b = new Backoff({ baseMs: 1000, capMs: 30_000, resetAfterMs: 10_000, random: () => 0.999_999 });
    b.next();
    b.next();
    b.next();
    b.connectionLived(9_999);
    expect(b.next()).toBe(7999);
    b.connectionLived(10_000);
    expect(b.next()).toBe(999);
  });
});
