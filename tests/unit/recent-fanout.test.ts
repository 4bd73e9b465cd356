import { describe, expect, it, vi } from 'vitest';
import { RecentFanout } from '../../actors/recent-fanout.js';

describe('recent fan-out', () => {
  it('recent fan-out – a replay repeats the fan-outs of the last window, oldest first, and nothing older', () => {
    const done: number[] = [];
    const r = new RecentFanout(2000, 100);
    for (let i = 0; i < 10; i++) r.record({ redo: () => done.push(i) }, 1000 + i * 500);
    // now = 6000: entries at 4000, 4500, 5000, 5500 are inside the 2 s window.
    expect(r.replay(6000)).toBe(4);
    expect(done).toEqual([6, 7, 8, 9]);
  });

  it('recent fan-out – it keeps at most max entries however fast messages come', () => {
    const done: number[] = [];
    const r = new RecentFanout(60_000, 1000);
    for (let i = 0; i < 50_000; i++) r.record({ redo: () => done.push(i) }, 1000);
    expect(r.replay(1000)).toBe(1000);
    expect(done[0]).toBe(49_000);
    expect(done.at(-1)).toBe(49_999);
  });

  it('recent fan-out – cleared, it replays nothing', () => {
    const r = new RecentFanout();
    r.record({
      redo: () => {
        throw new Error('must not run');
      },
    });
    r.clear();
    expect(r.replay()).toBe(0);
  });

  it('recent fan-out – a node that goes quiet lets go of its fan-outs once the window has passed', () => {
    vi.useFakeTimers();
    try {
      const r = new RecentFanout(2000, 100);
      for (let i = 0; i < 3; i++) r.record({ redo: () => undefined });
      expect(r.size).toBe(3);
      vi.advanceTimersByTime(1000);
      r.record({ redo: () => undefined });
      vi.advanceTimersByTime(1100);
      // The first three are past the window; the fourth is 1.1 s old and still held.
      expect(r.size).toBe(1);
      vi.advanceTimersByTime(2000);
      expect(r.size).toBe(0);
      expect(vi.getTimerCount()).toBe(0);
      r.clear();
    } finally {
      vi.useRealTimers();
    }
  });
  it('recent fan-out – a busy node wakes to let go of old fan-outs about twice a window, not once a message', () => {
    vi.useFakeTimers();
    let wakeUps = 0;
    const realSetTimeout = globalThis.setTimeout;
    const spy = vi.spyOn(globalThis, 'setTimeout').mockImplementation(((fn: () => void, ms?: number) =>
      realSetTimeout(() => {
        wakeUps++;
        fn();
      }, ms)) as typeof setTimeout);
    try {
      const r = new RecentFanout(2000, 100_000);
      // One fan-out a millisecond for 10 s.
      for (let i = 0; i < 10_000; i++) {
        r.record({ redo: () => undefined });
        vi.advanceTimersByTime(1);
      }
      expect(wakeUps).toBeLessThanOrEqual(12);
      // Never more than the window and the half window after it.
      expect(r.size).toBeLessThanOrEqual(3000);
      expect(r.replay()).toBeLessThanOrEqual(2000);
      r.clear();
    } finally {
      spy.mockRestore();
      vi.useRealTimers();
    }
  });
});
