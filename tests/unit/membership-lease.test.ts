import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../runtime/logger.js';
import { Membership } from '../../runtime/membership.js';
import type { NodeStore } from '../../storage/node-store.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A node store whose renewals take `rttMs` to come back (a busy database), counting how many overlap. */
function slowStore(rttMs: number): { store: NodeStore; maxInFlight: () => number } {
  let inFlight = 0;
  let max = 0;
  const store = {
    register: async () => ({ tookOver: false }),
    renew: async () => {
      max = Math.max(max, ++inFlight);
      await sleep(rttMs);
      inFlight--;
      return Date.now() + 600;
    },
    setState: async () => true,
  } as unknown as NodeStore;
  return { store, maxInFlight: () => max };
}

describe('membership – lease renewals under a slow database', () => {
  let m: Membership | undefined;
  afterEach(() => m?.stopHeartbeat());

  const start = (store: NodeStore, lost: string[]) =>
    new Membership({ nodeId: 'n', nodes: store, endpoints: [], heartbeatMs: 100, leaseMs: 600, log: silentLogger(), onLost: () => lost.push('lost'), onRegained: () => lost.push('regained'), onReplaced: () => {} });

  it('membership – renewals answered in 250 ms keep a 600 ms lease: the next one is sent before the last is answered', async () => {
    const { store, maxInFlight } = slowStore(250);
    const lost: string[] = [];
    m = start(store, lost);
    await m.start();
    await sleep(1500);
    expect(lost).toEqual([]);
    expect(m.losses).toBe(0);
    expect(m.isValid()).toBe(true);
    expect(maxInFlight()).toBeGreaterThan(1);
    expect(maxInFlight()).toBeLessThanOrEqual(3);
  });

  it('membership – renewals slower than the lease lose it, and at most three are outstanding', async () => {
    const { store, maxInFlight } = slowStore(800);
    const lost: string[] = [];
    m = start(store, lost);
    await m.start();
    await sleep(1500);
    expect(lost[0]).toBe('lost');
    expect(m.losses).toBe(lost.filter((x) => x === 'lost').length);
    expect(maxInFlight()).toBe(3);
  });
});
