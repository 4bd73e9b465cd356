import { RedirectReason } from '../../protocol/frames.js';
import { redirectSessions } from './redirect-sessions.js';
import type { Session } from './session.js';

/** How often a node cut off from NATS looks again for another gateway to send its clients to, when it knew none. */
export const MOVE_AWAY_RETRY_MS = 2000;

export interface MoveAwayDeps {
  /** The sessions the gateway holds now. */
  sessions: () => Session[];
  /** Other gateways' endpoints, best first (the directory's view, refreshed from Postgres). */
  otherEndpoints: () => string[];
  /** Whether the node's NATS connection is up. */
  natsConnected: () => boolean;
  retryMs?: number;
}

/**
 * Moves a gateway's clients to other gateways when its node is cut off from NATS alone (its sessions reach nothing
 * here). When the directory names no other gateway at that moment (its reads failing, or the others not yet
 * reported), it looks again every couple of seconds for as long as the cut lasts: once was not enough, and the
 * sessions stayed on the cut node, getting nothing, until NATS came back.
 */
export class MoveAway {
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly deps: MoveAwayDeps) {}

  /** Redirects every session now, or keeps looking for somewhere to send them; stops once NATS is back. */
  async start(): Promise<void> {
    this.stopTimer();
    // Back on NATS meanwhile (the lease thread judged a moment ago): stay.
    if (this.closed || this.deps.natsConnected()) return;
    const endpoints = this.deps.otherEndpoints();
    if (endpoints.length > 0) {
      await redirectSessions(this.deps.sessions(), endpoints, RedirectReason.MOVED, 'node cut off from NATS');
      return;
    }
    this.timer = setTimeout(() => void this.start(), this.deps.retryMs ?? MOVE_AWAY_RETRY_MS);
    this.timer.unref();
  }

  /** Stops looking. */
  close(): void {
    this.closed = true;
    this.stopTimer();
  }

  private stopTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
