import { describe, expect, it } from 'vitest';
import { changeMembers, type AdminChatter } from '../../actors/chatter-admin.js';
import type { AddedMember } from '../../storage/conversation-store.js';

/** An admin view of a group's chatter over in-memory stores; `removeFails` makes the removal's statement fail. */
function chatter(removeFails: boolean) {
  const stored = new Set(['ann', 'old']);
  const told: string[] = [];
  let loads = 0;
  const c = {
    ctx: { key: 'g' },
    svc: {
      convs: {
        addMembers: async (_conv: string, uids: string[]): Promise<AddedMember[]> => {
          const fresh = uids.filter((u) => !stored.has(u));
          for (const u of fresh) stored.add(u);
          return fresh.map((uid) => ({ uid, clearedSeq: 0 }));
        },
        removeMembers: async (_conv: string, uids: string[]): Promise<string[]> => {
          if (removeFails) throw new Error('statement timeout');
          const gone = uids.filter((u) => stored.delete(u));
          return gone;
        },
      },
      pins: { list: async () => [] },
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
      c.broken = false;
    },
    announce: (added: readonly AddedMember[], removed: string[]) => told.push(`+${added.map((a) => a.uid).join(',')} -${removed.join(',')}`),
  } as unknown as AdminChatter;
  return { c, stored, told, loads: () => loads };
}

describe('chatter admin – member changes', () => {
  it('chatter admin – a change whose removal fails after its adds were stored tells the adds, and the next operation reads the members again', async () => {
    const x = chatter(true);
    await expect(changeMembers(x.c, { add: ['new'], remove: ['old'] })).rejects.toThrow('statement timeout');
    expect(x.told).toEqual(['+new -']);
    expect([...x.c.members].sort()).toEqual(['ann', 'new', 'old']);
    expect(x.c.broken).toBe(true);
    // The retry finds the adds stored already: the chatter has reloaded first, so its members are Postgres' own.
    await expect(changeMembers(x.c, { add: ['new'] })).resolves.toEqual({ added: [], removed: [] });
    expect(x.loads()).toBe(1);
    expect(x.c.broken).toBe(false);
  });
});
