import { describe, expect, it } from 'vitest';
import { changeMembers, createGroup, dissolve, setRules, silence, tellUntold, type AdminChatter } from '../../actors/chatter-admin.js';
import type { AddedMember } from '../../storage/conversation-store.js';

/**
 * An admin view of a group's chatter over in-memory stores; `removeFails` makes the removal's statement fail, before
 * it changed anything or (`'after commit'`) once it had (a deadline past); `addFails` the same for the first add.
 */
function chatter(removeFails: boolean | 'after commit', addFails: false | 'after commit' = false) {
  const stored = new Set(['ann', 'old']);
  const told: string[] = [];
  let loads = 0;
  let removals = 0;
  let adds = 0;
  let dissolved = false;
  /** A message accepted before the change, still in the group commit. */
  let inflight: Promise<void> = Promise.resolve();
  const steps: string[] = [];
  const c = {
    ctx: { key: 'g' },
    svc: {
      convs: {
        addMembers: async (_conv: string, uids: string[]): Promise<AddedMember[]> => {
          steps.push(`add ${uids.join(',')}`);
          const fresh = uids.filter((u) => !stored.has(u));
          for (const u of fresh) stored.add(u);
          if (addFails === 'after commit' && adds++ === 0) throw new Error('statement timeout');
          return fresh.map((uid) => ({ uid, clearedSeq: 7 }));
        },
        createGroup: async (o: { owner: string; members?: string[] }): Promise<{ added: AddedMember[] }> => {
          const fresh = [o.owner, ...(o.members ?? [])].filter((u) => !stored.has(u));
          for (const u of fresh) stored.add(u);
          if (addFails === 'after commit' && adds++ === 0) throw new Error('statement timeout');
          return { added: fresh.map((uid) => ({ uid, clearedSeq: 7 })) };
        },
        joinedRows: async (_conv: string, uids: string[]): Promise<AddedMember[]> => uids.filter((u) => stored.has(u)).map((uid) => ({ uid, clearedSeq: 7 })),
        removeMembers: async (_conv: string, uids: string[]): Promise<string[]> => {
          steps.push(`remove ${uids.join(',')}`);
          if (dissolved) throw new Error(`no group g`);
          if (removeFails === true) throw new Error('statement timeout');
          const gone = uids.filter((u) => stored.delete(u));
          if (removeFails === 'after commit' && removals++ === 0) throw new Error('statement timeout');
          return gone;
        },
      },
      pins: { list: async () => [] },
      groups: {
        // Commits, then its answer is lost (a deadline past).
        dissolve: async (): Promise<string[]> => {
          dissolved = true;
          stored.clear();
          throw new Error('statement timeout');
        },
        // Both commit, then their answers are lost.
        silence: async (): Promise<string[]> => {
          throw new Error('statement timeout');
        },
        setRules: async (): Promise<void> => {
          throw new Error('statement timeout');
        },
      },
    },
    marks: { forget: () => {} },
    exists: true,
    kind: 'group',
    members: new Set(stored),
    large: false,
    broken: false,
    load: async () => {
      loads++;
      c.members = new Set(stored);
      c.exists = !dissolved;
      c.broken = false;
      // As ChatterActor.load: member changes whose outcome could not be read are told now.
      await tellUntold(c);
    },
    announce: (added: readonly AddedMember[], removed: string[]) => told.push(`+${added.map((a) => `${a.uid}@${a.clearedSeq}`).join(',')} -${removed.join(',')}`),
    commitsSettled: async () => {
      await inflight;
      steps.push('commits settled');
    },
  } as unknown as AdminChatter;
  return { c, stored, told, steps, loads: () => loads, commitPending: (p: Promise<void>) => (inflight = p) };
}

