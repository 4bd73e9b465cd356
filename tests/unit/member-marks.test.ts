import { describe, expect, it } from 'vitest';
import { MemberMarks } from '../../actors/member-marks.js';
import type { Member } from '../../storage/conversation-store.js';

const member = (uid: string, role: Member['role'], mutedUntil = 0, silencedUntil = 0): Member => ({ uid, role, readSeq: 0, deliveredSeq: 0, joinedAt: 0, mutedUntil, silencedUntil });

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
    expect(['own', 'adm', 'mem'].map((u) => m.mayPost(u, 1000))).toEqual([true, true, true]);
    m.adminsPost = true;
    expect(['own', 'adm', 'mem'].map((u) => m.mayPost(u, 1000))).toEqual([true, true, false]);
    // Reactions, and recalls and edits of their own, are not posts.
    expect((['react', 'recall', 'edit'] as const).map((k) => m.refusal('mem', k, 1000))).toEqual([undefined, undefined, undefined]);
    m.setRoles({ mem: 'admin', adm: 'member' });
    expect(['own', 'adm', 'mem'].map((u) => m.mayPost(u, 1000))).toEqual([true, false, true]);
  });

  it('member marks – a silenced member may only recall until the silence ends; lifting it, leaving or being made an admin ends it', () => {
    const m = new MemberMarks();
    m.load([member('own', 'owner'), member('s1', 'member', 0, 5000), member('s2', 'member', 0, 500), member('s3', 'member')], 1000);
    expect(m.anySilenced).toBe(true);
    expect(m.refusal('s1', undefined, 1000)).toMatch(/^s1 is silenced until 1970-01-01T00:00:05.000Z$/);
    expect((['react', 'edit', 'recall'] as const).map((k) => m.refusal('s1', k, 1000) === undefined)).toEqual([false, false, true]);
    // Loaded over already, and one whose time came is let through (and forgotten).
    expect(['s2', 's3'].map((u) => m.mayPost(u, 1000))).toEqual([true, true]);
    expect(m.mayPost('s1', 5000)).toBe(true);
    expect(m.anySilenced).toBe(false);
    m.silence('s3', 9000, 1000);
    m.silence('s1', 9000, 1000);
    expect(['s1', 's3'].map((u) => m.mayPost(u, 2000))).toEqual([false, false]);
    m.silence('s3', 0, 2000);
    m.setRoles({ s1: 'admin' });
    expect(['s1', 's3'].map((u) => m.mayPost(u, 2000))).toEqual([true, true]);
    m.setRoles({ s1: 'member' });
    expect(m.mayPost('s1', 2000)).toBe(true);
    m.silence('s3', 9000, 2000);
    m.forget('s3');
    expect(m.mayPost('s3', 2000)).toBe(true);
    expect(m.anySilenced).toBe(false);
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
