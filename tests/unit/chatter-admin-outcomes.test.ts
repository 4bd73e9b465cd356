import { describe, expect, it } from 'vitest';
import { ChatterOp, ConnectorOp } from '../../protocol/chat-ops.js';
import { ErrorCode, ImError } from '../../protocol/errors.js';
import { MemberRole, Posting, type Pin } from '../../protocol/frames.js';
import { MAX_TITLE_LENGTH } from '../../protocol/limits.js';
import type { Actor, ActorContext } from '../../runtime/actor.js';
import type { AddedMember } from '../../storage/conversation-store.js';
import { changeMembers, createGroup, dissolve, mayHaveCommitted, retitle, setRoles, setRules, tellUntold, type AdminChatter, type UntoldChanges } from '../../actors/chatter-admin.js';
import type { ChatServices } from '../../actors/chat-services.js';
import { chatterKind } from '../../actors/chatter.actor.js';
import { MemberMarks } from '../../actors/member-marks.js';
import { pinMessage } from '../../actors/message-pins.js';
import { checkChatterCreate } from '../../actors/op-checks.js';

/** A statement that committed but whose answer never came back. */
const lostAnswer = () => new ImError(ErrorCode.TIMEOUT, 'statement: no answer within 10000 ms');
/** An error Postgres answered with: the statement was rolled back. */
const refusedByPostgres = (code: string) => new ImError(ErrorCode.STORAGE, 'statement', { cause: { name: 'PostgresError', severity: 'ERROR', code } });

/**
 * Group `g` (ann owner, ben admin, cy member, one message: seq 1) as its chatter's admin operations see it, over an
 * in-memory "Postgres" (`db`). `down` makes every read of the group fail (Postgres away); `fail` makes the next write
 * of that name commit and then lose its answer, or (`refuse`) be refused with that error, storing nothing.
 */