describe('chatter admin – member changes', () => {
  it('chatter admin – a change whose removal fails after its adds were stored tells the adds, and the next operation reads the members again', async () => {
    const x = chatter(true);
    // `zed` is no member: nobody the removal could have taken out, so nothing is read again at once.
    await expect(changeMembers(x.c, { add: ['new'], remove: ['zed'] })).rejects.toThrow('statement timeout');
    expect(x.told).toEqual(['+new@7 -']);
    expect([...x.c.members].sort()).toEqual(['ann', 'new', 'old']);
    expect(x.c.broken).toBe(true);
    expect(x.loads()).toBe(0);
    // The retry finds the adds stored already: the chatter has reloaded first, so its members are Postgres' own.
    await expect(changeMembers(x.c, { add: ['new'] })).resolves.toEqual({ added: [], removed: [] });
    expect(x.loads()).toBe(1);
    expect(x.c.broken).toBe(false);
  });

  it('chatter admin – an add waits for the messages accepted before it to be stored, so the newcomer\'s history (and joined) starts past them', async () => {
    const x = chatter(false);
    let stored!: () => void;
    x.commitPending(new Promise<void>((r) => (stored = r)));
    const adding = changeMembers(x.c, { add: ['new'] });
    await new Promise((r) => setTimeout(r, 20));
    expect(x.steps).toEqual([]);
    stored();
    await adding;
    expect(x.steps).toEqual(['commits settled', 'add new']);
    expect(x.told).toEqual(['+new@7 -']);
  });

  it('chatter admin – a removal waits for the messages accepted before it to be stored (an erasure blanks what the user wrote once they are out)', async () => {
    const x = chatter(false);
    x.stored.add('gone');
    let stored!: () => void;
    x.commitPending(new Promise<void>((r) => (stored = r)));
    const removing = changeMembers(x.c, { remove: ['gone'] });
    await new Promise((r) => setTimeout(r, 20));
    expect(x.steps).toEqual([]);
    stored();
    await removing;
    expect(x.steps).toEqual(['commits settled', 'remove gone']);
    expect(x.stored.has('gone')).toBe(false);
  });

  it('chatter admin – a silence or a rule change whose answer is lost makes the chatter read the group again (its send rules may have changed)', async () => {
    const x = chatter(false);
    (x.c as { ctx: { fence?: unknown } }).ctx.fence = {};
    await expect(silence(x.c, { uids: ['old'], until: Date.now() + 60_000 })).rejects.toThrow('statement timeout');
    expect(x.c.broken).toBe(true);
    const y = chatter(false);
    await expect(setRules(y.c, { posting: 'admins' })).rejects.toThrow('statement timeout');
    expect(y.c.broken).toBe(true);
  });

  it('chatter admin – a dissolve that committed but whose answer was lost tells the members they left and answers as done; a repeat is refused', async () => {
    const x = chatter(false);
    await expect(dissolve(x.c)).resolves.toEqual({ conv: 'g', removed: 2 });
    expect(x.told).toEqual(['+ -ann,old']);
    expect(x.loads()).toBe(1);
    expect(x.c.members.size).toBe(0);
    // The group is gone, so a repeat is refused as for any dissolved group, and tells nobody again.
    await expect(dissolve(x.c)).rejects.toMatchObject({ code: 'not_found' });
    expect(x.told).toEqual(['+ -ann,old']);
  });

  it('chatter admin – an add that committed but whose answer was lost tells who joined (with where their history starts), so the retry has nothing left to tell', async () => {
    const x = chatter(false, 'after commit');
    await expect(changeMembers(x.c, { add: ['new', 'ann'] })).rejects.toThrow('statement timeout');
    // `ann` was a member before: only `new` joined.
    expect(x.told).toEqual(['+new@7 -']);
    expect([...x.c.members].sort()).toEqual(['ann', 'new', 'old']);
    await expect(changeMembers(x.c, { add: ['new'] })).resolves.toEqual({ added: [], removed: [] });
    expect(x.told).toEqual(['+new@7 -', '+ -']);
  });

  it('chatter admin – a removal that committed but whose answer was lost tells who was removed, so the retry has nothing left to tell', async () => {
    const x = chatter('after commit');
    await expect(changeMembers(x.c, { remove: ['old'] })).rejects.toThrow('statement timeout');
    expect(x.told).toEqual(['+ -old']);
    expect([...x.c.members]).toEqual(['ann']);
    await expect(changeMembers(x.c, { remove: ['old'] })).resolves.toEqual({ added: [], removed: [] });
    expect(x.told).toEqual(['+ -old', '+ -']);
  });

  it('chatter admin – a creation (or a re-creation adding members) that committed but whose answer was lost tells who joined; the retry tells nobody twice', async () => {
    const x = chatter(false, 'after commit');
    await expect(createGroup(x.c, { owner: 'ann', members: ['new', 'old', 'two'] })).rejects.toThrow('statement timeout');
    expect(x.told).toEqual(['+new@7,two@7 -']);
    await expect(createGroup(x.c, { owner: 'ann', members: ['new', 'old', 'two'] })).resolves.toEqual({ conv: 'g', kind: 'group' });
    expect(x.told).toEqual(['+new@7,two@7 -', '+ -']);
  });
});
