import type { NatsConnection, Subscription } from 'nats';
import { CloseCode } from '../../protocol/close-codes.js';
import { decodeSessionsSignedOut, type SessionsSignedOut } from '../../protocol/control.js';
import { clusterSignOutsSubject } from '../../protocol/subjects.js';
import type { Logger } from '../../runtime/logger.js';
import type { Session } from './session.js';

/**
 * Closes the sessions a server-API sign-out names (SessionsSignedOut), wherever they are: the user's connector
 * closes those it knows, but one whose shard just moved knows none until the gateways attach them again, and
 * answered that no device was online while the device stayed signed in.
 */
export class SignOutFeed {
  private sub: Subscription | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly sessions: () => Iterable<Session>,
    private readonly log: Logger,
  ) {}

  /** Follows the broadcast. */
  start(): void {
    this.sub = this.nc.subscribe(clusterSignOutsSubject(), {
      callback: (err, msg) => {
        if (err) return;
        const r = decodeSessionsSignedOut(msg.data);
        if (!r.ok) return this.log.warn({ err: r.error.message }, 'ignored a malformed signed-out notification');
        this.apply(r.value);
      },
    });
  }

  /** Closes with 4014 the sessions `s` names that this gateway holds now. */
  apply(s: SessionsSignedOut): void {
    for (const x of this.sessions()) {
      if (x.uid === s.uid && (s.did === undefined || x.did === s.did)) x.end(CloseCode.SIGNED_OUT, s.reason ?? 'signed out');
    }
  }

  /** Stops following it. */
  close(): void {
    this.sub?.unsubscribe();
  }
}
