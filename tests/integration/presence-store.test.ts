import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PresenceStore } from '../../storage/presence-store.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';

describe('presence store – real Postgres', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase({ poolSize: 2 });
  });
  afterAll(async () => {
    await db?.drop();
  });

  const onlineRows = async (): Promise<string[]> =>
    (await db.sql<{ uid: string; life: string; did: string; at: string }[]>`SELECT uid, life, did, at FROM online_users ORDER BY uid`).map((r) => `${r.uid}@${r.life}/${r.did}:${r.at}`);

  it('last seen – times recorded in one turn are written together; a later time wins, an earlier one changes nothing', async () => {
    const errors: unknown[] = [];
    const store = new PresenceStore(db.sql, 5_000, (err) => errors.push(err));
    store.offline('ann', 1_800_000_000_123);
    store.offline('bob', 1_800_000_000_456);
    store.offline('ann', 1_700_000_000_000); // an older time for ann in the same turn
    await store.flush();
    expect(await store.lastSeen(['ann', 'bob', 'cy'])).toEqual(new Map([['ann', 1_800_000_000_123], ['bob', 1_800_000_000_456]]));
    store.offline('bob', 1_700_000_000_000); // older than the stored one
    store.offline('ann', 1_900_000_000_001);
    await store.flush();
    expect(await store.lastSeen(['ann', 'bob'])).toEqual(new Map([['ann', 1_900_000_000_001], ['bob', 1_800_000_000_456]]));
    // Thousands going offline at once (a gateway dying), in statements of 5,000 rows.
    for (let i = 0; i < 12_000; i++) store.offline(`u${i}`, 1_800_000_000_000 + i);
    await store.flush();
    const stored = await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM user_last_seen WHERE uid LIKE 'u%'`;
    expect(stored[0]!.n).toBe(12_000);
    expect(errors).toEqual([]);
  });

  it('presence – online is kept per user with the life that announced it; the later announcement wins, whichever node writes last', async () => {
    const errors: unknown[] = [];
    const a = new PresenceStore(db.sql, 5_000, (err) => errors.push(err));
    const b = new PresenceStore(db.sql, 5_000, (err) => errors.push(err));
    a.online('pia', 'phone', 'n1 L1', 1_000);
    a.online('quin', 'desk', 'n1 L1', 1_000);
    await a.flush();
    // The user's connector moved to n2, which announced pia online again; n1's late offline of before changes nothing.
    b.online('pia', 'tab', 'n2 L2', 3_000);
    await b.flush();
    a.offline('pia', 2_000);
    await a.flush();
    expect(await onlineRows()).toEqual(['pia@n2 L2/tab:3000', 'quin@n1 L1/desk:1000']);
    expect(await a.lastSeen(['pia'])).toEqual(new Map([['pia', 2_000]]));
    // Offline then online again in one turn: online, and the last seen of the moment between is kept.
    b.offline('pia', 4_000);
    b.online('pia', 'tab', 'n2 L2', 4_001);
    await b.flush();
    expect(await onlineRows()).toContain('pia@n2 L2/tab:4001');
    expect(await b.lastSeen(['pia'])).toEqual(new Map([['pia', 4_000]]));
    b.offline('pia', 5_000);
    await b.flush();
    expect(await onlineRows()).toEqual(['quin@n1 L1/desk:1000']);
    expect(errors).toEqual([]);
    await db.sql`DELETE FROM online_users`;
  });

  it('presence sweep – lives are listed; a claim is taken by one sweeper only until it lapses; only users still on the dead life are taken', async () => {
    const store = new PresenceStore(db.sql, 5_000);
    for (let i = 0; i < 5; i++) store.online(`d${i}`, `dev${i}`, 'dead L9', 100 + i);
    store.online('alive', 'p', 'n2 L2', 100);
    await store.flush();
    expect(await store.lives()).toEqual(['dead L9', 'n2 L2']);
    const first = await store.claim('dead L9', 3, 30_000);
    const second = await store.claim('dead L9', 10, 30_000);
    expect(first).toHaveLength(3);
    expect([...first, ...second].sort()).toEqual(['d0', 'd1', 'd2', 'd3', 'd4']);
    expect(await store.claim('dead L9', 10, 30_000)).toEqual([]);
    // A claim older than the lapse is taken again (a sweeper that died).
    await new Promise((r) => setTimeout(r, 30));
    expect((await store.claim('dead L9', 10, 20)).sort()).toEqual(['d0', 'd1', 'd2', 'd3', 'd4']);
    // d1 came back through n2 meanwhile, d2 went offline: neither is the dead life's to announce.
    store.online('d1', 'dev1', 'n2 L2', 200);
    store.offline('d2', 200);
    await store.flush();
    const lost = await store.takeLost('dead L9', ['d0', 'd1', 'd2', 'd3', 'd4']);
    expect(lost.sort((x, y) => x.uid.localeCompare(y.uid))).toEqual([
      { uid: 'd0', did: 'dev0', at: 100 },
      { uid: 'd3', did: 'dev3', at: 103 },
      { uid: 'd4', did: 'dev4', at: 104 },
    ]);
    expect(await store.lives()).toEqual(['n2 L2']);
    expect(await store.takeLost('dead L9', ['d0'])).toEqual([]);
  });
});