function group() {
  const db = { roles: new Map<string, MemberRole>([['ann', MemberRole.OWNER], ['ben', MemberRole.ADMIN], ['cy', MemberRole.MEMBER]]), dissolved: false, pins: [] as number[], title: 'team' };
  const fail = new Map<string, 'lost' | ImError>();
  const told: unknown[] = [];
  const announced: string[] = [];
  let loads = 0;
  let down = false;
  const marks = new MemberMarks();
  /** Runs `write` (the change), then fails as `fail` says for `name`. */
  const write = async <T>(name: string, change: () => T): Promise<T> => {
    const f = fail.get(name);
    fail.delete(name);
    if (f instanceof ImError) throw f;
    const out = change();
    if (f === 'lost') throw lostAnswer();
    return out;
  };
  const c = {
    ctx: { key: 'g', fence: {} },
    marks,
    exists: true,
    kind: 'group',
    blocked: false,
    title: 'team',
    meta: undefined,
    retention: 0,
    members: new Set(db.roles.keys()),
    large: false,
    broken: false,
    untold: undefined as UntoldChanges | undefined,
    svc: {
      groups: {
        setRoles: (_conv: string, roles: Record<string, MemberRole>) => write('setRoles', () => {
          for (const [u, r] of Object.entries(roles)) db.roles.set(u, r);
          return roles;
        }),
        setProfile: (_conv: string, p: { title?: string | null }) => write('setProfile', () => void (db.title = p.title ?? '')),
        setRules: () => write('setRules', () => undefined),
        dissolve: () => write('dissolve', () => {
          db.dissolved = true;
          const gone = [...db.roles.keys()];
          db.roles.clear();
          return gone;
        }),
      },
      convs: {
        addMembers: (_conv: string, uids: string[]) => write('addMembers', () => uids.filter((u) => !db.roles.has(u)).map((uid): AddedMember => (db.roles.set(uid, MemberRole.MEMBER), { uid, clearedSeq: 0 }))),
        removeMembers: (_conv: string, uids: string[]) => write('removeMembers', () => uids.filter((u) => db.roles.delete(u))),
        createGroup: (o: { owner: string; members?: string[] }) => write('createGroup', () => ({ added: [o.owner, ...(o.members ?? [])].filter((u) => !db.roles.has(u)).map((uid): AddedMember => (db.roles.set(uid, MemberRole.MEMBER), { uid, clearedSeq: 0 })) })),
        joinedRows: async (_conv: string, uids: string[]) => uids.filter((u) => db.roles.has(u)).map((uid) => ({ uid, clearedSeq: 0 })),
      },
      messages: { readAfter: async (_conv: string, after: number) => (after < 1 ? [{ seq: 1, senderUid: 'cy', senderDid: 'd' }] : []) },
      pins: {
        list: async (): Promise<Pin[]> => db.pins.map((seq) => ({ seq, at: 1 })),
        set: (_conv: string, seq: number) => write('pin', () => (db.pins.push(seq), db.pins.map((s): Pin => ({ seq: s, at: 1 })))),
      },
    },
    load: async () => {
      loads++;
      if (down) throw new ImError(ErrorCode.UNAVAILABLE, 'read conversation: database unreachable (ECONNREFUSED)');
      c.exists = !db.dissolved;
      c.members = new Set(db.roles.keys());
      c.title = db.title;
      marks.load([...db.roles].map(([uid, role]) => ({ uid, role, readSeq: 0, deliveredSeq: 0, joinedAt: 0, mutedUntil: 0, silencedUntil: 0, clearedSeq: 0 })), Date.now());
      c.broken = false;
      // As ChatterActor.load: member changes whose outcome could not be read are told now.
      await tellUntold(c as unknown as AdminChatter);
    },
    recheckMissing: async () => {},
    toMembers: (frame: unknown) => told.push(frame),
    settled: async () => {},
    commitsSettled: async () => {},
    announce: (added: readonly AddedMember[], removed: string[], _wasLarge: boolean, by?: string) => announced.push(`+${added.map((a) => a.uid).join(',')} -${removed.join(',')}${by !== undefined ? ` by ${by}` : ''}`),
  };
  void c.load();
  loads = 0;
  return { c: c as unknown as AdminChatter & { broken: boolean }, db, fail, told, announced, loads: () => loads, setDown: (d: boolean) => (down = d) };
}

const codeOf = (p: Promise<unknown>) => p.then(() => 'resolved', (e: unknown) => (e instanceof ImError ? e.code : String(e)));

describe('chatter admin – changes whose answer is lost', () => {
  it('chatter admin – an admin demoted by a role change whose answer was lost (it committed) may no longer pin: the chatter reads the roles again first', async () => {
    const g = group();
    g.fail.set('setRoles', 'lost');
    expect(await codeOf(setRoles(g.c, { ben: MemberRole.MEMBER }))).toBe(ErrorCode.TIMEOUT);
    expect(await codeOf(pinMessage(g.c, { uid: 'ben', seq: 1, pinned: true }))).toBe(ErrorCode.FORBIDDEN);
    expect(g.db.pins).toEqual([]);
    expect(g.told).toEqual([]);
  });

  it('chatter admin – a retitle whose answer was lost (it committed) makes the chatter read the group again, so newcomers learn the new title', async () => {
    const g = group();
    g.fail.set('setProfile', 'lost');
    expect(await codeOf(retitle(g.c, { title: 'new name' }))).toBe(ErrorCode.TIMEOUT);
    // The next operation, whatever it is, starts from what Postgres holds.
    await changeMembers(g.c, { add: ['dee'] });
    expect(g.loads()).toBe(1);
    expect(g.c.title).toBe('new name');
  });
});

