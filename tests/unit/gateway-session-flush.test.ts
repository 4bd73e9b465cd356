import type { WebSocket } from 'uWebSockets.js';
import { describe, expect, it } from 'vitest';
import { Session, type SessionData } from '../../actors/gateway/session.js';

/** A uWS socket that buffers what it is sent; the uncork at the end of `cork` drains `drainOnUncork` bytes. */
function socket(drainOnUncork: number) {
  let buffered = 0;
  const sent: number[] = [];
  const ws = {
    send: (b: Uint8Array) => {
      buffered += b.byteLength;
      sent.push(b.byteLength);
      return 0; // backpressure: the kernel took nothing now
    },
    getBufferedAmount: () => buffered,
    cork: (fn: () => void) => {
      fn();
      buffered = Math.max(0, buffered - drainOnUncork);
    },
  } as unknown as WebSocket<SessionData>;
  return { ws, sent };
}

describe('gateway – a session flush at the slow-reader limit', () => {
  it('gateway – a flush that left frames unsent at the limit says so, even when the uncork drained the buffer below it', () => {
    const { ws, sent } = socket(3_000);
    const s = new Session(1, ws, 'ann', 'phone', 0, 0, { perSec: 100, burst: 100 });
    for (let i = 0; i < 5; i++) s.queueBytes(new Uint8Array(1_000));
    // The limit is passed at the third frame; the last two are never written.
    expect(s.flush(2_500)).toBe(Infinity);
    expect(sent).toEqual([1_000, 1_000, 1_000]);
  });

  it('gateway – a flush that wrote everything returns what uWS still holds', () => {
    const { ws } = socket(500);
    const s = new Session(1, ws, 'ann', 'phone', 0, 0, { perSec: 100, burst: 100 });
    for (let i = 0; i < 2; i++) s.queueBytes(new Uint8Array(1_000));
    expect(s.flush(2_500)).toBe(1_500);
  });
});
