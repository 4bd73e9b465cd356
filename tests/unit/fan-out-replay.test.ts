import { describe, expect, it } from 'vitest';
import type { BindGrace } from '../../actors/bind-grace.js';
import type { ChatServices } from '../../actors/chat-services.js';
import { fanOut } from '../../actors/fan-out.js';
import { MemberMarks } from '../../actors/member-marks.js';
import { RecentFanout } from '../../actors/recent-fanout.js';
import type { Msg } from '../../protocol/frames.js';
import type { ActorContext } from '../../runtime/actor.js';

/** A small group's fan-out on in-memory services: who each delivery went to, in order, as `uid:seq`. */
function group(members: string[]) {
  const told: string[] = [];
  const ctx = { key: 'g', tell: (_kind: string, uid: string, _op: string, d: { seq: number }) => void told.push(`${uid}:${d.seq}`) } as unknown as ActorContext;
  const recentFanout = new RecentFanout();
  const svc = { recentFanout, event: () => {}, publish: () => {}, largeGroupsRebinding: false } as unknown as ChatServices;
  let live = new Set(members);
  const marks = new MemberMarks();
  const from = {
    ctx,
    svc,
    get members() {
      return live;
    },
    marks,
    large: false,
    binding: {} as BindGrace,
  };
  const send = (seq: number) => fanOut(from, { conv: 'g', seq, prev: seq - 1, from: 'ann', did: 'a1', cid: seq, ts: seq, body: 'hi' } satisfies Msg);
  return { told, live: () => live, replace: (uids: string[]) => (live = new Set(uids)), marks, send, replay: () => recentFanout.replay() };
}

describe('fan-out – replay after a NATS reconnect', () => {
  it("fan-out – a replay leaves out a newcomer whose history starts past the message; members before, and what follows the join, are replayed", () => {
    const g = group(['ann', 'bob']);
    g.send(1);
    g.send(2);
    // Cat joins a group that shows newcomers only what follows: her history starts past 2.
    g.live().add('cat');
    g.marks.hideUpTo('cat', 2, Date.now());
    g.send(3);
    g.told.length = 0;
    expect(g.replay()).toBe(3);
    expect(g.told).toEqual(['ann:1', 'bob:1', 'ann:2', 'bob:2', 'ann:3', 'bob:3', 'cat:3']);
  });

  it('fan-out – a replay after the member set was replaced (a dissolve, a reload that found members removed) goes to the members now', () => {
    const g = group(['ann', 'bob']);
    g.send(1);
    g.replace(['ann']);
    g.told.length = 0;
    g.replay();
    expect(g.told).toEqual(['ann:1']);
    g.replace([]);
    g.told.length = 0;
    g.replay();
    expect(g.told).toEqual([]);
  });

  it('fan-out – a newcomer is left out of replays only while one from before the join can still come', () => {
    const marks = new MemberMarks();
    const joined = 1_000_000;
    marks.hideUpTo('cat', 5, joined);
    expect(marks.hides('cat', 5, joined + 1)).toBe(true);
    expect(marks.hides('cat', 6, joined + 1)).toBe(false);
    expect(marks.hides('dan', 1, joined + 1)).toBe(false);
    expect(marks.hides('cat', 5, joined + 60_000)).toBe(false);
    expect(marks.anyNewcomers).toBe(false);
    // One who leaves is forgotten at once.
    marks.hideUpTo('eve', 5, joined);
    marks.forget('eve');
    expect(marks.hides('eve', 1, joined + 1)).toBe(false);
  });
});
