import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, ImError } from '../../protocol/errors.js';
import type { ActorContext, ActorKind, DeactivateReason } from '../../runtime/actor.js';
import { ActorHost, type ActorSender } from '../../runtime/actor-host.js';
import { LaterReply } from '../../runtime/actor.js';
import { silentLogger } from '../../runtime/logger.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sender: ActorSender = { call: async () => null, tell: () => {} };
const fence = { kind: 'probe', shard: 0, epoch: 1 };

interface Trace {
  activations: number;
  deactivations: DeactivateReason[];
  seen: string[];
}

function probeKind(trace: Trace, idleMs?: number): ActorKind {
  return {
    kind: 'probe',
    ...(idleMs ? { idleMs } : {}),
    create: (ctx: ActorContext) => {
      let running = false;
      return {
        async onActivate() {
          trace.activations++;
        },
        async handle(op: string, payload: unknown) {
          if (running) throw new Error('two messages at once');
          running = true;
          try {
            trace.seen.push(`${ctx.key}:${op}:${String(payload)}`);
            if (op === 'slow') await sleep(5);
            if (op === 'coded') throw new ImError(ErrorCode.NOT_MEMBER, 'nope');
            if (op === 'bug') throw new Error('boom');
            if (op === 'fenced') throw new ImError(ErrorCode.FENCED, 'stale');
            if (op === 'timer') ctx.setTimer('t', 20, () => trace.seen.push(`${ctx.key}:timer`));
            if (op === 'hold') await (payload as Promise<void>);
            return payload;
          } finally {
            running = false;
          }
        },
        async onDeactivate(reason: DeactivateReason) {
          trace.deactivations.push(reason);
        },
      };
    },
  };
}

/** An actor whose handler is synchronous (as most chat operations are): it must keep the same guarantees. */
function syncKind(trace: Trace): ActorKind {
  return {
    kind: 'probe',
    create: (ctx: ActorContext) => ({
      async onActivate() {
        trace.activations++;
      },
      handle(op: string, payload: unknown) {
        trace.seen.push(`${ctx.key}:${op}:${String(payload)}`);
        if (op === 'bug') throw new Error('boom');
        if (op === 'fenced') throw new ImError(ErrorCode.FENCED, 'stale');
        if (op === 'later') return new LaterReply(sleep(5).then(() => payload));
        // An async handler whose later reply fails (a commit that failed), told rather than called.
        if (op === 'asyncLaterFails') return Promise.resolve(new LaterReply(sleep(5).then(() => Promise.reject(new ImError(ErrorCode.STORAGE, 'commit failed')))));
        return payload;
      },
      async onDeactivate(reason: DeactivateReason) {
        trace.deactivations.push(reason);
      },
    }),
  };
}