describe('chatter admin – a chatter that could not read its group again', () => {
  it('chatter admin – a member removed by a change whose answer was lost cannot pin, even while Postgres was away for the re-read', async () => {
    const g = group();
    g.c.marks.setRoles({ cy: MemberRole.ADMIN });
    g.db.roles.set('cy', MemberRole.ADMIN);
    g.fail.set('removeMembers', 'lost');
    g.setDown(true);
    expect(await codeOf(changeMembers(g.c, { remove: ['cy'] }))).toBe(ErrorCode.TIMEOUT);
    expect(g.c.members.has('cy')).toBe(true);
    g.setDown(false);
    expect(await codeOf(pinMessage(g.c, { uid: 'cy', seq: 1, pinned: true }))).toBe(ErrorCode.NOT_MEMBER);
    expect(g.db.pins).toEqual([]);
    expect(g.told).toEqual([]);
  });

  it('chatter admin – once a dissolve whose answer was lost could not be checked, its admin cannot pin: not_found, nothing stored or told', async () => {
    const g = group();
    g.fail.set('dissolve', 'lost');
    g.setDown(true);
    expect(await codeOf(dissolve(g.c))).toBe(ErrorCode.TIMEOUT);
    g.setDown(false);
    expect(await codeOf(pinMessage(g.c, { uid: 'ben', seq: 1, pinned: true }))).toBe(ErrorCode.NOT_FOUND);
    expect(g.db.pins).toEqual([]);
    expect(g.told).toEqual([]);
  });

  it('chatter admin – once a dissolve whose answer was lost could not be checked, the server cannot change its rules: not_found, and no rules frame reaches its former members', async () => {
    const g = group();
    g.fail.set('dissolve', 'lost');
    g.setDown(true);
    expect(await codeOf(dissolve(g.c))).toBe(ErrorCode.TIMEOUT);
    g.setDown(false);
    expect(await codeOf(setRules(g.c, { posting: Posting.ADMINS }))).toBe(ErrorCode.NOT_FOUND);
    expect(g.told).toEqual([]);
  });

  it('chatter admin – typing is not passed on while the chatter\'s members may be stale, and is again once it read them', () => {
    const tells: string[] = [];
    const ctx = { kind: 'chatter', key: 'g-typing', shard: 0, fence: {}, nodeId: 'n1', tell: (_kind: string, key: string) => tells.push(key) } as unknown as ActorContext;
    const svc = { settings: { largeGroupMembers: 1000 } } as unknown as ChatServices;
    const chatter = chatterKind(svc).create(ctx) as Actor & AdminChatter;
    chatter.exists = true;
    chatter.members = new Set(['ann', 'cy']);
    chatter.broken = true;
    chatter.handle(ChatterOp.TYPING, { uid: 'cy' });
    expect(tells).toEqual([]);
    chatter.broken = false;
    chatter.handle(ChatterOp.TYPING, { uid: 'cy' });
    expect(tells).toEqual(['ann']);
  });
});

