import { describe, expect, it } from 'vitest';
import { CoalescedRunner } from '../../runtime/coalesced-runner.js';

describe('coalesced runner – refreshes that pile up while one runs', () => {
  it('coalesced runner – calls during a run share it and cause exactly one more run, which they wait for', async () => {
    const gates: (() => void)[] = [];
    let runs = 0;
    const r = new CoalescedRunner(
      () => new Promise<void>((resolve) => (runs++, gates.push(resolve))),
      () => false,
    );
    const first = r.run();
    const second = r.run();
    const third = r.run();
    expect(second).toBe(first);
    expect(third).toBe(first);
    let settled = false;
    void first.then(() => (settled = true));
    gates.shift()!(); // the first run ends; the calls made during it get one more
    await new Promise((res) => setTimeout(res, 0));
    expect(runs).toBe(2);
    expect(settled).toBe(false);
    gates.shift()!();
    await first;
    expect(runs).toBe(2);
    expect(r.current).toBeUndefined();
  });

  it('coalesced runner – nothing runs once stopped, and a stop during a run skips the repeat', async () => {
    let stopped = false;
    let runs = 0;
    let release: () => void = () => undefined;
    const r = new CoalescedRunner(
      () => new Promise<void>((resolve) => (runs++, (release = resolve))),
      () => stopped,
    );
    const p = r.run();
    void r.run();
    stopped = true;
    release();
    await p;
    expect(runs).toBe(1);
    await r.run();
    expect(runs).toBe(1);
  });

  it('coalesced runner – a call made just as a run ends (after its last look for more) starts another run', async () => {
    let runs = 0;
    let finish: () => void = () => undefined;
    const r = new CoalescedRunner(
      () => new Promise<void>((resolve) => (runs++, (finish = resolve))),
      () => false,
    );
    void r.run();
    finish();
    // Queued after the run's own continuation: it comes once the run has looked for more, before any later callback.
    queueMicrotask(() => void r.run());
    await new Promise((res) => setTimeout(res, 0));
    expect(runs).toBe(2);
    finish();
    await r.current;
  });
});

