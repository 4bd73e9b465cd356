import { describe, expect, it } from 'vitest';
import { announceMembers, MEMBERS_EVENT_UIDS, type AnnouncedConv } from '../../actors/member-announce.js';
import type { ChatServices } from '../../actors/chat-services.js';
import type { ActorContext } from '../../runtime/actor.js';
import type { BusinessEvent } from '../../actors/event-publisher.js';
import { RecentFanout } from '../../actors/recent-fanout.js';
import { decode } from '../../protocol/codec.js';

describe('member announce – large groups', () => {
  it('member announce – a group grown large tells every member its last seq then; one already large tells only the newcomers', () => {
    const told: { uid: string; p: Record<string, unknown> }[] = [];
    const ctx = { key: 'g', tell: (_k: string, uid: string, _op: string, p: Record<string, unknown>) => told.push({ uid, p }) } as unknown as ActorContext;
    const svc = { event: () => {}, publish: () => {} } as unknown as ChatServices;
    const binding = { start: () => {}, end: () => {} } as unknown as AnnouncedConv['binding'];
    const base: AnnouncedConv = { kind: 'group', title: undefined, meta: undefined, adminsPost: false, retention: 0, slowMode: 0, lastSeq: 12, members: new Set(['a', 'b', 'n']), isMember: () => true, large: true, wasLarge: false, binding };
    announceMembers(ctx, svc, base, [{ uid: 'n', clearedSeq: 0 }], []);
    expect(told.map((t) => [t.uid, t.p['added'] ?? false, t.p['lastSeq']])).toEqual([
      ['a', false, 12],
      ['b', false, 12],
      ['n', true, 12],
    ]);
    told.length = 0;
    announceMembers(ctx, svc, { ...base, lastSeq: 20, wasLarge: true }, [{ uid: 'm', clearedSeq: 0 }], []);
    expect(told.map((t) => [t.uid, t.p['added'] ?? false, t.p['lastSeq']])).toEqual([['m', true, 20]]);
  });
});

describe('member announce – business events', () => {
  it('member announce – a change naming more users than fit one NATS message comes as several members events, each naming every user once', () => {
    const events: BusinessEvent[] = [];
    const tells: string[] = [];
    const ctx = { key: 'g', tell: (_k: string, uid: string, op: string) => tells.push(`${op}:${uid}`) } as unknown as ActorContext;
    const svc = { event: (e: BusinessEvent) => events.push(e), recentFanout: new RecentFanout() } as unknown as ChatServices;
    const binding = { start: () => {}, end: () => {} };
    const conv: AnnouncedConv = { kind: 'group', title: undefined, meta: undefined, adminsPost: false, retention: 0, slowMode: 0, lastSeq: 9, members: new Set(), isMember: () => false, large: false, wasLarge: false, binding: binding as unknown as AnnouncedConv['binding'] };
    // 128-byte ids: 10,000 of them in one event would pass NATS' 1 MB max_payload.
    const id = (p: string, i: number): string => `${p}${String(i).padStart(127, '0')}`;
    const added = Array.from({ length: 2_500 }, (_, i) => ({ uid: id('a', i), clearedSeq: 0 }));
    const removed = Array.from({ length: 7_500 }, (_, i) => id('r', i));
    announceMembers(ctx, svc, conv, added, removed);
    expect(events.length).toBe(Math.ceil(10_000 / MEMBERS_EVENT_UIDS));
    const named = events.flatMap((e) => [...(e as { added: string[] }).added, ...(e as { removed: string[] }).removed]);
    expect(named).toEqual([...added.map((a) => a.uid), ...removed]);
    for (const e of events) expect(Buffer.byteLength(JSON.stringify(e))).toBeLessThan(1024 * 1024);
    expect(new Set(events.map((e) => (e as { ts: number }).ts)).size).toBe(1);
    // The devices are told one by one as before.
    expect(tells.length).toBe(10_000);
  });
});

describe('member announce – a NATS reconnect', () => {
  it('member announce – a removal\'s notices (the large group\'s members-left, the connectors\' left) are replayed with the messages after a NATS reconnect, to those still out', () => {
    const tells: string[] = [];
    const published: unknown[] = [];
    const ctx = { key: 'g', tell: (_k: string, uid: string, op: string) => tells.push(`${op}:${uid}`) } as unknown as ActorContext;
    const recentFanout = new RecentFanout();
    const svc = { event: () => {}, publish: (_s: string, data: Uint8Array) => published.push(decode(data)), recentFanout } as unknown as ChatServices;
    const binding = { start: () => {}, end: () => {} } as unknown as AnnouncedConv['binding'];
    const members = new Set(['a']);
    const conv: AnnouncedConv = { kind: 'group', title: undefined, meta: undefined, adminsPost: false, retention: 0, slowMode: 0, lastSeq: 9, members, isMember: (u) => members.has(u), large: true, wasLarge: true, binding };
    announceMembers(ctx, svc, conv, [], ['x', 'y']);
    expect(published).toEqual([{ type: 'members-left', uids: ['x', 'y'] }]);
    expect(tells).toEqual(['left:x', 'left:y']);
    // y is added back before the reconnect: only x is told again.
    members.add('y');
    expect(recentFanout.replay()).toBe(1);
    expect(published.slice(1)).toEqual([{ type: 'members-left', uids: ['x'] }]);
    expect(tells.slice(2)).toEqual(['left:x']);
  });
});