describe('chatter admin – changes whose outcome could not be read at once', () => {
  it('chatter admin – an add whose answer was lost while Postgres was away for the re-read is announced by the next operation\'s read, once', async () => {
    const g = group();
    g.fail.set('addMembers', 'lost');
    g.setDown(true);
    // `cy` was a member before: only `dee` may have joined.
    expect(await codeOf(changeMembers(g.c, { add: ['dee', 'cy'] }))).toBe(ErrorCode.TIMEOUT);
    expect(g.announced).toEqual([]);
    expect(await codeOf(retitle(g.c, { title: 'still down' }))).toBe(ErrorCode.UNAVAILABLE);
    expect(g.announced).toEqual([]);
    g.setDown(false);
    // Any next operation reads the group first, and tells who the lost add did add.
    await retitle(g.c, { title: 'renamed' });
    expect(g.announced).toEqual(['+dee -']);
    // The business server's retry finds dee in already: told nobody again, nor by a later read.
    expect(await changeMembers(g.c, { add: ['dee'] })).toEqual({ added: [], removed: [] });
    await g.c.load();
    expect(g.announced.filter((a) => a !== '+ -')).toEqual(['+dee -']);
    expect(g.c.untold).toBeUndefined();
  });

  it('chatter admin – a removal (or a leave) whose answer was lost while Postgres was away is announced by the next operation\'s read, once', async () => {
    const g = group();
    g.fail.set('removeMembers', 'lost');
    g.setDown(true);
    expect(await codeOf(changeMembers(g.c, { remove: ['cy', 'zed'] }))).toBe(ErrorCode.TIMEOUT);
    g.setDown(false);
    // Another add is the next operation: the removal is told before it, and it is told as itself.
    expect(await changeMembers(g.c, { add: ['dee'] })).toEqual({ added: ['dee'], removed: [] });
    expect(g.announced).toEqual(['+ -cy', '+dee -']);
    expect(await changeMembers(g.c, { remove: ['cy'] })).toEqual({ added: [], removed: [] });
    expect(g.announced.filter((a) => a !== '+ -')).toEqual(['+ -cy', '+dee -']);

    // A member leaving of their own accord: told as theirs.
    const l = group();
    l.fail.set('removeMembers', 'lost');
    l.setDown(true);
    expect(await codeOf(changeMembers(l.c, { remove: ['ben'] }, 'ben'))).toBe(ErrorCode.TIMEOUT);
    l.setDown(false);
    await retitle(l.c, { title: 'renamed' });
    expect(l.announced).toEqual(['+ -ben by ben']);
  });

  it('chatter admin – lost changes kept while Postgres was away are told together by one read, each member once', async () => {
    const g = group();
    g.fail.set('addMembers', 'lost');
    g.setDown(true);
    expect(await codeOf(changeMembers(g.c, { add: ['dee'] }))).toBe(ErrorCode.TIMEOUT);
    // A creation does not read the group first: its lost answer is kept with the add's.
    g.fail.set('createGroup', 'lost');
    expect(await codeOf(createGroup(g.c, { owner: 'ann', members: ['dee', 'eve'] }))).toBe(ErrorCode.TIMEOUT);
    g.setDown(false);
    await retitle(g.c, { title: 'renamed' });
    expect(g.announced).toEqual(['+dee,eve -']);
    await g.c.load();
    expect(g.announced).toEqual(['+dee,eve -']);
  });

  it('chatter admin – a lost change whose own re-read succeeded is announced by it alone; one kept later is announced by the next read, once', async () => {
    const g = group();
    g.fail.set('addMembers', 'lost');
    expect(await codeOf(changeMembers(g.c, { add: ['dee'] }))).toBe(ErrorCode.TIMEOUT);
    expect(g.announced).toEqual(['+dee -']);
    g.fail.set('removeMembers', 'lost');
    g.setDown(true);
    expect(await codeOf(changeMembers(g.c, { remove: ['cy'] }))).toBe(ErrorCode.TIMEOUT);
    expect(g.announced).toEqual(['+dee -']);
    g.setDown(false);
    await retitle(g.c, { title: 'renamed' });
    await g.c.load();
    expect(g.announced).toEqual(['+dee -', '+ -cy']);
  });

  it('chatter admin – a dissolve whose answer was lost while Postgres was away tells its members they left on the next read that finds it gone, once', async () => {
    const g = group();
    g.fail.set('dissolve', 'lost');
    g.setDown(true);
    expect(await codeOf(dissolve(g.c))).toBe(ErrorCode.TIMEOUT);
    expect(g.announced).toEqual([]);
    g.setDown(false);
    expect(await codeOf(pinMessage(g.c, { uid: 'ben', seq: 1, pinned: true }))).toBe(ErrorCode.NOT_FOUND);
    expect(g.announced).toEqual(['+ -ann,ben,cy']);
    // The retry finds no group: nobody told again.
    expect(await codeOf(dissolve(g.c))).toBe(ErrorCode.NOT_FOUND);
    expect(g.announced).toEqual(['+ -ann,ben,cy']);

    // One that did not commit: the next read finds the group and its members, and tells nobody.
    const h = group();
    h.fail.set('dissolve', lostAnswer());
    h.setDown(true);
    expect(await codeOf(dissolve(h.c))).toBe(ErrorCode.TIMEOUT);
    h.setDown(false);
    await retitle(h.c, { title: 'renamed' });
    expect([h.announced, h.c.exists, h.c.untold]).toEqual([[], true, undefined]);
  });

  it('chatter admin – the chatter actor itself tells a lost add on its next load: the newcomer\'s devices get joined (with their clear) and the business server one members event', async () => {
    const tells: string[] = [];
    const events: unknown[] = [];
    const stored = new Set(['ann', 'cy']);
    let down = false;
    const unreachable = () => new ImError(ErrorCode.UNAVAILABLE, 'read conversation: database unreachable (ECONNREFUSED)');
    const ctx = { kind: 'chatter', key: 'g-actor', shard: 0, fence: {}, nodeId: 'n1', tell: (_kind: string, key: string, op: string, p: { clearedSeq?: number }) => tells.push(`${op} ${key}${p.clearedSeq ? `@${p.clearedSeq}` : ''}`) } as unknown as ActorContext;
    const svc = {
      settings: { largeGroupMembers: 1000 },
      committer: { settled: async () => {}, reset: () => {} },
      convs: {
        get: async () => {
          if (down) throw unreachable();
          return { convId: 'g-actor', kind: 'group', title: 'team', meta: null, createdAt: 0, posting: Posting.ALL, retentionSec: 0, history: 'all', slowModeSec: 0 };
        },
        members: async () => {
          if (down) throw unreachable();
          return [...stored].map((uid) => ({ uid, role: MemberRole.MEMBER, readSeq: 0, deliveredSeq: 0, joinedAt: 0, mutedUntil: 0, silencedUntil: 0 }));
        },
        addMembers: async (_conv: string, uids: string[]) => {
          for (const u of uids) stored.add(u);
          throw lostAnswer();
        },
        joinedRows: async (_conv: string, uids: string[]) => uids.map((uid) => ({ uid, clearedSeq: 4 })),
      },
      messages: { chainHead: async () => ({ lastSeq: 4, ordinal: 4, ordinalsFrom: 1 }) },
      pins: { list: async () => [] },
      groups: { setProfile: async () => {} },
      event: (e: unknown) => events.push(e),
      publish: () => {},
    } as unknown as ChatServices;
    const chatter = chatterKind(svc).create(ctx) as Actor & AdminChatter;
    await chatter.load();
    down = true;
    expect(await codeOf(Promise.resolve().then(() => chatter.handle(ChatterOp.MEMBERS, { add: ['dee'] })))).toBe(ErrorCode.TIMEOUT);
    expect([tells, events]).toEqual([[], []]);
    down = false;
    await chatter.handle(ChatterOp.TITLE, { title: 'renamed' });
    expect(tells.filter((t) => t.startsWith(ConnectorOp.JOINED))).toEqual([`${ConnectorOp.JOINED} dee@4`]);
    expect(events).toEqual([expect.objectContaining({ type: 'members', conv: 'g-actor', added: ['dee'], removed: [] })]);
    // Read again later (a reload): told nothing twice.
    await chatter.handle(ChatterOp.RELOAD, {});
    expect(tells.filter((t) => t.startsWith(ConnectorOp.JOINED))).toHaveLength(1);
    expect(events).toHaveLength(1);
  });
});