describe('actor host – one message at a time, activation, failures', () => {
  let host: ActorHost | undefined;
  afterEach(async () => {
    await host?.close();
  });

  it('actor host – messages to one actor run one at a time in arrival order, after one activation', async () => {
    const trace: Trace = { activations: 0, deactivations: [], seen: [] };
    host = new ActorHost({ nodeId: 'n', kinds: [probeKind(trace)], sender, log: silentLogger(), defaultIdleMs: 60_000, onFenced: () => {} });
    const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => host!.dispatch('probe', 'a', fence, i % 3 ? 'fast' : 'slow', i)));
    expect(replies).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(trace.seen.map((s) => Number(s.split(':')[2]))).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(trace.activations).toBe(1);
  });

  it('actor host – a throwing handler gives a coded error and the actor keeps serving', async () => {
    const trace: Trace = { activations: 0, deactivations: [], seen: [] };
    host = new ActorHost({ nodeId: 'n', kinds: [probeKind(trace)], sender, log: silentLogger(), defaultIdleMs: 60_000, onFenced: () => {} });
    await expect(host.dispatch('probe', 'b', fence, 'coded', 1)).rejects.toMatchObject({ code: ErrorCode.NOT_MEMBER });
    await expect(host.dispatch('probe', 'b', fence, 'bug', 2)).rejects.toMatchObject({ code: ErrorCode.INTERNAL });
    expect(await host.dispatch('probe', 'b', fence, 'ok', 3)).toBe(3);
    expect(trace.activations).toBe(1);
    await expect(host.dispatch('nope', 'b', fence, 'ok', 3)).rejects.toMatchObject({ code: ErrorCode.NOT_FOUND });
  });

  it("actor host – a tell whose async handler's later reply fails is reported, not an unhandled rejection, and the actor keeps serving", async () => {
    const trace: Trace = { activations: 0, deactivations: [], seen: [] };
    host = new ActorHost({ nodeId: 'n', kinds: [syncKind(trace)], sender, log: silentLogger(), defaultIdleMs: 60_000, onFenced: () => {} });
    host.tell('probe', 'e', fence, 'asyncLaterFails', 1);
    await sleep(30);
    expect(await host.dispatch('probe', 'e', fence, 'ok', 2)).toBe(2);
    expect(trace.seen).toEqual(['e:asyncLaterFails:1', 'e:ok:2']);
  });

  it('actor host – a fenced write stops the actor and reports its shard', async () => {
    const trace: Trace = { activations: 0, deactivations: [], seen: [] };
    const fencedShards: number[] = [];
    host = new ActorHost({ nodeId: 'n', kinds: [probeKind(trace)], sender, log: silentLogger(), defaultIdleMs: 60_000, onFenced: (_k, s) => fencedShards.push(s) });
    await expect(host.dispatch('probe', 'c', fence, 'fenced', 1)).rejects.toMatchObject({ code: ErrorCode.FENCED });
    await sleep(10);
    expect(fencedShards).toEqual([0]);
    expect(trace.deactivations).toEqual(['stopped']);
  });

  it('actor host – a timer that fires while a deactivation waits behind a busy job does not run after it', async () => {
    const trace: Trace = { activations: 0, deactivations: [], seen: [] };
    host = new ActorHost({ nodeId: 'n', kinds: [probeKind(trace)], sender, log: silentLogger(), defaultIdleMs: 60_000, onFenced: () => {} });
    await host.dispatch('probe', 't', fence, 'timer', 1);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const held = host.dispatch('probe', 't', fence, 'hold', gate);
    const gone = host.deactivateShard('probe', 0, 'shard-released');
    await sleep(40);
    release();
    await held;
    await gone;
    expect(trace.deactivations).toEqual(['shard-released']);
    expect(trace.seen).toEqual(['t:timer:1', 't:hold:[object Promise]']);
  });

  it('actor host – idle actors are deactivated and their timers die with them', async () => {
    const trace: Trace = { activations: 0, deactivations: [], seen: [] };
    host = new ActorHost({ nodeId: 'n', kinds: [probeKind(trace, 300)], sender, log: silentLogger(), defaultIdleMs: 300, onFenced: () => {} });
    await host.dispatch('probe', 'd', fence, 'timer', 0);
    await sleep(60);
    expect(trace.seen).toContain('d:timer');
    await sleep(700);
    expect(trace.deactivations).toEqual(['idle']);
    expect(host.counts()).toEqual({});
    await host.dispatch('probe', 'd', fence, 'ok', 1);
    expect(trace.activations).toBe(2);
  });

  it('actor host – deactivating a shard lets queued work finish first', async () => {
    const trace: Trace = { activations: 0, deactivations: [], seen: [] };
    host = new ActorHost({ nodeId: 'n', kinds: [probeKind(trace)], sender, log: silentLogger(), defaultIdleMs: 60_000, onFenced: () => {} });
    const work = Array.from({ length: 5 }, (_, i) => host!.dispatch('probe', 'e', fence, 'slow', i));
    await host.deactivateShard('probe', 0, 'shard-released');
    expect(await Promise.all(work)).toEqual([0, 1, 2, 3, 4]);
    expect(trace.deactivations).toEqual(['shard-released']);
  });

  it('actor host – messages queued behind a failed activation are refused as unavailable and never reach the actor', async () => {
    let attempts = 0;
    const handled: unknown[] = [];
    const flaky: ActorKind = {
      kind: 'probe',
      create: () => ({
        async onActivate() {
          // The first activation fails (its storage was down), the next one works.
          if (++attempts === 1) throw new ImError(ErrorCode.UNAVAILABLE, 'database unreachable');
        },
        handle(_op: string, payload: unknown) {
          handled.push(payload);
          return payload;
        },
      }),
    };
    host = new ActorHost({ nodeId: 'n', kinds: [flaky], sender, log: silentLogger(), defaultIdleMs: 60_000, onFenced: () => {} });
    const first = await Promise.allSettled(Array.from({ length: 5 }, (_, i) => host!.dispatch('probe', 'f', fence, 'op', i)));
    expect(first.map((r) => (r.status === 'rejected' ? (r.reason as ImError).code : 'handled'))).toEqual(Array(5).fill(ErrorCode.UNAVAILABLE));
    expect(handled).toEqual([]);
    await sleep(10);
    expect(await host.dispatch('probe', 'f', fence, 'op', 'again')).toBe('again');
    expect(handled).toEqual(['again']);
  });

  it('actor host – tells and calls to one actor run in arrival order; a failing tell costs nothing after it', async () => {
    const trace: Trace = { activations: 0, deactivations: [], seen: [] };
    host = new ActorHost({ nodeId: 'n', kinds: [syncKind(trace)], sender, log: silentLogger(), defaultIdleMs: 60_000, onFenced: () => {} });
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < 12; i++) {
      if (i % 3 === 0) calls.push(host.dispatch('probe', 't', fence, i % 2 ? 'later' : 'ok', i));
      else host.tell('probe', 't', fence, i === 4 ? 'bug' : 'ok', i);
    }
    expect(await Promise.all(calls)).toEqual([0, 3, 6, 9]);
    await sleep(5);
    expect(trace.seen.map((s) => Number(s.split(':')[2]))).toEqual(Array.from({ length: 12 }, (_, i) => i));
    expect(trace.activations).toBe(1);
    expect(await host.dispatch('probe', 't', fence, 'ok', 'after')).toBe('after');
  });

  it('actor host – a fenced tell stops the actor and reports its shard, like a fenced call', async () => {
    const trace: Trace = { activations: 0, deactivations: [], seen: [] };
    const fencedShards: number[] = [];
    host = new ActorHost({ nodeId: 'n', kinds: [syncKind(trace)], sender, log: silentLogger(), defaultIdleMs: 60_000, onFenced: (_k, s) => fencedShards.push(s) });
    host.tell('probe', 'f', fence, 'fenced', 1);
    await sleep(10);
    expect(fencedShards).toEqual([0]);
    expect(trace.deactivations).toEqual(['stopped']);
  });

  it('actor host – a question the kind answers for sleeping actors does not wake them; a live actor answers it itself', async () => {
    const trace: Trace = { activations: 0, deactivations: [], seen: [] };
    const kind = syncKind(trace);
    host = new ActorHost({
      nodeId: 'n',
      kinds: [{ ...kind, idleAnswer: (op) => (op === 'who' ? 'nobody' : undefined) }],
      sender,
      log: silentLogger(),
      defaultIdleMs: 60_000,
      onFenced: () => {},
    });
    expect(await Promise.all(Array.from({ length: 50 }, (_, i) => host!.dispatch('probe', `u${i}`, fence, 'who', 0)))).toEqual(Array(50).fill('nobody'));
    expect(trace.activations).toBe(0);
    expect(host.counts()).toEqual({});
    // Other operations still activate; once live, the actor answers the question itself.
    expect(await host.dispatch('probe', 'u1', fence, 'echo', 7)).toBe(7);
    expect(await host.dispatch('probe', 'u1', fence, 'who', 'me')).toBe('me');
    expect(trace.activations).toBe(1);
  });

  it("actor host – a call whose caller's deadline passed while it waited in the mailbox is refused timeout and never runs; the calls after it run", async () => {
    const trace: Trace = { activations: 0, deactivations: [], seen: [] };
    host = new ActorHost({ nodeId: 'n', kinds: [probeKind(trace)], sender, log: silentLogger(), defaultIdleMs: 60_000, onFenced: () => {} });
    let release: () => void = () => undefined;
    const held = host.dispatch('probe', 'd', fence, 'hold', new Promise<void>((r) => (release = r)));
    const late = host.dispatch('probe', 'd', fence, 'echo', 'late', Date.now() + 20);
    const patient = host.dispatch('probe', 'd', fence, 'echo', 'patient', Date.now() + 60_000);
    await sleep(50);
    release();
    await held;
    await expect(late).rejects.toMatchObject({ code: ErrorCode.TIMEOUT });
    expect(await patient).toBe('patient');
    expect(trace.seen.filter((x) => x.includes('echo'))).toEqual(['d:echo:patient']);
  });

  it('actor host – a repeating timer and a due check add one tick each to a held mailbox, not one per interval', async () => {
    let ticks = 0;
    let checks = 0;
    let release: () => void = () => undefined;
    const kind: ActorKind = {
      kind: 'probe',
      idleMs: 500,
      create: (ctx: ActorContext) => {
        const actor = {
          checkAt: 0 as number | undefined,
          async onActivate() {
            ctx.setTimer('tick', 10, () => void ticks++, true);
          },
          handle(op: string) {
            if (op === 'hold') return new Promise<void>((r) => (release = r));
            return op;
          },
          check() {
            checks++;
            actor.checkAt = Date.now() + 60_000;
          },
          holdsLiveState: () => true,
          async onDeactivate() {},
        };
        return actor;
      },
    };
    host = new ActorHost({ nodeId: 'n', kinds: [kind], sender, log: silentLogger(), defaultIdleMs: 60_000, onFenced: () => {} });
    const held = host.dispatch('probe', 't', fence, 'hold', null);
    await sleep(5);
    ticks = 0;
    // Held for ~30 timer intervals and ~5 sweeps (every 250 ms for an idle time of 500 ms).
    await sleep(1_300);
    release();
    await held;
    await sleep(5);
    expect(ticks).toBeLessThanOrEqual(2);
    expect(checks).toBe(1);
  });
});
