import { toImError } from '../protocol/errors.js';
import type { Logger } from '../runtime/logger.js';
import type { LostUser, PresenceStore } from '../storage/presence-store.js';
import type { GatewayLife } from './gateway-watch.js';

/** How often a node looks for presence rows of node lives that ended (a sweep that died half-way, a missed death). */
export const DEFAULT_PRESENCE_SWEEP_MS = 15_000;
/**
 * How long a user of a dead node life may take to come back through another node before they are announced offline:
 * their devices on other gateways attach again to the connector's new owner about when the death is seen.
 */
export const DEFAULT_PRESENCE_GRACE_MS = 5_000;
/** A claim older than this is taken for a sweeping node that died: another node sweeps those rows again. */
export const PRESENCE_CLAIM_MS = 30_000;
/**
 * Longest wait for the dead node's connector shards to have new owners before the grace starts (a node restarted
 * under the same id may own them again: then they never leave it).
 */
export const PRESENCE_SETTLE_MAX_MS = 15_000;
const SETTLE_POLL_MS = 500;
/** Rows claimed per statement. */
const CLAIM_CHUNK = 1_000;
/**
 * Connectors told at once: each reads the user's row, privacy and direct peers, while the dead node's users attach
 * again elsewhere through the same pools.
 */
const TELL_CONCURRENCY = 50;

/**
 * Tells the connectors of `users` that `life`, which announced them online, holds them no more: TELL_CONCURRENCY
 * calls at a time, until `stopped`. How many were told, and those whose call failed.
 */
export async function tellLost(users: readonly LostUser[], life: string, lost: (user: LostUser, life: string) => Promise<unknown>, stopped: () => boolean): Promise<{ told: number; failed: LostUser[] }> {
  let told = 0;
  const failed: LostUser[] = [];
  for (let i = 0; i < users.length && !stopped(); i += TELL_CONCURRENCY) {
    const part = users.slice(i, i + TELL_CONCURRENCY);
    (await Promise.allSettled(part.map((u) => lost(u, life)))).forEach((r, j) => (r.status === 'fulfilled' ? told++ : failed.push(part[j]!)));
  }
  return { told, failed };
}

/** The key presence rows name a node life by. */
export function presenceLife(nodeId: string, incarnation: string): string {
  return `${nodeId} ${incarnation}`;
}

/** The node id of a presenceLife key. */
function nodeIdOf(life: string): string {
  return life.slice(0, life.lastIndexOf(' '));
}

export interface PresenceSweepOptions {
  store: PresenceStore;
  /** The node lives whose lease runs now. */
  live: () => Promise<GatewayLife[]>;
  /** Whether node `nodeId` still owns connector shards (the shard map): its users' sessions attach elsewhere only after. */
  ownsConnectorShards: (nodeId: string) => Promise<boolean>;
  /** Tells the user's connector (wherever it lives now) that `life`, which announced them online, ended. */
  lost: (user: LostUser, life: string) => Promise<unknown>;
  log: Logger;
  intervalMs?: number;
  graceMs?: number;
}

/**
 * Takes offline the users a dead node had announced online. Their connector lived on that node, so nobody was left
 * to announce their last device leaving: without this, their peers and the business server saw them online until
 * they came back. Every node with connectors sweeps when it sees a life end, and every DEFAULT_PRESENCE_SWEEP_MS
 * for lives that ended unseen; claims in Postgres keep two nodes from telling the same users at once. The sweep
 * deletes nothing: the connector takes the row as it announces (or moves it to its own life), so a sweep that
 * dies half-way, or a call that fails, leaves the row for the next one, once the claim has lapsed.
 */
export class PresenceSweep {
  private timer: NodeJS.Timeout | undefined;
  /** Lives being swept by this node now. */
  private readonly sweeping = new Set<string>();
  private closed = false;
  private readonly waits = new Set<() => void>();

  constructor(private readonly opts: PresenceSweepOptions) {}

  /** Sweeps every interval from now on. */
  start(): void {
    this.timer = setInterval(() => void this.sweepEnded(), this.opts.intervalMs ?? DEFAULT_PRESENCE_SWEEP_MS);
    this.timer.unref();
  }

  /** A node life was seen to end: sweeps its users now. */
  gone(life: GatewayLife): void {
    void this.sweep(presenceLife(life.nodeId, life.incarnation));
  }

  /** Sweeps the lives that announced someone online and hold no lease now. */
  async sweepEnded(): Promise<void> {
    try {
      const [lives, live] = await Promise.all([this.opts.store.lives(), this.opts.live()]);
      const alive = new Set(live.map((l) => presenceLife(l.nodeId, l.incarnation)));
      await Promise.all(lives.filter((l) => !alive.has(l)).map((l) => this.sweep(l)));
    } catch (err) {
      this.opts.log.warn({ err: toImError(err).message }, 'could not look for the users of ended node lives');
    }
  }

  /** Stops sweeping; a sweep waiting out its grace ends there (its claims lapse, and another node takes them). */
  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    for (const wake of this.waits) wake();
  }

  /** Claims the life's users, gives them the grace to come back elsewhere, then has the rest announced offline. */
  private async sweep(life: string): Promise<void> {
    if (this.closed || this.sweeping.has(life)) return;
    this.sweeping.add(life);
    try {
      const claimed: string[] = [];
      // Bounded: a life that still announces (a node taken for dead that runs again) cannot keep the loop going.
      for (let n = 0; n < 1_000; n++) {
        const part = await this.opts.store.claim(life, CLAIM_CHUNK, PRESENCE_CLAIM_MS);
        claimed.push(...part);
        if (part.length < CLAIM_CHUNK || this.closed) break;
      }
      if (claimed.length === 0) return;
      // The grace counts from when the user's connector can be found elsewhere: before, no device could be back.
      const nodeId = nodeIdOf(life);
      for (let waited = 0; waited < PRESENCE_SETTLE_MAX_MS && !this.closed && (await this.opts.ownsConnectorShards(nodeId)); waited += SETTLE_POLL_MS) await this.wait(SETTLE_POLL_MS);
      await this.wait(this.opts.graceMs ?? DEFAULT_PRESENCE_GRACE_MS);
      if (this.closed) return;
      let told = 0;
      let failed = 0;
      for (let i = 0; i < claimed.length && !this.closed; i += CLAIM_CHUNK) {
        const lost = await this.opts.store.stillOn(life, claimed.slice(i, i + CLAIM_CHUNK));
        const r = await tellLost(lost, life, this.opts.lost, () => this.closed);
        told += r.told;
        failed += r.failed.length;
      }
      // A failed call's row stays, claimed: the next sweep after the claim lapses tells that connector again.
      this.opts.log.info({ life, claimed: claimed.length, told, failed }, 'the connectors of an ended node life\'s users were told');
    } catch (err) {
      // The claims lapse: the next sweep (this node's or another's) takes the rows again.
      this.opts.log.warn({ life, err: toImError(err).message }, 'could not sweep the users of an ended node life');
    } finally {
      this.sweeping.delete(life);
    }
  }

  private wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(t);
        this.waits.delete(wake);
        resolve();
      };
      const t = setTimeout(wake, ms);
      this.waits.add(wake);
    });
  }
}
