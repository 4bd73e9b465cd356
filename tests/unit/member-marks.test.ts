import { describe, expect, it } from 'vitest';
import { MemberMarks } from '../../actors/member-marks.js';
import type { Member } from '../../storage/conversation-store.js';

const member = (uid: string, role: Member['role'], mutedUntil = 0): Member => ({ uid, role, readSeq: 0, deliveredSeq: 0, joinedAt: 0, mutedUntil });

describe('member marks', () => {
  it('member marks – owners and admins may mention all, and role changes and leaving apply at once', () => {
    const m = new MemberMarks();
    m.load([member('own', 'owner'), member('adm', 'admin'), member('mem', 'member')], 1000);
    expect(['own', 'adm', 'mem'].map((u) => m.moderates(u))).toEqual([true, true, false]);
    m.setRoles({ mem: 'admin', adm: 'member' });
    expect(['own', 'adm', 'mem'].map((u) => m.moderates(u))).toEqual([true, false, true]);
    m.forget('mem');
    expect(m.moderates('mem')).toBe(false);
  });

  it('member marks – everyone may post unless only admins do; then owners and admins, as their roles change', () => {
    const m = new MemberMarks();
    m.load([member('own', 'owner'), member('adm', 'admin'), member('mem', 'member')], 1000);
    expect(['own', 'adm', 'mem'].map((u) => m.mayPost(u))).toEqual([true, true, true]);
    m.adminsPost = true;
    expect(['own', 'adm', 'mem'].map((u) => m.mayPost(u))).toEqual([true, true, false]);
    m.setRoles({ mem: 'admin', adm: 'member' });
    expect(['own', 'adm', 'mem'].map((u) => m.mayPost(u))).toEqual([true, false, true]);
  });

  it('member marks – a mute lasts until its time, an unmute or a mute in the past ends it, and leaving forgets it', () => {
    const m = new MemberMarks();
    m.load([member('a', 'member', 5000), member('b', 'member', 500), member('c', 'member')], 1000);
    expect(m.anyMuted).toBe(true);
    expect(['a', 'b', 'c'].map(m.mutedUntil)).toEqual([5000, 0, 0]);
    m.mute('c', 9000, 1000);
    m.mute('a', 0, 1000);
    expect(['a', 'b', 'c'].map(m.mutedUntil)).toEqual([0, 0, 9000]);
    m.forget('c');
    expect(m.anyMuted).toBe(false);
  });
});
