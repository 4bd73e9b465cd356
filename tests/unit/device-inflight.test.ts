import { describe, expect, it } from 'vitest';
import { addInflight, DeviceInflight, dueFrames, framesInParts, MAX_INFLIGHT_BYTES_PER_DEVICE, MAX_INFLIGHT_PER_CONV, pushedOf, resendDue, RETRANSMIT_BATCH, RETRANSMIT_PUSH_BYTES, settleInflight } from '../../actors/device-inflight.js';

const frame = (seq: number) => new Uint8Array([seq & 0xff, seq >> 8]);
const seqsOf = (frames: Uint8Array[]) => frames.map((f) => f[0]! + (f[1]! << 8));

function pushed(inflight: DeviceInflight, conv: string, from: number, to: number, now: number): void {
  for (let seq = from; seq <= to; seq++) addInflight(inflight, conv, pushedOf(seq, frame(seq)), now);
}

describe('device inflight', () => {
  it('device inflight – a cumulative ack drops what it covers and keeps the rest for resend', () => {
    const inflight = new DeviceInflight();
    pushed(inflight, 'g:a', 1, 5, 0);
    settleInflight(inflight, 'g:a', 3, 10);
    expect(seqsOf(dueFrames(inflight, 10, 20))).toEqual([4, 5]);
    settleInflight(inflight, 'g:a', 5, 30);
    expect(inflight.size).toBe(0);
  });

  it('device inflight – an ack restarts the wait of what is left; nothing is resent before it is due', () => {
    const inflight = new DeviceInflight();
    pushed(inflight, 'g:a', 1, 2, 0);
    settleInflight(inflight, 'g:a', 1, 100);
    expect(dueFrames(inflight, 99, 150)).toEqual([]);
    expect(seqsOf(dueFrames(inflight, 100, 150))).toEqual([2]);
    // Resent at 150: not due again before then.
    expect(dueFrames(inflight, 149, 200)).toEqual([]);
  });

  it('device inflight – keeps the newest messages past the cap and resends a batch per round', () => {
    const inflight = new DeviceInflight();
    pushed(inflight, 'g:a', 1, MAX_INFLIGHT_PER_CONV + 10, 0);
    const first = seqsOf(dueFrames(inflight, 0, 1));
    expect(first).toHaveLength(RETRANSMIT_BATCH);
    expect(first[0]).toBe(11);
  });

  it('device inflight – a retransmit round goes in pushes of at most RETRANSMIT_PUSH_BYTES, every due frame once and in order', () => {
    const inflight = new DeviceInflight();
    const big = (c: number, seq: number) => pushedOf(seq, new Uint8Array(16 * 1024).fill(c * 16 + seq));
    // 3 conversations of 12 x 16 KiB: 576 KiB due, past the transport's 512 KiB batch limit as one tell.
    for (let c = 0; c < 3; c++) for (let seq = 1; seq <= 12; seq++) addInflight(inflight, `g:${c}`, big(c, seq), 0);
    const expected = dueFrames(inflight, 0, 1).map((f) => f[0]);
    const pushes: Uint8Array[][] = [];
    // The second round in a row: its wait doubled (one interval of 1 ms, then two).
    expect(resendDue([{ inflight }], 2, 3, (_dev, frames) => pushes.push(frames))).toBe(true);
    expect(pushes.length).toBeGreaterThan(1);
    for (const p of pushes) expect(p.reduce((n, f) => n + f.byteLength, 0)).toBeLessThanOrEqual(RETRANSMIT_PUSH_BYTES);
    expect(pushes.flat().map((f) => f[0])).toEqual(expected);
  });

  it('device inflight – a frame larger than a push part goes alone, between the parts before and after it', () => {
    const sized = (n: number, tag: number) => new Uint8Array(n).fill(tag);
    const parts = framesInParts([sized(10, 1), sized(10, 2), sized(100, 3), sized(10, 4)], 50);
    expect(parts.map((p) => p.map((f) => f[0]))).toEqual([[1, 2], [3], [4]]);
    expect(framesInParts([], 50)).toEqual([]);
  });

  it('device inflight – a frame that is a view into a larger buffer is copied, a whole one kept as it is', () => {
    const big = new Uint8Array(1024);
    const view = big.subarray(10, 12);
    expect(pushedOf(1, view).frame.buffer).not.toBe(big.buffer);
    const whole = new Uint8Array(2);
    expect(pushedOf(2, whole).frame).toBe(whole);
  });

  it('device inflight – a device that never acks, in many busy conversations, keeps a bounded number of bytes: the conversation waiting longest goes', () => {
    const inflight = new DeviceInflight();
    const big = (seq: number) => pushedOf(seq, new Uint8Array(16 * 1024).fill(seq & 0xff));
    // 64 conversations of 16 x 16 KiB each: 16 MiB unacked, four times the device's budget.
    for (let c = 0; c < 64; c++) for (let seq = 1; seq <= 16; seq++) addInflight(inflight, `g:${c}`, big(seq), c);
    expect(inflight.bytes).toBeLessThanOrEqual(MAX_INFLIGHT_BYTES_PER_DEVICE);
    expect(inflight.has('g:63')).toBe(true);
    expect(inflight.has('g:0')).toBe(false);
    // The count follows acks and what is let go, to the byte.
    let held = 0;
    for (const f of inflight.values()) for (const m of (f as unknown as { msgs: { frame: Uint8Array }[] }).msgs) held += m.frame.byteLength;
    expect(inflight.bytes).toBe(held);
    settleInflight(inflight, 'g:63', 8, 100);
    expect(inflight.bytes).toBe(held - 8 * 16 * 1024);
    inflight.delete('g:63');
    expect(inflight.bytes).toBe(held - 16 * 16 * 1024);
  });

  it('device inflight – a device that reads but never acks is sent its messages again less and less often (at most every 32 intervals); an ack starts afresh', () => {
    const inflight = new DeviceInflight();
    pushed(inflight, 'g:a', 1, 3, 0);
    const rounds: number[] = [];
    // The connector's timer looks every quarter interval (interval 100 ms here) for 40 intervals.
    for (let now = 25; now <= 4_000; now += 25) if (dueFrames(inflight, now - 100, now).length > 0) rounds.push(now);
    expect(rounds).toEqual([100, 300, 700, 1_500, 3_100]);
    for (let now = 4_025; now <= 10_000; now += 25) if (dueFrames(inflight, now - 100, now).length > 0) rounds.push(now);
    expect(rounds.slice(5)).toEqual([6_300, 9_500]);
    settleInflight(inflight, 'g:a', 1, 10_000);
    expect(dueFrames(inflight, 9_950, 10_050)).toEqual([]);
    expect(seqsOf(dueFrames(inflight, 10_000, 10_100))).toEqual([2, 3]);
  });
});

