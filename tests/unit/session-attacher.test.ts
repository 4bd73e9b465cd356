import type { NatsConnection } from 'nats';
import { describe, expect, it, vi } from 'vitest';
import { ChatKind, type AttachReply, type ConnectorAttach } from '../../protocol/chat-ops.js';
import { ErrorCode, ImError } from '../../protocol/errors.js';
import type { ConvSummary, ServerFrame } from '../../protocol/frames.js';
import { silentLogger } from '../../runtime/logger.js';
import type { Router } from '../../runtime/router.js';
import { ConvBinding } from '../../actors/gateway/conv-binding.js';
import { ListPager } from '../../actors/gateway/list-pager.js';
import { ATTACH_BUDGET, SessionAttacher } from '../../actors/gateway/session-attacher.js';
import { Session } from '../../actors/gateway/session.js';
import { DEFAULT_GATEWAY_WATCH_MS } from '../../actors/gateway-watch.js';

const SHARDS = 16;
/** Users u0…: user `u${i}` lives on connector shard i % SHARDS. */
const shardOfUser = (uid: string): number => Number(uid.slice(1)) % SHARDS;

/** A router whose attach calls to `stuck` shards never answer (a frozen node) and the others answer after `ms`. */
function fakeRouter(stuck: Set<number>, ms: number, inFlight: { now: number; most: number }): Router {
  return {
    shardCount: (kind: string) => (kind === ChatKind.CONNECTOR ? SHARDS : 0),
    shardOf: (_kind: string, uid: string) => shardOfUser(uid),
    call: (_kind: string, uid: string) => {
      inFlight.most = Math.max(inFlight.most, ++inFlight.now);
      if (stuck.has(shardOfUser(uid))) return new Promise(() => {});
      return new Promise((r) => setTimeout(r, ms)).then(() => {
        inFlight.now--;
        return { convs: [], large: [] } satisfies AttachReply;
      });
    },
  } as unknown as Router;
}

function harness(router: Router) {
  const sessions = new Map<number, Session>();
  const got: string[] = [];
  const binding = { bind: () => {}, keepOnly: () => {} } as unknown as ConvBinding;
  const send = (s: Session, f: ServerFrame): void => void (f.type === 'convs' && got.push(s.uid));
  const pager = new ListPager({ router, send, maxBackpressureBytes: () => 1 << 20 });
  const attacher = new SessionAttacher({ nodeId: 'g', life: 'g-1', router, binding, sessions, log: silentLogger(), send, pager });
  const open = (uid: string): Session => {
    const s = new Session(sessions.size + 1, {} as never, uid, 'd', 0, 0, { perSec: 10, burst: 10 });
    sessions.set(s.sid, s);
    void attacher.attach(s, false);
    return s;
  };
  return { attacher, open, got };
}

