import { describe, expect, it, vi } from 'vitest';
import { ErrorCode } from '../../protocol/errors.js';
import { fakeTimersPerTest, welcomedHarness } from '../helpers/sdk-harness.js';

fakeTimersPerTest();

/** A client in `convs`, 9 messages unread in each (a heartbeat longer than the test: the fake server answers no ping). */
async function inConversations(...convs: string[]) {
  const h = await welcomedHarness({}, { heartbeatMs: 600_000 });
  h.s.receive({ type: 'convs', list: convs.map((conv) => ({ conv, kind: 'group' as const, lastSeq: 9, readSeq: 0, unread: 9 })) });
  return h;
}

describe('sdk client – read marks refused for a passing reason', () => {
  it.each([ErrorCode.STORAGE, ErrorCode.RATE_LIMITED])('sdk client – a read refused with %s is sent again in a moment, as README §9 retries it', async (code) => {
    const { client, s } = await inConversations('c');
    client.read('c', 9);
    s.receive({ type: 'error', code, message: 'later', conv: 'c' });
    await vi.advanceTimersByTimeAsync(2_000);
    expect(s.sentOf('read')).toEqual([{ type: 'read', conv: 'c', seq: 9 }, { type: 'read', conv: 'c', seq: 9 }]);
    client.close();
  });

  it('sdk client – a read refused with rate_limited and a wait goes again no sooner than that wait', async () => {
    const { client, s } = await inConversations('c');
    client.read('c', 9);
    s.receive({ type: 'error', code: 'rate_limited', message: 'wait 5 s', conv: 'c', retryAfterMs: 5_000 });
    await vi.advanceTimersByTimeAsync(4_999);
    expect(s.sentOf('read')).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(s.sentOf('read')).toHaveLength(2);
    client.close();
  });

  it('sdk client – a long wait named for one conversation does not hold back the retry of another', async () => {
    const { client, s } = await inConversations('c', 'd');
    client.read('c', 9);
    client.read('d', 9);
    s.receive({ type: 'error', code: 'rate_limited', message: 'wait 5 s', conv: 'c', retryAfterMs: 5_000 });
    s.receive({ type: 'error', code: 'timeout', message: 'no answer', conv: 'd' });
    await vi.advanceTimersByTimeAsync(2_000);
    expect(s.sentOf('read').slice(2)).toEqual([{ type: 'read', conv: 'd', seq: 9 }]);
    await vi.advanceTimersByTimeAsync(3_000);
    expect(s.sentOf('read').slice(2)).toEqual([{ type: 'read', conv: 'd', seq: 9 }, { type: 'read', conv: 'c', seq: 9 }]);
    client.close();
  });
});
