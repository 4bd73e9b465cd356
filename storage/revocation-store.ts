import { ErrorCode, ImError } from '../protocol/errors.js';
import { DEFAULT_TOKEN_LEEWAY_SEC } from '../protocol/limits.js';
import { checkId } from './ids.js';
import type { Sql } from './db.js';
import { bounded, DEFAULT_STATEMENT_TIMEOUT_MS } from './pg-errors.js';

/** Tokens of `uid` (of its device `did`, or of all its devices) issued at or before `beforeMs` are void. */
export interface Revocation {
  uid: string;
  did?: string;
  /** Milliseconds since the epoch: tokens carry `iat` with a millisecond fraction. */
  beforeMs: number;
}

/** Slack on top of token leeway before a revocation is forgotten: gateways' clocks may differ from the pruner's. */
export const REVOCATION_PRUNE_MARGIN_SEC = 3600;

/**
 * The `beforeMs` below which a revocation covers only expired tokens: a covered token has `iat` ≤ beforeMs and,
 * since gateways refuse lifetimes over `maxLifetimeSec`, `exp` ≤ beforeMs + maxLifetimeSec, accepted up to the leeway.
 */
export function revocationCutoffMs(nowMs: number, maxLifetimeSec: number): number {
  return nowMs - (maxLifetimeSec + DEFAULT_TOKEN_LEEWAY_SEC + REVOCATION_PRUNE_MARGIN_SEC) * 1000;
}

/** Marks every device at once: a revocation row with this `did` covers all of the user's devices. */
const ALL_DEVICES = '';

/**
 * Revoked tokens: for a user, or one device of theirs, the time (milliseconds) at or before which tokens were
 * issued that may no longer connect. Tokens are stateless, so this is the one way to end one before its `exp`.
 */
export class RevocationStore {
  constructor(
    private readonly sql: Sql,
    private readonly timeoutMs = DEFAULT_STATEMENT_TIMEOUT_MS,
  ) {}

  /** Refuses from now on the tokens of `uid` (of its device `did`, or of all its devices) issued at or before `beforeMs`. */
  async revoke(uid: string, did: string | undefined, beforeMs: number): Promise<void> {
    checkId(uid, 'uid');
    if (did !== undefined) checkId(did, 'did');
    if (!Number.isSafeInteger(beforeMs) || beforeMs < 0) throw new ImError(ErrorCode.INVALID_FIELD, 'beforeMs must be a non-negative integer');
    await bounded('revoke tokens', this.sql`
      INSERT INTO token_revocations (uid, did, before_ms) VALUES (${uid}, ${did ?? ALL_DEVICES}, ${beforeMs})
      ON CONFLICT (uid, did) DO UPDATE SET before_ms = GREATEST(token_revocations.before_ms, EXCLUDED.before_ms), revoked_at = now()`, this.timeoutMs);
  }

  /** Forgets the revocations with `beforeMs` below `cutoffMs` (see `revocationCutoffMs`); returns how many. */
  async prune(cutoffMs: number): Promise<number> {
    const rows = await bounded('prune token revocations', this.sql`
      DELETE FROM token_revocations WHERE before_ms < ${cutoffMs}`, this.timeoutMs);
    return rows.count;
  }

  /** Every revocation (`did` undefined: all of the user's devices), for a gateway's in-memory copy. */
  async all(): Promise<Revocation[]> {
    const rows = await bounded('read token revocations', this.sql<{ uid: string; did: string; before_ms: number }[]>`
      SELECT uid, did, before_ms FROM token_revocations`, this.timeoutMs);
    return rows.map((r) => (r.did === ALL_DEVICES ? { uid: r.uid, beforeMs: r.before_ms } : { uid: r.uid, did: r.did, beforeMs: r.before_ms }));
  }
}
