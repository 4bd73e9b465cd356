import { describe, expect, it } from 'vitest';
import { ConcurrencyGate } from '../../runtime/concurrency-gate.js';

const tick = () => new Promise((r) => setImmediate(r));

describe('concurrency gate – at most N at once, the rest in arrival order', () => {
  it('concurrency gate – never more than the limit run at once, and waiters start in the order they came', async () => {
    const gate = new ConcurrencyGate(3);
    let running = 0;
    let most = 0;
    const started: number[] = [];
    const release: (() => void)[] = [];
    const jobs = Array.from({ length: 5000 }, (_, i) =>
      gate.run(async () => {
        started.push(i);
        most = Math.max(most, ++running);
        await new Promise<void>((r) => release.push(r));
        running--;
      }),
    );
    await tick();
    expect(started).toEqual([0, 1, 2]);
    expect(gate.queued).toBe(4997);
    // Finish them one at a time, oldest first: each frees a place for the next waiter.
    for (let done = 0; done < 5000; done++) {
      release.shift()!();
      await tick();
    }
    await Promise.all(jobs);
    expect(most).toBe(3);
    expect(started).toEqual(Array.from({ length: 5000 }, (_, i) => i));
    expect(gate.active).toBe(0);
    expect(gate.queued).toBe(0);
  });

  it('concurrency gate – a job that throws gives its place up', async () => {
    const gate = new ConcurrencyGate(1);
    await expect(gate.run(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await gate.run(async () => 'next')).toBe('next');
    expect(gate.active).toBe(0);
    expect(() => new ConcurrencyGate(0)).toThrow(RangeError);
  });
});
