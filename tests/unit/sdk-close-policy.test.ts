import { describe, expect, it } from 'vitest';
import { CloseCode } from '../../protocol/close-codes.js';
import { afterClose, DEFAULT_RATE_LIMITED_PAUSE_MS } from '../../protocol/sdk/close-policy.js';

const open = { upgraded: true, redirected: false };

describe('sdk close policy', () => {
  it('sdk – a device replaced by a newer connection, or signed out, stops for good with the reason', () => {
    expect(afterClose(CloseCode.REPLACED, '', open)).toEqual({ final: true, reason: 'replaced by a newer connection of this device' });
    expect(afterClose(CloseCode.SIGNED_OUT, 'bye', open)).toEqual({ final: true, reason: 'bye' });
  });

  it('sdk – a normal close stops, unless it follows a redirect, which is taken at once', () => {
    expect(afterClose(CloseCode.NORMAL, '', open)).toMatchObject({ final: true });
    expect(afterClose(CloseCode.NORMAL, '', { upgraded: true, redirected: true })).toEqual({ final: false, renewToken: false, immediate: true, minDelayMs: 0 });
  });

  it('sdk – a rate-limit close waits the long pause; a lost connection backs off as usual', () => {
    expect(afterClose(CloseCode.RATE_LIMITED, '', open)).toEqual({ final: false, renewToken: false, immediate: false, minDelayMs: DEFAULT_RATE_LIMITED_PAUSE_MS });
    expect(afterClose(CloseCode.ABNORMAL, '', open)).toEqual({ final: false, renewToken: false, immediate: false, minDelayMs: 0 });
  });

  it('sdk – a refused upgrade or an unauthorized close fetches a new token before the next attempt', () => {
    expect(afterClose(CloseCode.ABNORMAL, '', { upgraded: false, redirected: false })).toMatchObject({ final: false, renewToken: true });
    expect(afterClose(CloseCode.UNAUTHORIZED, '', open)).toMatchObject({ final: false, renewToken: true });
  });
});
