import { describe, expect, it } from 'vitest';
import { uwsIdleTimeoutSec } from '../../actors/gateway/gateway.js';
import { IDLE_HEARTBEATS } from '../../protocol/limits.js';

describe('gateway – uWS idle timeout', () => {
  it("gateway – uWS' idle timeout is set, never acts before the silent-session sweep, and is one uWS takes (a multiple of 4, at most 960 s)", () => {
    for (const heartbeatMs of [500, 2_000, 25_000, 60_000, 300_000, 10_000_000]) {
      const sec = uwsIdleTimeoutSec(heartbeatMs);
      expect(sec % 4).toBe(0);
      expect(sec).toBeGreaterThan(0);
      expect(sec).toBeLessThanOrEqual(960);
      if (heartbeatMs * IDLE_HEARTBEATS < 900_000) expect(sec * 1000).toBeGreaterThan(heartbeatMs * IDLE_HEARTBEATS + 4_000);
    }
    expect(uwsIdleTimeoutSec(25_000)).toBe(72);
  });
});
