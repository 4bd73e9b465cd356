import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../protocol/errors.js';
import { ConversationStore, directConversationId } from '../../storage/conversation-store.js';
import { MemberPrefsStore } from '../../storage/member-prefs-store.js';
import { MessageStore } from '../../storage/message-store.js';
import { blankMessagesOf } from '../../storage/user-erasure.js';
import { ShardMapStore } from '../../storage/shard-map-store.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';

describe('conversation store – real Postgres', () => {
  let db: TestDatabase;
  let convs: ConversationStore;
  let msgs: MessageStore;
  beforeAll(async () => {
    db = await createTestDatabase();
    convs = new ConversationStore(db.sql);
    msgs = new MessageStore(db.sql);
  });
  afterAll(async () => {
    await db?.drop();
  });

  const uids = (added: { uid: string }[]) => added.map((a) => a.uid);
  /** Appends `seqs` after the conversation's last message, as its chatter would. */
  const post = async (convId: string, seqs: number[]) => {
    const last = await msgs.lastSeq(convId);
    return msgs.appendBatch(seqs.map((seq, i) => ({ convId, seq, prevSeq: seqs[i - 1] ?? last, senderUid: 'x', senderDid: 'dx', clientMsgId: seq, body: Buffer.from('m') })));
  };

  it('conversations – a user in the most conversations allowed is not added anywhere new, atomically, until they leave one', async () => {
    const capped = new ConversationStore(db.sql, { maxUserConversations: 2 });
    const early = await capped.createDirect('cap-a', 'cap-friend');
    await capped.createGroup({ convId: 'cap-g1', owner: 'cap-a' });
    const limit = expect.objectContaining({ code: ErrorCode.LIMIT_REACHED, message: expect.stringContaining('cap-a') });
    await expect(capped.createGroup({ convId: 'cap-g2', owner: 'cap-b', members: ['cap-a', 'cap-c'] })).rejects.toEqual(limit);
    expect(await capped.get('cap-g2')).toBeUndefined();
    await expect(capped.createDirect('cap-a', 'cap-d')).rejects.toEqual(limit);
    expect(await capped.get(directConversationId('cap-a', 'cap-d'))).toBeUndefined();
    await capped.createGroup({ convId: 'cap-g3', owner: 'cap-b' });
    await expect(capped.addMembers('cap-g3', ['cap-c', 'cap-a'])).rejects.toEqual(limit);
    expect((await capped.members('cap-g3')).map((m) => m.uid)).toEqual(['cap-b']);
    // Conversations the user is in already are no new ones: creating them again or re-adding the user is fine.
    expect((await capped.createDirect('cap-friend', 'cap-a')).convId).toBe(early.convId);
    expect(await capped.createGroup({ convId: 'cap-g1', owner: 'cap-a' })).toMatchObject({ convId: 'cap-g1' });
    await capped.removeMembers('cap-g1', ['cap-a']);
    expect(uids(await capped.addMembers('cap-g3', ['cap-c', 'cap-a']))).toEqual(['cap-a', 'cap-c']);
  });

  it('conversations – a group never grows past the most members allowed: a create or an add that would is refused whole', async () => {
    const capped = new ConversationStore(db.sql, { maxGroupMembers: 3 });
    const full = expect.objectContaining({ code: ErrorCode.LIMIT_REACHED, message: expect.stringContaining('at most 3 members') });
    await expect(capped.createGroup({ convId: 'big-g1', owner: 'big-a', members: ['big-b', 'big-c', 'big-d'] })).rejects.toEqual(full);
    expect(await capped.get('big-g1')).toBeUndefined();
    await capped.createGroup({ convId: 'big-g1', owner: 'big-a', members: ['big-b'] });
    await expect(capped.addMembers('big-g1', ['big-c', 'big-d'])).rejects.toEqual(
      expect.objectContaining({ code: ErrorCode.LIMIT_REACHED, message: 'a group may have at most 3 members; it has 2 and 2 would join: nothing was changed' }),
    );
    expect((await capped.members('big-g1')).map((m) => m.uid)).toEqual(['big-a', 'big-b']);
    // Members already in count once: re-adding them, or creating the group again, is no growth.
    expect(uids(await capped.addMembers('big-g1', ['big-b', 'big-c']))).toEqual(['big-c']);
    expect(await capped.addMembers('big-g1', ['big-a', 'big-c'])).toEqual([]);
    expect(await capped.createGroup({ convId: 'big-g1', owner: 'big-a', members: ['big-b'] })).toMatchObject({ convId: 'big-g1' });
    await expect(capped.addMembers('big-g1', ['big-d'])).rejects.toEqual(full);
    await capped.removeMembers('big-g1', ['big-b']);
    expect(uids(await capped.addMembers('big-g1', ['big-d']))).toEqual(['big-d']);
  });

  it('conversations – a direct conversation has one id whatever the order of its users, and two members', async () => {
    expect(directConversationId('bob', 'alice')).toBe(directConversationId('alice', 'bob'));
    expect(directConversationId('a:b', 'c')).not.toBe(directConversationId('a', 'b:c'));
    const c1 = await convs.createDirect('alice', 'bob');
    const c2 = await convs.createDirect('bob', 'alice');
    expect(c1.convId).toBe(c2.convId);
    expect((await convs.members(c1.convId)).map((m) => m.uid)).toEqual(['alice', 'bob']);
    await expect(convs.addMembers(c1.convId, ['carol'])).rejects.toMatchObject({ code: ErrorCode.INVALID_FIELD });
    await expect(convs.removeMembers(c1.convId, ['bob'])).rejects.toMatchObject({ code: ErrorCode.INVALID_FIELD });
    expect(await convs.members(c1.convId)).toHaveLength(2);
    expect(() => directConversationId('alice', 'alice')).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_FIELD }));
    // Long uids still give a deterministic id within the conv id limit.
    const long = (c: string) => c.repeat(128);
    const l = directConversationId(long('x'), long('y'));
    expect(l).toBe(directConversationId(long('y'), long('x')));
    expect(l.length).toBeLessThanOrEqual(128);
    expect((await convs.createDirect(long('x'), long('y'))).convId).toBe(l);
    // A group can never take a direct id.
    await expect(convs.createGroup({ convId: directConversationId('p', 'q'), owner: 'p' })).rejects.toMatchObject({ code: ErrorCode.INVALID_FIELD });
  });

  it('conversations – group membership is idempotent and checked', async () => {
    const g = await convs.createGroup({ convId: 'team', title: 'Team', owner: 'alice', members: ['bob', 'bob', 'carol'] });
    expect(g.added).toEqual([{ uid: 'alice', clearedSeq: 0 }, { uid: 'bob', clearedSeq: 0 }, { uid: 'carol', clearedSeq: 0 }]);
    expect(await convs.addMembers(g.convId, ['dave', 'bob'])).toEqual([{ uid: 'dave', clearedSeq: 0 }]);
    expect(await convs.isMember('team', 'dave')).toBe(true);
    expect(await convs.removeMembers('team', ['dave', 'zed'])).toEqual(['dave']);
    expect(await convs.isMember('team', 'dave')).toBe(false);
    expect((await convs.members('team')).find((m) => m.uid === 'alice')?.role).toBe('owner');
    await expect(convs.addMembers('nope', ['x'])).rejects.toMatchObject({ code: ErrorCode.NOT_FOUND });
    await expect(convs.removeMembers('nope', ['x'])).rejects.toMatchObject({ code: ErrorCode.NOT_FOUND });
    // Creating again with the same id changes nothing and keeps the members.
    expect((await convs.createGroup({ convId: 'team', owner: 'alice' })).added).toEqual([]);
    expect((await convs.members('team')).map((m) => m.uid)).toEqual(['alice', 'bob', 'carol']);
    // Asked again naming another owner (a caller's mistake or a stale retry), it adds them as a plain member.
    expect(uids((await convs.createGroup({ convId: 'team', owner: 'erin', title: 'Other' })).added)).toEqual(['erin']);
    expect((await convs.members('team')).map((m) => [m.uid, m.role])).toEqual([['alice', 'owner'], ['bob', 'member'], ['carol', 'member'], ['erin', 'member']]);
    expect((await convs.get('team'))?.title).toBe('Team');
    expect(await convs.removeMembers('team', ['erin'])).toEqual(['erin']);
    await expect(convs.addMembers('team', [''])).rejects.toMatchObject({ code: ErrorCode.INVALID_FIELD });
    await expect(convs.createGroup({ convId: '', owner: 'alice' })).rejects.toMatchObject({ code: ErrorCode.INVALID_FIELD });
    const generated = await convs.createGroup({ owner: 'zoe' });
    expect(generated.convId.startsWith('g:')).toBe(true);
    expect(await convs.isMember(generated.convId, 'zoe')).toBe(true);
  });

  it('conversations – a user list shows last seq, read mark and exact unread counts across seq gaps', async () => {
    await convs.createGroup({ convId: 'gaps', owner: 'erin', members: ['frank'] });
    const direct = await convs.createDirect('erin', 'gina');
    await post('gaps', [5, 9, 1000, 2001]);
    await post(direct.convId, [3]);
    expect((await convs.setReadMark('erin', 'gaps', 9)).readSeq).toBe(9);
    // The peer's mark, not erin's own, is the direct conversation's peerRead (read receipts); groups have none.
    expect((await convs.setReadMark('gina', direct.convId, 3)).readSeq).toBe(3);
    const list = await convs.userConversations('erin');
    // Most recent first: the direct conversation's message came last.
    expect(list).toEqual([
      { convId: direct.convId, kind: 'direct', lastSeq: 3, lastTs: expect.any(Number), readSeq: 0, seenSeq: 0, deliveredSeq: 0, unread: 1, memberCount: 2, peer: 'gina', peerRead: 3, peerDelivered: 0, mutedUntil: 0, silencedUntil: 0, pinnedAt: 0, archivedAt: 0, markedUnreadAt: 0, clearedSeq: 0 },
      { convId: 'gaps', kind: 'group', lastSeq: 2001, lastTs: expect.any(Number), readSeq: 9, seenSeq: 9, deliveredSeq: 0, unread: 2, memberCount: 2, mutedUntil: 0, silencedUntil: 0, pinnedAt: 0, archivedAt: 0, markedUnreadAt: 0, clearedSeq: 0 },
    ]);
    expect(list[0]!.lastTs).toBeGreaterThanOrEqual(list[1]!.lastTs!);
    // A conversation with no message yet has no lastTs.
    await convs.createGroup({ convId: 'quiet', owner: 'erin' });
    expect((await convs.userConversations('erin')).find((c) => c.convId === 'quiet')).not.toHaveProperty('lastTs');
  });

  it('conversations – unread stays exact wherever the read mark falls: before the first message, in a hole, on a message, after holes', async () => {
    await convs.createGroup({ convId: 'holes', owner: 'lena' });
    // Holes below the first message (1–999), between 1003 and 2000, and between 2001 and 5000.
    const seqs = [1000, 1001, 1002, 1003, 2000, 2001, 5000];
    await post('holes', seqs);
    const unread = async () => (await convs.userConversations('lena'))[0]!.unread;
    const stored = (mark: number) => seqs.filter((s) => s > mark).length;
    expect(await unread()).toBe(7);
    for (const mark of [500, 1000, 1002, 1500, 2000, 3000, 5000]) {
      // The mark's own answer carries the same exact count as the list, and the last seq it runs to.
      const set = await convs.setReadMark('lena', 'holes', mark);
      expect({ mark, unread: await unread(), answered: set.unread, lastSeq: set.lastSeq }).toEqual({ mark, unread: stored(mark), answered: stored(mark), lastSeq: 5000 });
    }
    // A long run without holes counts every message.
    await convs.createGroup({ convId: 'dense', owner: 'max' });
    await post('dense', Array.from({ length: 300 }, (_, i) => i + 1));
    await convs.setReadMark('max', 'dense', 120);
    expect((await convs.userConversations('max'))[0]).toMatchObject({ lastSeq: 300, readSeq: 120, unread: 180 });
  });

  it('erasure – a user’s messages in many conversations are blanked, statement by statement, each counted once', async () => {
    const ids = Array.from({ length: 120 }, (_, i) => `bl-${i}`);
    for (const convId of ids) await convs.createGroup({ convId, owner: 'blu' });
    await msgs.appendBatch(ids.flatMap((convId) => [1, 2].map((seq) => ({ convId, seq, prevSeq: seq - 1, senderUid: 'blu', senderDid: 'd', clientMsgId: seq, body: Buffer.from('secret') }))));
    expect(await blankMessagesOf(db.sql, 'blu', ids)).toBe(240);
    expect(await blankMessagesOf(db.sql, 'blu', ids)).toBe(0);
    expect((await db.sql`SELECT count(*)::int AS n FROM messages WHERE sender_uid = 'blu' AND body <> ''::bytea`)[0]!['n']).toBe(0);
  });

  it('erase – a heavy sender is blanked in statements of bounded size, with the mentions they made; their reaction is counted off once', async () => {
    await convs.createGroup({ convId: 'heavy', owner: 'bot', members: ['pat'] });
    // pat says 1; the bot 2..26, its 10th mentioning pat; then it reacts 👍 to 1 (27).
    const m = (seq: number, uid: string, body: string) => ({ convId: 'heavy', seq, prevSeq: seq - 1, senderUid: uid, senderDid: `${uid}-d`, clientMsgId: seq, body: Buffer.from(body) });
    await msgs.appendBatch([m(1, 'pat', 'hi'), ...Array.from({ length: 25 }, (_, i) => m(i + 2, 'bot', `spam ${i}`)), m(27, 'bot', '👍')]);
    await db.sql`UPDATE messages SET mentions = ARRAY['pat'] WHERE conv_id = 'heavy' AND seq = 11`;
    await db.sql`INSERT INTO mentions (uid, conv_id, seq) VALUES ('pat', 'heavy', 11)`;
    await db.sql`UPDATE messages SET reacts = 1 WHERE conv_id = 'heavy' AND seq = 27`;
    await db.sql`INSERT INTO reaction_counts (conv_id, target, emoji, n, since, at) VALUES ('heavy', 1, '👍', 1, 27, 27)`;
    // Ten a statement: three statements for the 25 plain ones.
    expect(await blankMessagesOf(db.sql, 'bot', ['heavy'], 5_000, 10)).toBe(26);
    expect(await blankMessagesOf(db.sql, 'bot', ['heavy'], 5_000, 10)).toBe(0);
    const left = await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM messages WHERE sender_uid = 'bot' AND (body <> ''::bytea OR mentions IS NOT NULL)`;
    expect(left[0]!.n).toBe(0);
    expect(await db.sql`SELECT 1 FROM mentions WHERE conv_id = 'heavy'`).toHaveLength(0);
    expect((await db.sql<{ n: number }[]>`SELECT n FROM reaction_counts WHERE conv_id = 'heavy' AND target = 1`)[0]!.n).toBe(0);
    // pat's message and the chain are untouched.
    expect((await msgs.readAfter('heavy', 0, 100)).map((x) => `${x.seq}:${x.prevSeq}`).slice(0, 3)).toEqual(['1:0', '2:1', '3:2']);
    expect((await db.sql<{ body: Buffer }[]>`SELECT body FROM messages WHERE conv_id = 'heavy' AND seq = 1`)[0]!.body.toString()).toBe('hi');
  });

  it('erase – a heavy reactor is blanked in statements of bounded size; each target loses only the latest reaction, also when an earlier one was blanked in an earlier statement', async () => {
    await convs.createGroup({ convId: 'reacty', owner: 'pam', members: ['rex'] });
    const m = (seq: number, uid: string, body: string, reacts?: number) => ({ convId: 'reacty', seq, prevSeq: seq - 1, senderUid: uid, senderDid: `${uid}-d`, clientMsgId: seq, body: Buffer.from(body), reacts });
    // pam says 1..12; rex reacts 👍 to each (13..24), turns 3's into ❤️ (25) and takes 5's back (26, blank).
    await msgs.appendBatch([
      ...Array.from({ length: 12 }, (_, i) => m(i + 1, 'pam', `post ${i + 1}`)),
      ...Array.from({ length: 12 }, (_, i) => m(i + 13, 'rex', '👍')),
      m(25, 'rex', '❤️'),
      m(26, 'rex', ''),
    ]);
    await db.sql`UPDATE messages SET reacts = seq - 12 WHERE conv_id = 'reacty' AND seq BETWEEN 13 AND 24`;
    await db.sql`UPDATE messages SET reacts = CASE seq WHEN 25 THEN 3 ELSE 5 END WHERE conv_id = 'reacty' AND seq IN (25, 26)`;
    await db.sql`INSERT INTO reaction_counts (conv_id, target, emoji, n, since, at)
      SELECT 'reacty', t, '👍', CASE WHEN t IN (3, 5) THEN 0 ELSE 1 END, 12 + t, 12 + t FROM generate_series(1, 12) AS t
      UNION ALL SELECT 'reacty', 3, '❤️', 1, 25, 25`;
    // Rows each UPDATE of messages touches, from here on.
    await db.sql.unsafe(`
      CREATE TABLE erase_statement_rows (n int);
      CREATE FUNCTION erase_statement_rows() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN INSERT INTO erase_statement_rows SELECT count(*) FROM changed; RETURN NULL; END $$;
      CREATE TRIGGER erase_statement_rows AFTER UPDATE ON messages REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION erase_statement_rows();`);
    try {
      expect(await blankMessagesOf(db.sql, 'rex', ['reacty'], 5_000, 5)).toBe(13);
    } finally {
      await db.sql.unsafe('DROP TRIGGER erase_statement_rows ON messages; DROP FUNCTION erase_statement_rows()');
    }
    const sizes = (await db.sql<{ n: number }[]>`SELECT n FROM erase_statement_rows`).map((r) => r.n);
    await db.sql`DROP TABLE erase_statement_rows`;
    expect(Math.max(...sizes)).toBeLessThanOrEqual(5);
    expect(await blankMessagesOf(db.sql, 'rex', ['reacty'], 5_000, 5)).toBe(0);
    const counts = await db.sql<{ target: number; emoji: string; n: number }[]>`SELECT target::int, emoji, n FROM reaction_counts WHERE conv_id = 'reacty' AND n <> 0`;
    expect(counts).toEqual([]);
    expect((await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM messages WHERE sender_uid = 'rex' AND body <> ''::bytea`)[0]!.n).toBe(0);
    expect((await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM messages WHERE sender_uid = 'pam' AND body <> ''::bytea`)[0]!.n).toBe(12);
  });

  it('erase – two erasures of one user at once (a retried API call) count each reaction off once', async () => {
    await convs.createGroup({ convId: 'twice', owner: 'tia', members: ['tom'] });
    const m = (seq: number, uid: string, body: string) => ({ convId: 'twice', seq, prevSeq: seq - 1, senderUid: uid, senderDid: `${uid}-d`, clientMsgId: seq, body: Buffer.from(body) });
    await msgs.appendBatch([m(1, 'tia', 'one'), m(2, 'tia', 'two'), m(3, 'tom', '👍'), m(4, 'tom', '🎉')]);
    await db.sql`UPDATE messages SET reacts = seq - 2 WHERE conv_id = 'twice' AND seq IN (3, 4)`;
    await db.sql`INSERT INTO reaction_counts (conv_id, target, emoji, n, since, at) VALUES ('twice', 1, '👍', 1, 3, 3), ('twice', 2, '🎉', 1, 4, 4)`;
    // Both start while tom's rows are locked: both read them unblanked, and then take turns.
    let both: Promise<number[]> | undefined;
    await db.sql.begin(async (tx) => {
      await tx`SELECT 1 FROM messages WHERE conv_id = 'twice' AND sender_uid = 'tom' FOR UPDATE`;
      both = Promise.all([blankMessagesOf(db.sql, 'tom', ['twice']), blankMessagesOf(db.sql, 'tom', ['twice'])]);
      await new Promise((r) => setTimeout(r, 300));
    });
    expect((await both!).sort()).toEqual([0, 2]);
    const counts = await db.sql<{ target: number; n: number }[]>`SELECT target::int, n FROM reaction_counts WHERE conv_id = 'twice' ORDER BY target`;
    expect(counts.map((r) => [r.target, r.n])).toEqual([
      [1, 0],
      [2, 0],
    ]);
  });

  it('conversations – what a user cleared is not unread, even before the read mark follows the clear', async () => {
    await convs.createGroup({ convId: 'cleared', owner: 'cody', members: ['cid'] });
    await post('cleared', [1, 2, 3, 4, 5]);
    // The clear's own step; the read mark's (a connector call of its own) has not come, or failed.
    expect(await new MemberPrefsStore(db.sql).clear('cid', 'cleared', 3)).toBe(3);
    expect((await convs.userConversations('cid'))[0]).toMatchObject({ readSeq: 0, unread: 2 });
    expect(await convs.setReadMark('cid', 'cleared', 1)).toMatchObject({ unread: 2 });
  });

  it("conversations – a user's own messages are never unread, nor what came before their last one", async () => {
    await convs.createGroup({ convId: 'talk', owner: 'nia', members: ['omar'] });
    const said = (seqs: [number, string][]) =>
      msgs.appendBatch(seqs.map(([seq, uid], i) => ({ convId: 'talk', seq, prevSeq: i === 0 ? 0 : seqs[i - 1]![0], senderUid: uid, senderDid: `${uid}-d`, clientMsgId: seq, body: Buffer.from('m') })));
    const unread = async (uid: string) => (await convs.userConversations(uid))[0]!;
    // omar 1, 2; nia 3; omar 4, 1000 (a hole before 1000).
    await said([
      [1, 'omar'],
      [2, 'omar'],
      [3, 'nia'],
      [4, 'omar'],
      [1000, 'omar'],
    ]);
    // Unread counting starts after nia's own message: a device new to the conversation pulls from there.
    expect(await unread('nia')).toMatchObject({ lastSeq: 1000, readSeq: 0, seenSeq: 3, unread: 2 });
    expect(await unread('omar')).toMatchObject({ readSeq: 0, unread: 0 });
    // A read mark past the last own message counts from the mark; one before it changes nothing.
    expect(await convs.setReadMark('nia', 'talk', 4)).toEqual({ readSeq: 4, unread: 1, mentions: 0, lastSeq: 1000 });
    expect(await unread('nia')).toMatchObject({ readSeq: 4, unread: 1 });
    expect(await convs.setReadMark('omar', 'talk', 2)).toEqual({ readSeq: 2, unread: 0, mentions: 0, lastSeq: 1000 });
    expect(await unread('omar')).toMatchObject({ readSeq: 2, unread: 0 });
  });

  it('conversations – member counts in a user list stop at the cap asked for (a large group is not counted row by row per attach)', async () => {
    await convs.createGroup({ convId: 'crowd', owner: 'kim', members: ['m1', 'm2', 'm3', 'm4', 'm5'] });
    expect((await convs.userConversations('kim'))[0]).toMatchObject({ convId: 'crowd', memberCount: 6 });
    expect((await convs.userConversations('kim', 3))[0]).toMatchObject({ convId: 'crowd', memberCount: 3 });
    expect((await convs.userConversations('m1', 7))[0]).toMatchObject({ convId: 'crowd', memberCount: 6 });
    await expect(convs.userConversations('kim', 0)).rejects.toMatchObject({ code: ErrorCode.INVALID_FIELD });
  });

  it('conversations – read marks never move back, and only members have one', async () => {
    await convs.createGroup({ convId: 'marks', owner: 'hal' });
    await post('marks', [10, 20, 50, 60]);
    expect((await convs.setReadMark('hal', 'marks', 50)).readSeq).toBe(50);
    expect((await convs.setReadMark('hal', 'marks', 20)).readSeq).toBe(50);
    // A mark past the last stored message is capped there, so later messages still count as unread.
    expect((await convs.setReadMark('hal', 'marks', 1_000_000)).readSeq).toBe(60);
    await post('marks', [70]);
    expect((await convs.userConversations('hal'))[0]).toMatchObject({ convId: 'marks', lastSeq: 70, readSeq: 60, unread: 1 });
    // Racing marks from several devices: the stored mark ends at the highest, whatever the order.
    const marks = [15, 70, 3, 65, 40];
    const got = await Promise.all(marks.map((m) => convs.setReadMark('hal', 'marks', m)));
    got.forEach((g) => expect(g.readSeq).toBeGreaterThanOrEqual(60));
    expect((await convs.members('marks'))[0]!.readSeq).toBe(70);
    await expect(convs.setReadMark('ivan', 'marks', 1)).rejects.toMatchObject({ code: ErrorCode.NOT_MEMBER });
    await expect(convs.setReadMark('hal', 'marks', -1)).rejects.toMatchObject({ code: ErrorCode.INVALID_FIELD });
    await expect(convs.setReadMark('hal', 'marks', 1.5)).rejects.toMatchObject({ code: ErrorCode.INVALID_FIELD });
    await expect(convs.setReadMark('hal', '', 1)).rejects.toMatchObject({ code: ErrorCode.INVALID_FIELD });
    expect((await convs.members('marks'))[0]!.readSeq).toBe(70);
    expect(await convs.userConversations('nobody')).toEqual([]);
  });

  it('conversations – a read mark under a stale connector-shard epoch is refused with FENCED and stores nothing', async () => {
    const shards = new ShardMapStore(db.sql);
    await shards.ensureKind('connector', 4);
    const row = (await shards.assign('connector', 1, 0, 'old'))!;
    await convs.createGroup({ convId: 'fenced-marks', owner: 'jo' });
    await post('fenced-marks', [3, 7]);
    expect((await convs.setReadMark('jo', 'fenced-marks', 3, { kind: 'connector', shard: 1, epoch: row.epoch })).readSeq).toBe(3);
    await shards.assign('connector', 1, row.epoch, 'new');
    await expect(convs.setReadMark('jo', 'fenced-marks', 7, { kind: 'connector', shard: 1, epoch: row.epoch })).rejects.toMatchObject({ code: ErrorCode.FENCED });
    expect((await convs.members('fenced-marks'))[0]!.readSeq).toBe(3);
  });

  it('member prefs – a pin or mark as unread under a stale connector-shard epoch is refused with FENCED and stores nothing', async () => {
    const shards = new ShardMapStore(db.sql);
    await shards.ensureKind('connector', 4);
    const row = (await shards.assign('connector', 2, (await shards.list('connector'))[2]!.epoch, 'old'))!;
    await convs.createGroup({ convId: 'fenced-prefs', owner: 'pia' });
    const prefs = new MemberPrefsStore(db.sql);
    const fence = { kind: 'connector', shard: 2, epoch: row.epoch };
    expect(await prefs.set('pia', 'fenced-prefs', { pinned: true }, fence, 1_000)).toEqual({ pinnedAt: 1_000, archivedAt: 0, markedUnreadAt: 0 });
    await shards.assign('connector', 2, row.epoch, 'new');
    await expect(prefs.set('pia', 'fenced-prefs', { unread: true }, fence, 2_000)).rejects.toMatchObject({ code: ErrorCode.FENCED });
    expect(await prefs.set('pia', 'fenced-prefs', {})).toEqual({ pinnedAt: 1_000, archivedAt: 0, markedUnreadAt: 0 });
  });
});
