import { CloseCode } from '../../protocol/close-codes.js';
import { ErrorCode, ImError } from '../../protocol/errors.js';
import type { ServerFrame } from '../../protocol/frames.js';
import { errorFrame } from './client-frames.js';
import type { Session } from './session.js';

/** The rate-limit settings a gateway admits frames by. */
export interface RateRules {
  ratePerSec: number;
  rateCloseAfterSec: number;
}

/**
 * Whether a frame (or a WebSocket PING) just heard is past the session's rate limit. If so it is dropped, which the
 * client is told once a second at most, and a session over the limit for longer than `rateCloseAfterSec` is closed (4008).
 */
export function overRate(s: Session, now: number, rules: RateRules, send: (s: Session, f: ServerFrame) => void): boolean {
  if (s.limiter.take(now)) return false;
  if (now - s.limiter.overSince > rules.rateCloseAfterSec * 1000) {
    send(s, errorFrame(new ImError(ErrorCode.RATE_LIMITED, 'over the rate limit for too long')));
    s.end(CloseCode.RATE_LIMITED, 'rate limit');
  } else if (now - s.lastRateError >= 1000) {
    s.lastRateError = now;
    send(s, errorFrame(new ImError(ErrorCode.RATE_LIMITED, `more than ${rules.ratePerSec} frames/s: frames are being dropped`)));
  }
  return true;
}
