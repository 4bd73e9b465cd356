import { afterEach, describe, expect, it, vi } from 'vitest';
import { CloseCode } from '../../protocol/close-codes.js';
import type { ServerFrame } from '../../protocol/frames.js';
import { MoveAway } from '../../actors/gateway/move-away.js';
import type { Session } from '../../actors/gateway/session.js';

/** A session that records what the gateway sent it and how it was closed. */
function fakeSession(): { s: Session; frames: ServerFrame[]; closed: number[] } {
  const frames: ServerFrame[] = [];
  const closed: number[] = [];
  const s = { queue: (f: ServerFrame) => frames.push(f), end: (code: number) => closed.push(code) } as unknown as Session;
  return { s, frames, closed };
}

describe('gateway move-away', () => {
  afterEach(() => vi.useRealTimers());

  it('gateway move-away – with no other gateway known at the cut, clients are moved once one is', async () => {
    vi.useFakeTimers();
    const a = fakeSession();
    let endpoints: string[] = [];
    const mover = new MoveAway({ sessions: () => [a.s], otherEndpoints: () => endpoints, natsConnected: () => false, retryMs: 1000 });
    await mover.start();
    expect(a.closed).toEqual([]);
    await vi.advanceTimersByTimeAsync(1000);
    expect(a.closed).toEqual([]);
    endpoints = ['ws://127.0.0.1:9/ws'];
    await vi.advanceTimersByTimeAsync(1100);
    expect(a.frames).toEqual([{ type: 'redirect', endpoints, reason: 'moved' }]);
    expect(a.closed).toEqual([CloseCode.REDIRECT]);
    // Done: no more looking.
    expect(vi.getTimerCount()).toBe(0);
    mover.close();
  });

  it('gateway move-away – clients stay when NATS is back before another gateway is known', async () => {
    vi.useFakeTimers();
    const a = fakeSession();
    let nats = false;
    let endpoints: string[] = [];
    const mover = new MoveAway({ sessions: () => [a.s], otherEndpoints: () => endpoints, natsConnected: () => nats, retryMs: 1000 });
    await mover.start();
    nats = true;
    endpoints = ['ws://127.0.0.1:9/ws'];
    await vi.advanceTimersByTimeAsync(5000);
    expect(a.closed).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
    mover.close();
  });

  it('gateway move-away – a closed gateway stops looking', async () => {
    vi.useFakeTimers();
    const a = fakeSession();
    let endpoints: string[] = [];
    const mover = new MoveAway({ sessions: () => [a.s], otherEndpoints: () => endpoints, natsConnected: () => false, retryMs: 1000 });
    await mover.start();
    mover.close();
    endpoints = ['ws://127.0.0.1:9/ws'];
    await vi.advanceTimersByTimeAsync(5000);
    expect(a.closed).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
  });
});
