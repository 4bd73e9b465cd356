import type { NatsConnection, Subscription } from 'nats';
import { toImError } from '../../protocol/errors.js';
import { decodeTokensRevoked } from '../../protocol/control.js';
import { clusterRevocationsSubject } from '../../protocol/subjects.js';
import type { Logger } from '../../runtime/logger.js';
import { revocationCutoffMs, type Revocation, type RevocationStore } from '../../storage/revocation-store.js';

/** How often a gateway forgets expired revocations, in memory and in Postgres (every gateway; the DELETE is idempotent). */
export const REVOCATION_PRUNE_EVERY_MS = 10 * 60_000;

/** Pauses between tries of a catch-up read that failed (Postgres away too, as it often is in the same outage). */
export const REVOCATION_RETRY_BASE_MS = 1000;
export const REVOCATION_RETRY_CAP_MS = 30_000;

/** A `did` key standing for all of a user's devices. */
const ALL = '';

/**
 * A gateway's copy of the token revocations (Postgres holds them; a broadcast brings each new one), so that an
 * upgrade is checked without a round trip: a query per upgrade cost ~1.5 KB of resident memory per connection
 * in a 19,000-connection storm. Revocations are rare; users with none cost nothing here.
 */
export class RevocationCache {
  private readonly byUser = new Map<string, Map<string, number>>();

  /** Adds one revocation; a later `beforeMs` for the same target wins. True when it covers more than before. */
  apply(r: Revocation): boolean {
    let devices = this.byUser.get(r.uid);
    if (!devices) this.byUser.set(r.uid, (devices = new Map()));
    const key = r.did ?? ALL;
    const held = devices.get(key) ?? 0;
    if (r.beforeMs <= held) return false;
    devices.set(key, r.beforeMs);
    return true;
  }

  /** Whether a token of (uid, did) issued at `iatSec` (a JWT NumericDate: seconds, maybe with a fraction) is revoked. */
  covers(uid: string, did: string, iatSec: number): boolean {
    const devices = this.byUser.get(uid);
    if (!devices) return false;
    const before = Math.max(devices.get(ALL) ?? 0, devices.get(did) ?? 0);
    // Rounded: 1800000000.123 * 1000 is 1800000000122.9998 in binary floating point.
    return before > 0 && Math.round(iatSec * 1000) <= before;
  }

  /** Forgets revocations with `beforeMs` below `cutoffMs`: every token they cover has expired. */
  prune(cutoffMs: number): void {
    this.byUser.forEach((devices, uid) => {
      devices.forEach((before, did) => {
        if (before < cutoffMs) devices.delete(did);
      });
      if (devices.size === 0) this.byUser.delete(uid);
    });
  }

  /** Users with at least one revocation held. */
  get users(): number {
    return this.byUser.size;
  }
}

/** Keeps a RevocationCache current: loaded from Postgres, then fed by the broadcast; `onRevoked` hears each new one. */
export class RevocationFeed {
  readonly cache = new RevocationCache();
  private sub: Subscription | undefined;
  private pruneTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  /** The latest catch-up: an older one whose read fails leaves the retrying to it. */
  private catchUps = 0;
  private closed = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly store: RevocationStore,
    private readonly onRevoked: (r: Revocation) => void,
    /** The cluster's current `max-token-lifetime` (a setting that can change while the gateway runs). */
    private readonly maxTokenLifetimeSec: () => number,
    private readonly log: Logger,
  ) {}

  /** Subscribes first, then loads, so a revocation made meanwhile is not missed. */
  async start(): Promise<void> {
    this.sub = this.nc.subscribe(clusterRevocationsSubject(), {
      callback: (err, msg) => {
        if (err) return;
        const r = decodeTokensRevoked(msg.data);
        if (!r.ok) return this.log.warn({ err: r.error.message }, 'ignored a malformed tokens-revoked notification');
        const { type: _type, ...revocation } = r.value;
        this.cache.apply(revocation);
        this.onRevoked(revocation);
      },
    });
    await this.reload();
    this.pruneTimer = setInterval(() => void this.prune(), REVOCATION_PRUNE_EVERY_MS).unref();
  }

  /** Forgets the revocations that cover only expired tokens, here and in Postgres. */
  async prune(nowMs: number = Date.now()): Promise<void> {
    const cutoff = this.pruneMemory(nowMs);
    try {
      const n = await this.store.prune(cutoff);
      if (n > 0) this.log.info({ pruned: n }, 'forgot token revocations whose tokens have all expired');
    } catch (err) {
      this.log.warn({ err: toImError(err).message }, 'could not prune token revocations; will try again');
    }
  }

  /**
   * Reads every revocation again (after the NATS connection came back, broadcasts may have been lost): `onRevoked`
   * hears each one that covers more than what was held, so sessions it covers close as if the broadcast had come.
   */
  async reload(): Promise<void> {
    const all = await this.store.all();
    const cutoff = this.pruneMemory(Date.now());
    for (const r of all) if (r.beforeMs >= cutoff && this.cache.apply(r)) this.onRevoked(r);
  }

  /** Forgets in memory what covers only expired tokens at `nowMs`; returns the cutoff used. */
  private pruneMemory(nowMs: number): number {
    const cutoff = revocationCutoffMs(nowMs, this.maxTokenLifetimeSec());
    this.cache.prune(cutoff);
    return cutoff;
  }

  /**
   * Reads every revocation again after broadcasts may have been lost (NATS came back), trying again with backoff until
   * a read succeeds: one failed read, with Postgres away in the same outage, left revoked tokens accepted at upgrade
   * on this gateway for as long as they lived. A newer catch-up replaces one still trying.
   */
  catchUp(retryBaseMs = REVOCATION_RETRY_BASE_MS, attempt = 0): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    if (this.closed) return;
    const gen = ++this.catchUps;
    this.reload().catch((err: unknown) => {
      if (this.closed || gen !== this.catchUps) return;
      const inMs = Math.min(REVOCATION_RETRY_CAP_MS, retryBaseMs * 2 ** attempt);
      this.log.warn({ err: toImError(err).message, inMs }, 'could not re-read token revocations; trying again');
      this.retryTimer = setTimeout(() => this.catchUp(retryBaseMs, attempt + 1), inMs);
      this.retryTimer.unref();
    });
  }

  /** Stops following the broadcast. */
  close(): void {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    clearInterval(this.pruneTimer);
    this.sub?.unsubscribe();
  }
}