describe('chatter admin – refused changes', () => {
  it('chatter admin – an add refused (limit reached) is answered as refused at once: the group is not read again and nobody is told', async () => {
    const g = group();
    g.fail.set('addMembers', new ImError(ErrorCode.LIMIT_REACHED, 'dee is in too many conversations'));
    expect(await codeOf(changeMembers(g.c, { add: ['dee'] }))).toBe(ErrorCode.LIMIT_REACHED);
    expect([g.loads(), g.c.broken, g.announced]).toEqual([0, false, []]);
    // Refused by Postgres itself (rolled back): the same.
    g.fail.set('addMembers', refusedByPostgres('23503'));
    expect(await codeOf(changeMembers(g.c, { add: ['dee'] }))).toBe(ErrorCode.STORAGE);
    expect([g.loads(), g.c.broken]).toEqual([0, false]);
  });

  it('chatter admin – a role change or retitle refused (not a member, bad input) is answered as refused: the group is not read again', async () => {
    const g = group();
    g.fail.set('setRoles', new ImError(ErrorCode.NOT_MEMBER, 'zed is not a member of g'));
    expect(await codeOf(setRoles(g.c, { zed: MemberRole.ADMIN }))).toBe(ErrorCode.NOT_MEMBER);
    g.fail.set('setProfile', new ImError(ErrorCode.INVALID_FIELD, 'title too long'));
    expect(await codeOf(retitle(g.c, { title: 'x' }))).toBe(ErrorCode.INVALID_FIELD);
    expect([g.loads(), g.c.broken]).toEqual([0, false]);
  });

  it('chatter admin – a creation refused (conflict, not_found) is answered as refused at once, without reading the group again', async () => {
    for (const code of [ErrorCode.CONFLICT, ErrorCode.NOT_FOUND, ErrorCode.INVALID_FIELD]) {
      const g = group();
      g.fail.set('createGroup', new ImError(code, 'refused'));
      expect(await codeOf(createGroup(g.c, { owner: 'ann', members: ['dee'] }))).toBe(code);
      expect([g.loads(), g.c.broken, g.announced]).toEqual([0, false, []]);
    }
  });

  it('chatter admin – an add before a refused removal is still told, and nothing is read again', async () => {
    const g = group();
    g.fail.set('removeMembers', new ImError(ErrorCode.FENCED, 'the shard moved'));
    expect(await codeOf(changeMembers(g.c, { add: ['dee'], remove: ['cy'] }))).toBe(ErrorCode.FENCED);
    expect(g.announced).toEqual(['+dee -']);
    expect([g.loads(), g.c.broken]).toEqual([0, false]);
  });

  it('chatter admin – only a deadline, a lost link or a failure Postgres did not roll back leaves a change\'s outcome unknown', () => {
    expect(mayHaveCommitted(lostAnswer())).toBe(true);
    expect(mayHaveCommitted(new ImError(ErrorCode.UNAVAILABLE, 'database unreachable (ECONNRESET)', { cause: { code: 'ECONNRESET' } }))).toBe(true);
    expect(mayHaveCommitted(new ImError(ErrorCode.STORAGE, 'statement', { cause: { name: 'PostgresError', severity: 'FATAL', code: '25P03' } }))).toBe(true);
    expect(mayHaveCommitted(new Error('surprise'))).toBe(true);
    for (const code of [ErrorCode.LIMIT_REACHED, ErrorCode.CONFLICT, ErrorCode.NOT_FOUND, ErrorCode.INVALID_FIELD, ErrorCode.NOT_MEMBER, ErrorCode.FENCED]) expect(mayHaveCommitted(new ImError(code, 'refused'))).toBe(false);
    // A lost serialization race is retryable, but Postgres rolled it back.
    expect(mayHaveCommitted(new ImError(ErrorCode.UNAVAILABLE, 'lost a race', { cause: { name: 'PostgresError', severity: 'ERROR', code: '40001' } }))).toBe(false);
  });

  it(`chatter admin – a group created with a title over ${MAX_TITLE_LENGTH} characters, empty or not valid Unicode is refused as invalid before anything is stored`, () => {
    expect(checkChatterCreate({ owner: 'ann', title: 'x'.repeat(MAX_TITLE_LENGTH) }).title).toHaveLength(MAX_TITLE_LENGTH);
    for (const title of ['x'.repeat(MAX_TITLE_LENGTH + 1), '', 'bad \ud800 half']) {
      expect(() => checkChatterCreate({ owner: 'ann', title })).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_FIELD }));
    }
  });
});