describe('session attacher', () => {
  it('session attacher – a burst keeps about its budget of attach calls outstanding, and every session gets its list', async () => {
    const inFlight = { now: 0, most: 0 };
    const { attacher, open, got } = harness(fakeRouter(new Set(), 5, inFlight));
    for (let i = 0; i < 2000; i++) open(`u${i}`);
    expect(attacher.queued).toBe(2000 - ATTACH_BUDGET);
    await new Promise((r) => setTimeout(r, 500));
    expect(got).toHaveLength(2000);
    expect(inFlight.most).toBe(ATTACH_BUDGET);
    expect(attacher.queued).toBe(0);
  });

  it('session attacher – calls hanging on a frozen node’s shards do not hold up sessions of the other shards', async () => {
    const inFlight = { now: 0, most: 0 };
    const { attacher, open, got } = harness(fakeRouter(new Set([0, 1, 2, 3, 4]), 5, inFlight));
    for (let i = 0; i < 1600; i++) open(`u${i}`);
    await new Promise((r) => setTimeout(r, 500));
    // Every session of the 11 healthy shards has its list; those of the 5 stuck ones wait behind their own shards.
    const healthy = Array.from({ length: 1600 }, (_, i) => `u${i}`).filter((u) => shardOfUser(u) > 4);
    expect(got.sort()).toEqual(healthy.sort());
    expect(attacher.queued).toBe(5 * (100 - ATTACH_BUDGET / SHARDS));
  });

  it('session attacher – after the node’s lease runs again, every session attaches at once and refreshes once more after the gateway watchers read again', async () => {
    const calls: { uid: string; refresh: boolean }[] = [];
    const router = {
      shardCount: () => SHARDS,
      shardOf: (_kind: string, uid: string) => shardOfUser(uid),
      call: async (_kind: string, uid: string, _op: string, p: { refresh?: boolean }) => {
        calls.push({ uid, refresh: p.refresh === true });
        return { convs: [], large: [] } satisfies AttachReply;
      },
    } as unknown as Router;
    const { attacher, open } = harness(router);
    open('u1');
    open('u2');
    await new Promise((r) => setTimeout(r, 50));
    calls.length = 0;
    attacher.leaseRegained();
    await new Promise((r) => setTimeout(r, 50));
    expect(calls).toEqual([
      { uid: 'u1', refresh: false },
      { uid: 'u2', refresh: false },
    ]);
    await new Promise((r) => setTimeout(r, 2 * DEFAULT_GATEWAY_WATCH_MS + 600));
    expect(calls.slice(2)).toEqual([
      { uid: 'u1', refresh: true },
      { uid: 'u2', refresh: true },
    ]);
    attacher.close();
  }, 10_000);

  it('session attacher – a session that closed while its attach was on its way is detached again once the call is over (its own detach may have overtaken the attach); an open one is not', async () => {
    const release: (() => void)[] = [];
    const tells: { uid: string; op: string; p: unknown }[] = [];
    const router = {
      shardCount: () => SHARDS,
      shardOf: (_kind: string, uid: string) => shardOfUser(uid),
      call: () => new Promise((r) => release.push(() => r({ convs: [], large: [] } satisfies AttachReply))),
      tell: (_kind: string, uid: string, op: string, p: unknown) => void tells.push({ uid, op, p }),
    } as unknown as Router;
    const { open } = harness(router);
    const gone = open('u1');
    const stays = open('u2');
    await new Promise((r) => setTimeout(r, 10));
    expect(release).toHaveLength(2);
    gone.closed();
    for (const r of release) r();
    await new Promise((r) => setTimeout(r, 10));
    expect(tells).toEqual([{ uid: 'u1', op: 'detach', p: { did: 'd', sid: gone.sid } }]);
    expect(stays.state).toBe('open');
  });

  it('session attacher – a long list’s large groups are bound before its later pages are asked for, with the list’s lastSeq', async () => {
    const bound: [string, number | undefined][] = [];
    const frames: ServerFrame[] = [];
    const asked: string[] = [];
    const router = {
      shardCount: () => SHARDS,
      shardOf: () => 0,
      call: (_kind: string, _uid: string, op: string) => {
        asked.push(op);
        // The first page and the large group it binds; the next page never comes (a slow connector).
        if (op === 'attach') return Promise.resolve({ convs: [{ conv: 'a', kind: 'group', lastSeq: 1, readSeq: 0, unread: 1 }], more: 'a', large: ['L'], largeLast: [7] } satisfies AttachReply);
        return new Promise(() => {});
      },
    } as unknown as Router;
    const binding = { bind: (_s: Session, conv: string, listed?: number) => void bound.push([conv, listed]), keepOnly: () => {}, leftSince: () => false } as unknown as ConvBinding;
    const send = (_s: Session, f: ServerFrame): void => void frames.push(f);
    const sessions = new Map<number, Session>();
    const attacher = new SessionAttacher({ nodeId: 'g', life: 'g-1', router, binding, sessions, log: silentLogger(), send, pager: new ListPager({ router, send, maxBackpressureBytes: () => 1 << 20 }) });
    const s = new Session(1, { getBufferedAmount: () => 0 } as never, 'u1', 'd', 0, 0, { perSec: 10, burst: 10 });
    s.listPageBytes = 64 * 1024;
    sessions.set(s.sid, s);
    void attacher.attach(s, false);
    await new Promise((r) => setTimeout(r, 50));
    expect(asked).toEqual(['attach', 'convs']);
    expect(frames).toEqual([{ type: 'convs', list: [expect.objectContaining({ conv: 'a' })], more: true }]);
    expect(bound).toEqual([['L', 7]]);
  });

  it('session attacher – an attach answer read before the user left a large group does not bind it again when the leave overtook it', async () => {
    let answer: (r: AttachReply) => void = () => {};
    const router = {
      shardCount: () => SHARDS,
      shardOf: () => 0,
      call: () => new Promise<AttachReply>((r) => (answer = r)),
    } as unknown as Router;
    const subscribed = new Set<string>();
    const nc = { subscribe: (subject: string) => (subscribed.add(subject), { unsubscribe: () => subscribed.delete(subject) }), flush: () => new Promise(() => {}) } as unknown as NatsConnection;
    const binding = new ConvBinding(nc, () => {});
    const sessions = new Map<number, Session>();
    const send = (): void => {};
    const attacher = new SessionAttacher({ nodeId: 'g', life: 'g-1', router, binding, sessions, log: silentLogger(), send, pager: new ListPager({ router, send, maxBackpressureBytes: () => 1 << 20 }) });
    const s = new Session(1, { getBufferedAmount: () => 0 } as never, 'u1', 'd', 0, 0, { perSec: 10, burst: 10 });
    sessions.set(s.sid, s);
    binding.joined(s, 'L');
    void attacher.attach(s, true);
    await new Promise((r) => setTimeout(r, 10));
    // The connector answered (L among the user's large groups), then the user was removed: its unbind came first.
    binding.left(s, 'L');
    answer({ large: ['L', 'M'] });
    await new Promise((r) => setTimeout(r, 10));
    expect([...(s.bound?.keys() ?? [])]).toEqual(['M']);
    expect([...subscribed]).toEqual(['im.conv.M']);
    // Added back later: the connector's bind takes it again, and the next attach's answer keeps it.
    binding.joined(s, 'L');
    void attacher.attach(s, true);
    await new Promise((r) => setTimeout(r, 10));
    answer({ large: ['L', 'M'] });
    await new Promise((r) => setTimeout(r, 10));
    expect([...(s.bound?.keys() ?? [])].sort()).toEqual(['L', 'M']);
    expect(s.unbound).toBeUndefined();
  });

  it('session attacher – a refresh whose list failed after its first page attaches again without refresh, so the whole list is sent again (the connector knows the session now)', async () => {
    vi.useFakeTimers();
    const row: ConvSummary = { conv: 'g1', kind: 'group', lastSeq: 3, readSeq: 0, unread: 3 };
    const attaches: ConnectorAttach[] = [];
    const known = new Set<number>();
    // A connector that had forgotten the session: a refresh of a known one gets no list, anything else the list (in pages).
    const router = {
      shardCount: () => 8,
      shardOf: () => 0,
      tell: () => {},
      call: async (_kind: string, _uid: string, _op: string, p: ConnectorAttach): Promise<AttachReply> => {
        attaches.push({ ...p });
        const wasKnown = known.has(p.sid);
        known.add(p.sid);
        return p.refresh === true && wasKnown ? { large: [] } : { large: [], convs: [row], more: 'g1' };
      },
    } as unknown as Router;
    const pages: number[] = [];
    const pager = {
      send: async () => {
        pages.push(attaches.length);
        // The later pages' request failed once (the connector shard still settling after a move).
        if (pages.length === 1) throw new ImError(ErrorCode.UNAVAILABLE, 'shard between owners');
      },
    } as unknown as ListPager;
    const binding = { leftSince: () => false, bind: () => {}, keepOnly: () => {} } as unknown as ConvBinding;
    const attacher = new SessionAttacher({ nodeId: 'gw1', life: 'gw1#1', router, binding, sessions: new Map(), send: () => {}, pager, log: silentLogger() });
    const s = { uid: 'u', did: 'd', sid: 7, state: 'open', attachGen: 0, attaching: false, refreshAt: 0, listPageBytes: 4096 } as unknown as Session;
    const done = attacher.attach(s, true);
    await vi.advanceTimersByTimeAsync(1_000);
    await done;
    vi.useRealTimers();
    expect(attaches.map((a) => a.refresh)).toEqual([true, undefined]);
    // The list went again from its start, and this time whole.
    expect(pages).toEqual([1, 2]);
  });
});
