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
    a.online('quin', 'desk', 'n1 L1', 1_000);
    await a.flush();
    a.online('pia', 'phone', 'n1 L1', 1_500); // a late online of before changes nothing either
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

  it('presence sweep – lives are listed; a claim is taken by one sweeper only until it lapses; only users still on the dead life are lost, and each is taken once', async () => {
    const store = new PresenceStore(db.sql, 5_000);
    store.offline('d0', 50); // last seen before the dead life announced d0 online
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
    // d1 came back through n2 meanwhile, d2 went offline: neither is the dead life's any more.
    store.online('d1', 'dev1', 'n2 L2', 200);
    store.offline('d2', 200);
    await store.flush();
    const all = ['d0', 'd1', 'd2', 'd3', 'd4'];
    expect(await store.stillOn('dead L9', all)).toEqual([
      { uid: 'd0', did: 'dev0' },
      { uid: 'd3', did: 'dev3' },
      { uid: 'd4', did: 'dev4' },
    ]);
    // The connector takes its user's row once; a second call (a retry) finds nothing to announce.
    expect(await store.takeLost('d0', 'dead L9')).toEqual({ offlineSince: false });
    expect(await store.takeLost('d0', 'dead L9')).toBeUndefined();
    expect(await store.takeLost('d1', 'dead L9')).toBeUndefined();
    // A device of d3's is back through n3, whose clock is behind: the row is n3's all the same.
    await store.adopt('d3', 'dead L9', 'n3 L3', 'tab', 50);
    expect(await onlineRows()).toContain('d3@n3 L3/tab:103');
    // d4 went offline at 300, but a late write of its online at 104 made the row again: taken, with nobody to tell.
    store.offline('d4', 300);
    await store.flush();
    store.online('d4', 'dev4', 'dead L9', 104);
    await store.flush();
    expect(await store.takeLost('d4', 'dead L9')).toEqual({ offlineSince: true });
    expect(await store.lives()).toEqual(['n2 L2', 'n3 L3']);
    await db.sql`DELETE FROM online_users`;
  });

  it('presence – direct peers are the other members of the user\'s direct conversations, not of groups', async () => {
    await db.sql`INSERT INTO conversations (conv_id, kind) VALUES ('dx1', 'direct'), ('dx2', 'direct'), ('gx', 'group')`;
    await db.sql`INSERT INTO members (conv_id, uid) VALUES ('dx1', 'me'), ('dx1', 'you'), ('dx2', 'me'), ('dx2', 'them'), ('gx', 'me'), ('gx', 'crowd')`;
    expect((await new PresenceStore(db.sql, 5_000).directPeers('me')).sort()).toEqual(['them', 'you']);
  });

  it('presence – a node pages through the users it announced online, by uid, and sees no other life\'s', async () => {
    const store = new PresenceStore(db.sql, 5_000);
    for (const uid of ['pa', 'pb', 'pc', 'pd', 'pe']) store.online(uid, `${uid}-dev`, 'own L1', 10);
    store.online('px', 'px-dev', 'other L2', 10);
    await store.flush();
    expect(await store.announcedBy('own L1', '', 2)).toEqual([{ uid: 'pa', did: 'pa-dev' }, { uid: 'pb', did: 'pb-dev' }]);
    expect(await store.announcedBy('own L1', 'pb', 2)).toEqual([{ uid: 'pc', did: 'pc-dev' }, { uid: 'pd', did: 'pd-dev' }]);
    expect(await store.announcedBy('own L1', 'pd', 2)).toEqual([{ uid: 'pe', did: 'pe-dev' }]);
    expect(await store.announcedBy('gone L3', '', 2)).toEqual([]);
    await db.sql`DELETE FROM online_users`;
  });
});
