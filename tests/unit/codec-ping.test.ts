import { describe, expect, it } from 'vitest';
import { BARE_PING, BARE_PONG, decodeClientFrame, decodeServerFrame, encodeFrame, isBarePing } from '../../protocol/codec.js';

describe('codec – bare ping', () => {
  it('codec – the SDK\'s ping is recognised byte for byte and the canned pong decodes as a pong', () => {
    expect(isBarePing(encodeFrame({ type: 'ping' }))).toBe(true);
    // The same map with a fixmap header, as most other msgpack libraries write it.
    const fixmap = Uint8Array.from([0x81, ...BARE_PING.subarray(3)]);
    expect(decodeClientFrame(fixmap)).toEqual({ ok: true, value: { type: 'ping' } });
    expect(isBarePing(fixmap)).toBe(true);
    expect(decodeClientFrame(BARE_PING)).toEqual({ ok: true, value: { type: 'ping' } });
    expect(decodeServerFrame(BARE_PONG)).toEqual({ ok: true, value: { type: 'pong' } });
  });

  it('codec – every other frame, including other pings, takes the general path', () => {
    expect(isBarePing(encodeFrame({ type: 'ping', ts: 1 }))).toBe(false);
    expect(isBarePing(encodeFrame({ type: 'sync', rid: 1 }))).toBe(false);
    const sameLength = BARE_PING.slice();
    sameLength[sameLength.length - 1] = 0x41;
    expect(isBarePing(sameLength)).toBe(false);
    expect(isBarePing(new Uint8Array())).toBe(false);
  });
});
