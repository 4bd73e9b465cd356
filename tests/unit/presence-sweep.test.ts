import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_PRESENCE_GRACE_MS, PresenceSweep } from '../../actors/presence-sweep.js';
import { silentLogger } from '../../runtime/logger.js';
import type { LostUser, PresenceStore } from '../../storage/presence-store.js';

/** A sweep over an in-memory store of rows `uid → life`; `owned` says whether a node still owns connector shards. */
function harness(rows: Map<string, string>, owned: (nodeId: string) => boolean, lost: (u: LostUser) => Promise<unknown>) {
  const claims = new Map<string, number>();
  const store = {
    lives: async () => [...new Set(rows.values())].sort(),
    claim: async (life: string, limit: number) => {
      const got = [...rows].filter(([uid, l]) => l === life && !claims.has(uid)).slice(0, limit).map(([uid]) => uid);
      for (const uid of got) claims.set(uid, Date.now());
      return got;
    },
    stillOn: async (life: string, uids: readonly string[]) => uids.filter((u) => rows.get(u) === life).map((uid) => ({ uid, did: `${uid}-phone` })),
  } as unknown as PresenceStore;
  const calls: string[] = [];
  const sweep = new PresenceSweep({
    store,
    live: async () => [{ nodeId: 'n1', incarnation: 'L1' }],
    ownsConnectorShards: async (nodeId) => owned(nodeId),
    lost: (u, life) => (calls.push(`${u.uid} ${u.did} ${life}`), lost(u)),
    log: silentLogger(),
  });
  return { sweep, calls, claims };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('presence sweep', () => {
  it('presence sweep – the users of a life that ended are told once its shards have new owners and the grace is over; those back elsewhere are not', async () => {
    const rows = new Map([['ann', 'n2 L2'], ['bob', 'n2 L2'], ['cy', 'n1 L1']]);
    let n2Owns = true;
    const { sweep, calls } = harness(rows, (id) => id === 'n2' && n2Owns, async () => undefined);
    const done = sweep.sweepEnded();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(calls).toEqual([]); // n2 still owns connector shards: nobody could be back yet
    n2Owns = false;
    rows.set('bob', 'n1 L1'); // bob's device came back through n1
    await vi.advanceTimersByTimeAsync(DEFAULT_PRESENCE_GRACE_MS);
    expect(calls).toEqual([]);
    await vi.advanceTimersByTimeAsync(1_000);
    await done;
    expect(calls).toEqual(['ann ann-phone n2 L2']);
  });

  it('presence sweep – a node that keeps its shards (restarted under its id) holds the grace back for a bounded time only', async () => {
    const { sweep, calls } = harness(new Map([['ann', 'n2 L2']]), () => true, async () => undefined);
    const done = sweep.sweepEnded();
    await vi.advanceTimersByTimeAsync(25_000);
    await done;
    expect(calls).toEqual(['ann ann-phone n2 L2']);
  });

  it('presence sweep – connectors are told 50 at a time, one failing stops none of the others; a sweep closed during its grace tells nobody', async () => {
    const rows = new Map(Array.from({ length: 120 }, (_, i) => [`u${String(i).padStart(3, '0')}`, 'n3 L3'] as [string, string]));
    let inFlight = 0;
    let most = 0;
    const { sweep, calls, claims } = harness(rows, () => false, async (u) => {
      most = Math.max(most, ++inFlight);
      await new Promise((r) => setTimeout(r, 10));
      inFlight--;
      if (u.uid === 'u007') throw new Error('unavailable');
    });
    const done = sweep.sweepEnded();
    await vi.advanceTimersByTimeAsync(DEFAULT_PRESENCE_GRACE_MS + 1_000);
    await done;
    expect([calls.length, most]).toEqual([120, 50]);
    expect(claims.size).toBe(120);

    const later = harness(new Map([['zed', 'n4 L4']]), () => false, async () => undefined);
    const stopped = later.sweep.sweepEnded();
    await vi.advanceTimersByTimeAsync(1_000);
    later.sweep.close();
    await vi.advanceTimersByTimeAsync(DEFAULT_PRESENCE_GRACE_MS);
    await stopped;
    expect(later.calls).toEqual([]);
  });
});
