import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { NatsConnection } from 'nats';
import { waitUntil } from '../helpers/wait.js';
import { RevocationCache, RevocationFeed } from '../../actors/gateway/revocation-cache.js';
import { DEFAULT_TOKEN_LEEWAY_SEC } from '../../protocol/limits.js';
import { signToken, verifyToken } from '../../protocol/token.js';
import { silentLogger } from '../../runtime/logger.js';
import { revocationCutoffMs, type Revocation, type RevocationStore } from '../../storage/revocation-store.js';

describe('revocation cache – what a gateway refuses at upgrade', () => {
  it('revocation cache – a device or a whole user is covered up to its beforeMs, to the millisecond; pruning forgets only the old ones', () => {
    const c = new RevocationCache();
    c.apply({ uid: 'ann', did: 'phone', beforeMs: 100_123 });
    c.apply({ uid: 'bob', beforeMs: 500_000 });
    c.apply({ uid: 'bob', did: 'tab', beforeMs: 50_000 });
    expect(c.covers('ann', 'phone', 100)).toBe(true);
    expect(c.covers('ann', 'phone', 100.123)).toBe(true);
    // Issued a millisecond after the sign-out, in the same second: not covered.
    expect(c.covers('ann', 'phone', 100.124)).toBe(false);
    expect(c.covers('ann', 'laptop', 1)).toBe(false);
    expect(c.covers('bob', 'anything', 499.999)).toBe(true);
    // Below the cutoff every covered token has expired: ann's only revocation and bob's device one go.
    c.prune(100_124);
    expect(c.users).toBe(1);
    expect(c.covers('ann', 'phone', 1)).toBe(false);
    expect(c.covers('bob', 'tab', 400)).toBe(true);
    c.prune(500_001);
    expect(c.users).toBe(0);
  });

  it('revocation cache – a re-read after NATS came back tells of each revocation the lost broadcasts carried, and only those', async () => {
    const now = Date.now();
    let stored: Revocation[] = [{ uid: 'ann', beforeMs: now - 1_000 }];
    const store = { all: async () => stored } as unknown as RevocationStore;
    const told: Revocation[] = [];
    const feed = new RevocationFeed({} as NatsConnection, store, (r) => told.push(r), () => 3600, silentLogger());
    await feed.reload();
    expect(told).toEqual([{ uid: 'ann', beforeMs: now - 1_000 }]);
    // While NATS was away: bob signed out everywhere, ann's phone again. One older than the longest token counts for nothing.
    stored = [...stored, { uid: 'bob', beforeMs: now }, { uid: 'ann', did: 'phone', beforeMs: now }, { uid: 'old', beforeMs: now - 3 * 3_600_000 }];
    told.length = 0;
    await feed.reload();
    expect(told).toEqual([{ uid: 'bob', beforeMs: now }, { uid: 'ann', did: 'phone', beforeMs: now }]);
    expect(feed.cache.covers('bob', 'any', now / 1000)).toBe(true);
    told.length = 0;
    await feed.reload();
    expect(told).toEqual([]);
  });

  it('revocation cache – a catch-up read that fails (Postgres away too) is tried again until one succeeds, and stops at close', async () => {
    const now = Date.now();
    let failures = 2;
    let reads = 0;
    const store = {
      all: async () => {
        reads++;
        if (failures-- > 0) throw new Error('connection refused');
        return [{ uid: 'bob', beforeMs: now }];
      },
    } as unknown as RevocationStore;
    const told: Revocation[] = [];
    const feed = new RevocationFeed({} as NatsConnection, store, (r) => told.push(r), () => 3600, silentLogger());
    feed.catchUp(10);
    await waitUntil(() => told.length === 1, 'the revocation read after two failed reads');
    expect(told).toEqual([{ uid: 'bob', beforeMs: now }]);
    expect(reads).toBe(3);
    // Closed while failing: no more reads.
    failures = 1_000;
    feed.catchUp(10);
    await waitUntil(() => reads >= 5, 'a retry');
    feed.close();
    const after = reads;
    await new Promise((r) => setTimeout(r, 200));
    expect(reads).toBe(after);
  });

  it('revocation cache – a pruned revocation never lets a token it covered back in: by then that token has expired', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 60, max: 90 * 24 * 3600 }),
        fc.integer({ min: 0, max: 10 ** 11 }),
        fc.oneof(fc.constant(1), fc.double({ min: 0, max: 1, noNaN: true })),
        fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 10 ** 9 })),
        // Around the moment the longest-lived covered token stops being accepted, and anywhere after.
        fc.oneof(fc.integer({ min: -5_000_000, max: 5_000_000 }), fc.integer({ min: 0, max: 10 ** 11 })),
        (maxLife, iatOff, ttlShare, afterIat, delta) => {
          const iatMs = 1_800_000_000_000 + iatOff;
          const ttl = Math.max(1, Math.floor(maxLife * ttlShare));
          const beforeMs = iatMs + afterIat; // the revocation covers this token
          const nowMs = beforeMs + maxLife * 1000 + delta;
          if (beforeMs >= revocationCutoffMs(nowMs, maxLife)) return; // not pruned yet: the cache still refuses it
          const token = signToken({ sub: 'u', did: 'd', ttlSec: ttl }, 'k', iatMs / 1000);
          const r = verifyToken(token, 'k', { nowSec: Math.floor(nowMs / 1000), leewaySec: DEFAULT_TOKEN_LEEWAY_SEC, maxLifetimeSec: maxLife });
          expect(r.ok).toBe(false);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
