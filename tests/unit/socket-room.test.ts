import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CloseCode } from '../../protocol/close-codes.js';
import type { Session } from '../../actors/gateway/session.js';
import { DRAIN_POLL_MS, hasRoom, roomFor } from '../../actors/gateway/socket-room.js';

const LIMIT = 1 << 20;

/** A session whose reader takes `perPoll` bytes each poll of the wait. */
function reader(held: number, perPoll = 0) {
  const ended: number[] = [];
  const s = {
    state: 'open' as Session['state'],
    held,
    unsent: () => (s.state === 'open' ? s.held : 0),
    end: (code: number) => void ended.push(code),
  };
  const timer = setInterval(() => (s.held = Math.max(0, s.held - perPoll)), DRAIN_POLL_MS);
  return { s, session: s as unknown as Session, ended, stop: () => clearInterval(timer) };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('socket room – big answers wait for the reader', () => {
  it('socket room – an answer that fits under half the limit, or any answer to a socket holding nothing, goes at once', async () => {
    expect(await roomFor(reader(100_000).session, 300_000, LIMIT / 2)).toBe('ready');
    expect(await roomFor(reader(0).session, 4 * LIMIT, LIMIT / 2)).toBe('ready');
  });

  it('socket room – a page behind another waits until the reader has taken enough, then goes', async () => {
    const r = reader(512 * 1024, 64 * 1024);
    let room: string | undefined;
    void roomFor(r.session, 512 * 1024, LIMIT / 2).then((x) => (room = x));
    await vi.advanceTimersByTimeAsync(3 * DRAIN_POLL_MS);
    expect(room).toBeUndefined();
    await vi.advanceTimersByTimeAsync(10 * DRAIN_POLL_MS);
    expect(room).toBe('ready');
    expect(r.s.held).toBe(0);
    r.stop();
  });

  it('socket room – a reader that takes nothing: late after the wait; the session is closed 4013 unless told not to', async () => {
    const stuck = reader(900_000);
    const kept = roomFor(stuck.session, 200_000, LIMIT / 2, { maxWaitMs: 1_000, closeWhenLate: false });
    await vi.advanceTimersByTimeAsync(1_100);
    expect(await kept).toBe('late');
    expect(stuck.ended).toEqual([]);
    const closed = roomFor(stuck.session, 200_000, LIMIT / 2, { maxWaitMs: 1_000 });
    await vi.advanceTimersByTimeAsync(1_100);
    expect(await closed).toBe('late');
    expect(stuck.ended).toEqual([CloseCode.SLOW_CONSUMER]);
    stuck.stop();
  });

  it('socket room – room: what the socket holds and the answer within the budget, or a socket holding nothing', () => {
    expect(hasRoom(reader(256 * 1024).session, 512 * 1024, (LIMIT * 3) / 4)).toBe(true);
    expect(hasRoom(reader(256 * 1024 + 1).session, 512 * 1024, (LIMIT * 3) / 4)).toBe(false);
    expect(hasRoom(reader(0).session, 2 * LIMIT, (LIMIT * 3) / 4)).toBe(true);
  });

  it('socket room – a session that closes while it waits: gone', async () => {
    const r = reader(900_000);
    const room = roomFor(r.session, 200_000, LIMIT / 2);
    await vi.advanceTimersByTimeAsync(2 * DRAIN_POLL_MS);
    r.s.state = 'closed';
    await vi.advanceTimersByTimeAsync(2 * DRAIN_POLL_MS);
    expect(await room).toBe('gone');
    r.stop();
  });
});
