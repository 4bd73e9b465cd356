import { describe, expect, it } from 'vitest';
import { addInflight, dueFrames, MAX_INFLIGHT_PER_CONV, pushedOf, RETRANSMIT_BATCH, settleInflight, type DeviceInflight } from '../../actors/device-inflight.js';

const frame = (seq: number) => new Uint8Array([seq & 0xff, seq >> 8]);
const seqsOf = (frames: Uint8Array[]) => frames.map((f) => f[0]! + (f[1]! << 8));

function pushed(inflight: DeviceInflight, conv: string, from: number, to: number, now: number): void {
  for (let seq = from; seq <= to; seq++) addInflight(inflight, conv, pushedOf(seq, frame(seq)), now);
}

describe('device inflight', () => {
  it('device inflight – a cumulative ack drops what it covers and keeps the rest for resend', () => {
    const inflight: DeviceInflight = new Map();
    pushed(inflight, 'g:a', 1, 5, 0);
    settleInflight(inflight, 'g:a', 3, 10);
    expect(seqsOf(dueFrames(inflight, 10, 20))).toEqual([4, 5]);
    settleInflight(inflight, 'g:a', 5, 30);
    expect(inflight.size).toBe(0);
  });

  it('device inflight – an ack restarts the wait of what is left; nothing is resent before it is due', () => {
    const inflight: DeviceInflight = new Map();
    pushed(inflight, 'g:a', 1, 2, 0);
    settleInflight(inflight, 'g:a', 1, 100);
    expect(dueFrames(inflight, 99, 150)).toEqual([]);
    expect(seqsOf(dueFrames(inflight, 100, 150))).toEqual([2]);
    // Resent at 150: not due again before then.
    expect(dueFrames(inflight, 149, 200)).toEqual([]);
  });

  it('device inflight – keeps the newest messages past the cap and resends a batch per round', () => {
    const inflight: DeviceInflight = new Map();
    pushed(inflight, 'g:a', 1, MAX_INFLIGHT_PER_CONV + 10, 0);
    const first = seqsOf(dueFrames(inflight, 0, 1));
    expect(first).toHaveLength(RETRANSMIT_BATCH);
    expect(first[0]).toBe(11);
  });

  it('device inflight – a frame that is a view into a larger buffer is copied, a whole one kept as it is', () => {
    const big = new Uint8Array(1024);
    const view = big.subarray(10, 12);
    expect(pushedOf(1, view).frame.buffer).not.toBe(big.buffer);
    const whole = new Uint8Array(2);
    expect(pushedOf(2, whole).frame).toBe(whole);
  });
});
