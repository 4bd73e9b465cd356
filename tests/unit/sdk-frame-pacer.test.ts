import { describe, expect, it, vi } from 'vitest';
import { decodeClientFrame, encodeFrame } from '../../protocol/codec.js';
import type { ClientFrame } from '../../protocol/frames.js';
import { FramePacer } from '../../protocol/sdk/frame-pacer.js';
import { fakeTimersPerTest, flush, msg, WELCOME, welcomedHarness } from '../helpers/sdk-harness.js';

fakeTimersPerTest();

/** A pacer at `rate`/`burst` whose writes are kept, decoded. */
function pacer(rate: number, burst: number) {
  const written: ClientFrame[] = [];
  const p = new FramePacer(rate, burst, (bytes) => {
    const r = decodeClientFrame(bytes);
    if (!r.ok) throw r.error;
    written.push(r.value);
    return true;
  });
  const offer = (f: ClientFrame) => p.offer(f, encodeFrame(f));
  return { p, written, offer };
}
const send = (cid: number): ClientFrame => ({ type: 'send', conv: 'g', cid, body: `m${cid}` });

describe('SDK pacing', () => {
  it('SDK pacing – frames past the pace wait and go out as it allows, in order', async () => {
    // Gateway: 10 a second, bursts of 4. The client keeps to 9 a second, bursts of 2.
    const { written, offer } = pacer(10, 4);
    for (let cid = 1; cid <= 20; cid++) expect(offer(send(cid))).toBe(true);
    expect(written.length).toBe(2);
    await vi.advanceTimersByTimeAsync(1000);
    expect(written.length).toBeGreaterThanOrEqual(10);
    expect(written.length).toBeLessThanOrEqual(11);
    await vi.advanceTimersByTimeAsync(1100);
    expect(written.map((f) => (f.type === 'send' ? f.cid : 0))).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
  });

  it('SDK pacing – a backlog that never empties (a bulk sender past the pace) keeps only what still waits, not every frame it wrote', async () => {
    const { p, written, offer } = pacer(1000, 10);
    let cid = 0;
    // 20 s at 900 frames a second written, with a backlog of ~100 kept up the whole time.
    for (let i = 0; i < 100; i++) offer(send(++cid));
    for (let ms = 0; ms < 20_000; ms += 100) {
      while (p.waiting < 100) offer(send(++cid));
      await vi.advanceTimersByTimeAsync(100);
    }
    expect(written.length).toBeGreaterThan(15_000);
    const held = (p as unknown as { ordered: unknown[] }).ordered.length;
    expect(held).toBeLessThan(3 * 1024);
    expect(written.map((f) => (f.type === 'send' ? f.cid : 0))).toEqual(Array.from({ length: written.length }, (_, i) => i + 1));
  });

  it('SDK pacing – a send offered again goes once more, in cid order; acks and requests go before waiting sends', async () => {
    const { written, offer } = pacer(10, 2);
    for (let cid = 1; cid <= 5; cid++) offer(send(cid));
    // The outbound queue re-sends a conversation that got no answer: what still waits is not queued twice, and the
    // one already on the wire goes again before the later ones (behind them, they would all draw out_of_order).
    for (let cid = 1; cid <= 5; cid++) offer(send(cid));
    offer({ type: 'ack', conv: 'g', seq: 7 });
    offer({ type: 'ping' });
    await vi.advanceTimersByTimeAsync(2000);
    expect(written.map((f) => (f.type === 'send' ? `s${f.cid}` : f.type))).toEqual(['s1', 'ack', 'ping', 's1', 's2', 's3', 's4', 's5']);
  });

  it('SDK pacing – acks that alone fill the pace (many busy conversations) still let the user\'s sends through, every third frame', async () => {
    const { written, offer } = pacer(10, 2);
    let seq = 0;
    // Forty conversations with new messages: each acked anew every 50 ms, far more acks than the pace takes.
    const acks = () => {
      seq++;
      for (let c = 0; c < 40; c++) offer({ type: 'ack', conv: `busy${c}`, seq });
    };
    acks();
    for (let cid = 1; cid <= 3; cid++) offer(send(cid));
    for (let ms = 0; ms < 1500; ms += 50) {
      acks();
      await vi.advanceTimersByTimeAsync(50);
    }
    const kinds = written.map((f) => (f.type === 'send' ? `s${f.cid}` : f.type));
    expect(kinds.filter((k) => k !== 'ack')).toEqual(['s1', 's2', 's3']);
    // The third, sixth and ninth frame paced (after the two of the burst): never more than two acks in a row before them.
    expect(kinds.indexOf('s3')).toBeLessThanOrEqual(2 + 3 * 3);
  });

  it('SDK pacing – waiting acks and read marks of a conversation give way to the newest; a leave keeps its place after earlier sends', async () => {
    const { written, offer } = pacer(10, 2);
    offer(send(1));
    offer(send(2));
    offer({ type: 'leave', rid: 1, conv: 'g' });
    offer(send(3));
    for (const seq of [3, 9, 5]) offer({ type: 'ack', conv: 'g', seq });
    offer({ type: 'ack', conv: 'h', seq: 4 });
    for (const seq of [2, 8]) offer({ type: 'read', conv: 'g', seq });
    await vi.advanceTimersByTimeAsync(2000);
    const shown = written.map((f) => (f.type === 'send' ? `s${f.cid}` : f.type === 'ack' || f.type === 'read' ? `${f.type}:${f.conv}:${f.seq}` : f.type));
    // Two of the first kind in a row, then a send's turn.
    expect(shown).toEqual(['s1', 'ack:g:9', 'ack:h:4', 's2', 'read:g:8', 'leave', 's3']);
  });

  it('SDK pacing – a closed connection drops what waits and stops its timer', async () => {
    const { p, written, offer } = pacer(10, 2);
    for (let cid = 1; cid <= 5; cid++) offer(send(cid));
    p.stop();
    await vi.advanceTimersByTimeAsync(2000);
    expect(written.length).toBe(1);
    expect(p.waiting).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('SDK pacing – acks a failed write dropped (the socket closing) are handed back when the connection stops', async () => {
    let open = true;
    const written: string[] = [];
    const p = new FramePacer(10, 2, (bytes) => {
      const r = decodeClientFrame(bytes);
      if (open && r.ok && r.value.type === 'ack') written.push(r.value.conv);
      return open;
    });
    const offer = (f: ClientFrame) => p.offer(f, encodeFrame(f));
    offer(send(1));
    for (const conv of ['a', 'b', 'c']) offer({ type: 'ack', conv, seq: 3 });
    await vi.advanceTimersByTimeAsync(120);
    expect(written).toEqual(['a']);
    // The server started its close: the next write fails before the close event comes.
    open = false;
    await vi.advanceTimersByTimeAsync(500);
    expect(p.waiting).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
    expect(p.stop().sort()).toEqual(['b', 'c']);
  });

  it('SDK pacing – the client keeps to the rate its welcome gives; without one it sends at once', async () => {
    const paced = await welcomedHarness({}, { rate: 10, burst: 4 });
    paced.s.receive({ type: 'convs', list: [] });
    await flush();
    for (let i = 0; i < 12; i++) paced.client.send('g', `m${i}`).catch(() => {});
    expect(paced.s.sentOf('send').length).toBe(2);
    await vi.advanceTimersByTimeAsync(1600);
    expect(paced.s.sentOf('send').map((f) => f.body)).toEqual(Array.from({ length: 12 }, (_, i) => `m${i}`));
    paced.client.close();

    const older = await welcomedHarness({});
    older.s.receive({ type: 'convs', list: [] });
    await flush();
    for (let i = 0; i < 12; i++) older.client.send('g', `m${i}`).catch(() => {});
    expect(older.s.sentOf('send').length).toBe(12);
    older.client.close();
  });

  it('SDK pacing – an ack still waiting for the pace when the connection drops goes out on the next session, after its list', async () => {
    // One frame a second at most (0.9 with the margin), bursts of one: the ack waits behind the send.
    // Reconnects at once, so that the next session's welcome comes before the ack batch's delay is over.
    const { client, ws, s } = await welcomedHarness({ reconnect: { baseMs: 1, capMs: 1 } }, { rate: 1, burst: 2, heartbeatMs: 60_000 });
    s.receive({ type: 'convs', list: [{ conv: 'c', kind: 'group', lastSeq: 0, readSeq: 0, unread: 0 }] });
    client.send('c', 'x').catch(() => {});
    s.receive({ type: 'msg', ...msg('c', 1, 0) });
    await vi.advanceTimersByTimeAsync(100);
    expect(s.sentOf('ack')).toEqual([]);
    s.serverClose(1006);
    await vi.advanceTimersByTimeAsync(5);
    expect(ws.sockets).toHaveLength(2);
    const s2 = ws.last();
    s2.open();
    s2.receive({ ...WELCOME, heartbeatMs: 60_000 });
    // Not before the list: an ack from a device the server has not attached again is dropped.
    await vi.advanceTimersByTimeAsync(500);
    expect(s2.sentOf('ack')).toEqual([]);
    // Nothing new in the list: only the carried-over ack tells the server this device holds message 1.
    s2.receive({ type: 'convs', list: [{ conv: 'c', kind: 'group', lastSeq: 1, readSeq: 0, unread: 1 }] });
    await vi.advanceTimersByTimeAsync(100);
    expect(s2.sentOf('ack')).toEqual([{ type: 'ack', conv: 'c', seq: 1 }]);
    client.close();
  });
});
