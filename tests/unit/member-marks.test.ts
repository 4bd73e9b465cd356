import { describe, expect, it } from 'vitest';
import { MemberMarks } from '../../actors/member-marks.js';
import { ErrorCode, ImError, retryAfterMsOf } from '../../protocol/errors.js';
import type { Member } from '../../storage/conversation-store.js';

const member = (uid: string, role: Member['role'], mutedUntil = 0, silencedUntil = 0): Member => ({ uid, role, readSeq: 0, deliveredSeq: 0, joinedAt: 0, mutedUntil, silencedUntil, clearedSeq: 0 });

const allowed = (f: () => void): boolean => {
  try {
    f();
    return true;
  } catch {
    return false;
  }
};

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
    for (const k of ['react', 'recall', 'edit'] as const) m.check('mem', k, 1000, 'c');
    expect(() => m.check('mem', undefined, 1000, 'c')).toThrow(expect.objectContaining({ code: ErrorCode.FORBIDDEN }));
    m.setRoles({ mem: 'admin', adm: 'member' });
    expect(['own', 'adm', 'mem'].map((u) => m.mayPost(u, 1000))).toEqual([true, false, true]);
  });

  it('member marks – a silenced member may only recall until the silence ends; lifting it, leaving or being made an admin ends it', () => {
    const m = new MemberMarks();
    m.load([member('own', 'owner'), member('s1', 'member', 0, 5000), member('s2', 'member', 0, 500), member('s3', 'member')], 1000);
    expect(m.restricted).toBe(true);
    expect(() => m.check('s1', undefined, 1000, 'c')).toThrow(new ImError(ErrorCode.FORBIDDEN, 's1 is silenced until 1970-01-01T00:00:05.000Z in c'));
    expect((['react', 'edit', 'recall'] as const).map((k) => allowed(() => m.check('s1', k, 1000, 'c')))).toEqual([false, false, true]);
    // Loaded over already, and one whose time came is let through (and forgotten).
    expect(['s2', 's3'].map((u) => m.mayPost(u, 1000))).toEqual([true, true]);
    expect(m.mayPost('s1', 5000)).toBe(true);
    expect(m.restricted).toBe(false);
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
    expect(m.restricted).toBe(false);
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

  it('member marks – in slow mode a plain member posts once per its seconds (reactions, edits and recalls not counted); owners and admins are not slowed; off, or the member gone, it forgets', () => {
    const m = new MemberMarks();
    m.load([member('own', 'owner'), member('a', 'member'), member('b', 'member')], 0);
    expect(m.restricted).toBe(false);
    m.slowMode = 10;
    expect(m.restricted).toBe(true);
    m.check('a', undefined, 1000, 'c');
    m.posted('a', 1000);
    m.posted('own', 1000);
    expect(() => m.check('a', undefined, 5000, 'c')).toThrow(expect.objectContaining({ code: ErrorCode.RATE_LIMITED, message: 'slow mode in c: a may post once every 10 s; try again in 6 s', retryAfterMs: 6000 }));
    // The wait reaches the client as retryAfterMs, read back from the message wherever the refusal crossed NATS.
    expect(retryAfterMsOf(new ImError(ErrorCode.RATE_LIMITED, 'slow mode in c: a may post once every 10 s; try again in 6 s'))).toBe(6000);
    expect(retryAfterMsOf(new ImError(ErrorCode.RATE_LIMITED, 'more than 50 frames/s'))).toBeUndefined();
    expect(retryAfterMsOf(new ImError(ErrorCode.INVALID_FIELD, 'x; try again in 6 s'))).toBeUndefined();
    expect([allowed(() => m.check('a', 'react', 5000, 'c')), allowed(() => m.check('b', undefined, 5000, 'c')), allowed(() => m.check('own', undefined, 5000, 'c'))]).toEqual([true, true, true]);
    expect(allowed(() => m.check('a', undefined, 11_000, 'c'))).toBe(true);
    // A member who left and comes back starts afresh.
    m.posted('b', 1000);
    m.forget('b');
    expect(allowed(() => m.check('b', undefined, 2000, 'c'))).toBe(true);
    m.slowMode = 0;
    m.slowMode = 10;
    expect(allowed(() => m.check('a', undefined, 5000, 'c'))).toBe(true);
  });
});
