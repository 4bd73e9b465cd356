import { CloseCode } from '../../protocol/close-codes.js';
import type { RedirectReason } from '../../protocol/frames.js';
import type { Session } from './session.js';

/** Sessions redirected per step, and the pause between steps: their reconnects arrive spread out. */
const REDIRECT_BATCH = 500;
const REDIRECT_STEP_MS = 50;

/**
 * Sends each of `sessions` a `redirect` to `endpoints` and closes it (4011), in spread-out batches; with no endpoint
 * to name, closes them with 1001 instead.
 */
export async function redirectSessions(sessions: readonly Session[], endpoints: string[], reason: RedirectReason, why: string): Promise<void> {
  for (let i = 0; i < sessions.length; i += REDIRECT_BATCH) {
    for (const s of sessions.slice(i, i + REDIRECT_BATCH)) {
      if (endpoints.length > 0) s.queue({ type: 'redirect', endpoints, reason });
      s.end(endpoints.length > 0 ? CloseCode.REDIRECT : CloseCode.GOING_AWAY, why);
    }
    await new Promise((r) => setTimeout(r, REDIRECT_STEP_MS));
  }
}
