import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MovedAwayPresence } from '../../actors/presence-moved-away.js';
import { DEFAULT_PRESENCE_GRACE_MS } from '../../actors/presence-sweep.js';
import { silentLogger } from '../../runtime/logger.js';
import type { LostUser, PresenceStore } from '../../storage/presence-store.js';

const LIFE = 'n1 L1';

/** Rows `uid → life` in memory; a user's shard is the number in its uid (`u7-3`: shard 7). */
function harness(rows: Map<string, string>, lost: (u: LostUser) => Promise<unknown> = async () => undefined) {
  const reads: string[] = [];
  const store = {
    announcedBy: async (life: string, after: string, limit: number) => {
      reads.push(after);
      return [...rows].filter(([uid, l]) => l === life && uid > after).sort(([a], [b]) => (a < b ? -1 : 1)).slice(0, limit).map(([uid]) => ({ uid, did: `${uid}-phone` }));
    },
  } as unknown as PresenceStore;
  const calls: string[] = [];
  const moved = new MovedAwayPresence({
    store,
    life: LIFE,
    shardOf: (uid) => Number(/^u(\d+)-/.exec(uid)![1]),
    lost: (u, life) => (calls.push(`${u.uid} ${life}`), lost(u)),
    log: silentLogger(),
  });
  return { moved, calls, reads };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('presence of users whose connector moved away', () => {
  it('presence moved away – after the grace, only the users of the shards let go that this node still holds are handed on, once', async () => {
    const rows = new Map([['u1-a', LIFE], ['u1-b', 'n2 L2'], ['u2-a', LIFE], ['u3-a', LIFE]]);
    const { moved, calls } = harness(rows);
    moved.released(1);
    moved.released(3);
    await vi.advanceTimersByTimeAsync(DEFAULT_PRESENCE_GRACE_MS - 100);
    expect(calls).toEqual([]); // their sessions may still be attaching to the new owner
    rows.set('u3-a', 'n2 L2'); // u3-a's device came back through the new owner meanwhile
    await vi.advanceTimersByTimeAsync(200);
    await moved.settled();
    expect(calls).toEqual([`u1-a ${LIFE}`]);
    await vi.advanceTimersByTimeAsync(DEFAULT_PRESENCE_GRACE_MS * 3);
    expect(calls).toEqual([`u1-a ${LIFE}`]);
    moved.close();
  });

  it('presence moved away – a user whose call failed is handed on again in a later round, at most three rounds in all', async () => {
    const rows = new Map([['u4-a', LIFE]]);
    const { moved, calls } = harness(rows, async () => Promise.reject(new Error('no responders')));
    moved.released(4);
    await vi.advanceTimersByTimeAsync(DEFAULT_PRESENCE_GRACE_MS * 10);
    await moved.settled();
    expect(calls).toEqual([`u4-a ${LIFE}`, `u4-a ${LIFE}`, `u4-a ${LIFE}`]);
    moved.close();
  });

  it('presence moved away – a node holding more users than a page reads them all, page by page', async () => {
    const rows = new Map<string, string>();
    for (let i = 0; i < 2_500; i++) rows.set(`u${i % 2 === 0 ? 5 : 6}-${String(i).padStart(5, '0')}`, LIFE);
    const { moved, calls, reads } = harness(rows);
    moved.released(5);
    await vi.advanceTimersByTimeAsync(DEFAULT_PRESENCE_GRACE_MS + 100);
    await moved.settled();
    expect(calls.length).toBe(1_250);
    expect(new Set(calls).size).toBe(1_250);
    expect(calls.every((c) => c.startsWith('u5-'))).toBe(true);
    expect(reads.length).toBe(3);
    moved.close();
  });

  it('presence moved away – a closed tracker hands nobody on', async () => {
    const { moved, calls } = harness(new Map([['u1-a', LIFE]]));
    moved.released(1);
    moved.close();
    moved.released(1);
    await vi.advanceTimersByTimeAsync(DEFAULT_PRESENCE_GRACE_MS * 2);
    expect(calls).toEqual([]);
  });
});
