import { CloseCode } from '../../protocol/close-codes.js';
import type { Session } from './session.js';

/** How often a session's socket is looked at while it holds too much to take more. */
export const DRAIN_POLL_MS = 20;
/** How long a reader may take to make room before its session is closed as a slow one. */
export const DRAIN_WAIT_MS = 30_000;

/** How a wait for room ended: room made, the session gone (or not wanted any more), or past its time. */
export type Room = 'ready' | 'gone' | 'late';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Waits until `s` holds (queued or in uWS, unsent) so little that `bytes` more stay within half of the slow-reader
 * `limit`; at once when they do, or when it holds nothing (a page bigger than that half still goes, alone). Big
 * answers asked for together (a client pulling eight conversations at once, each page up to 512 KiB) so go one after
 * another as the reader takes them, rather than all at once past the limit, which closes the session (4013) on a link
 * slower than the gateway. Past `maxWaitMs` it is 'late', and with `closeWhenLate` the session is closed as a slow
 * reader.
 */
export async function roomFor(
  s: Session,
  bytes: number,
  limit: number,
  opts: { wanted?: () => boolean; maxWaitMs?: number; closeWhenLate?: boolean } = {},
): Promise<Room> {
  const wanted = opts.wanted ?? (() => s.state === 'open');
  const maxWaitMs = opts.maxWaitMs ?? DRAIN_WAIT_MS;
  const half = limit / 2;
  for (let waited = 0; s.unsent() > 0 && s.unsent() + bytes > half; waited += DRAIN_POLL_MS) {
    if (waited >= maxWaitMs) {
      if (opts.closeWhenLate !== false) s.end(CloseCode.SLOW_CONSUMER, 'too slow to read');
      return 'late';
    }
    await sleep(DRAIN_POLL_MS);
    if (!wanted()) return 'gone';
  }
  return wanted() ? 'ready' : 'gone';
}
