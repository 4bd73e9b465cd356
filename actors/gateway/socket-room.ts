import { CloseCode } from '../../protocol/close-codes.js';
import type { Session } from './session.js';

/** How often a session's socket is looked at while it holds too much to take more. */
export const DRAIN_POLL_MS = 20;
/** How long a reader may take to make room before its session is closed as a slow one. */
export const DRAIN_WAIT_MS = 30_000;

/** How a wait for room ended: room made, the session gone (or not wanted any more), or past its time. */
export type Room = 'ready' | 'gone' | 'late';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Whether `bytes` more fit in `budget` beside what `s` holds unsent (or it holds nothing: anything goes, alone). */
export function hasRoom(s: Session, bytes: number, budget: number): boolean {
  const unsent = s.unsent();
  return unsent === 0 || unsent + bytes <= budget;
}

/**
 * Waits until `s` holds (queued or in uWS, unsent) so little that `bytes` more stay within `budget` (hasRoom); at
 * once when they do. Big answers asked for together (a client pulling eight conversations at once, each page up to
 * 512 KiB) so go one after another as the reader takes them, rather than all at once past the slow-reader limit,
 * which closes the session (4013) on a link slower than the gateway. Past `maxWaitMs` it is 'late', and with
 * `closeWhenLate` the session is closed as a slow reader.
 */
export async function roomFor(
  s: Session,
  bytes: number,
  budget: number,
  opts: { wanted?: () => boolean; maxWaitMs?: number; closeWhenLate?: boolean } = {},
): Promise<Room> {
  const wanted = opts.wanted ?? (() => s.state === 'open');
  const maxWaitMs = opts.maxWaitMs ?? DRAIN_WAIT_MS;
  for (let waited = 0; !hasRoom(s, bytes, budget); waited += DRAIN_POLL_MS) {
    if (waited >= maxWaitMs) {
      if (opts.closeWhenLate !== false) s.end(CloseCode.SLOW_CONSUMER, 'too slow to read');
      return 'late';
    }
    await sleep(DRAIN_POLL_MS);
    if (!wanted()) return 'gone';
  }
  return wanted() ? 'ready' : 'gone';
}
