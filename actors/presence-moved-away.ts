import { toImError } from '../protocol/errors.js';
import type { Logger } from '../runtime/logger.js';
import type { LostUser, PresenceStore } from '../storage/presence-store.js';
import { DEFAULT_PRESENCE_GRACE_MS, tellLost } from './presence-sweep.js';

/** Rows read per statement while a node pages through the users it announced online. */
const PAGE = 1_000;
/** Rounds a shard's users are told again after a call failed (no owner yet, a timeout) before they are left alone. */
const MAX_ROUNDS = 3;

export interface MovedAwayPresenceOptions {
  store: PresenceStore;
  /** This node's presence life (presenceLife): the rows it announced. */
  life: string;
  /** The connector shard of a user. */
  shardOf: (uid: string) => number;
  /** Tells the user's connector (wherever it lives now) that `life` announced them online and no longer holds them. */
  lost: (user: LostUser, life: string) => Promise<unknown>;
  log: Logger;
  graceMs?: number;
}

/**
 * Takes offline the users this node announced online whose connector shard it let go, when nobody took them over.
 * A user's last session closing while their connector moves sends its DETACH to nobody: the old owner has let the
 * shard go and the new one never heard of the user, so their row stayed online, for their peers and the business
 * server, until they came back or this node died. After the grace, in which their sessions attach to the new owner
 * (which announces them online as its own, moving the row), the rows still on this node's life for those shards are
 * handed to the new owner's connector as a dead life's are (presenceLost: it adopts the row if a device is back,
 * else announces the user offline).
 */
export class MovedAwayPresence {
  /** Connector shards let go since the last round began, and the round each is in (1 for the first). */
  private readonly pending = new Map<number, number>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly opts: MovedAwayPresenceOptions) {}

  /** This node let connector shard `shard` go for good. */
  released(shard: number): void {
    if (this.closed) return;
    this.pending.set(shard, 1);
    this.schedule();
  }

  /** Stops: a round under way ends at its next step. */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Resolves when no round is waiting or running (tests). */
  async settled(): Promise<void> {
    while (this.timer !== undefined || this.running !== undefined) await (this.running ?? new Promise((r) => setTimeout(r, 50)));
  }

  private schedule(): void {
    if (this.timer !== undefined || this.running !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.round().finally(() => {
        this.running = undefined;
        if (this.pending.size > 0 && !this.closed) this.schedule();
      });
    }, this.opts.graceMs ?? DEFAULT_PRESENCE_GRACE_MS);
    this.timer.unref();
  }

  /** Tells the connectors of this life's users in the shards let go; a shard with a failed call comes round again. */
  private async round(): Promise<void> {
    const rounds = new Map(this.pending);
    this.pending.clear();
    const { store, life, shardOf, lost, log } = this.opts;
    let told = 0;
    const failedShards = new Set<number>();
    try {
      for (let after = ''; !this.closed; ) {
        const page = await store.announcedBy(life, after, PAGE);
        const r = await tellLost(page.filter((u) => rounds.has(shardOf(u.uid))), life, lost, () => this.closed);
        told += r.told;
        for (const u of r.failed) failedShards.add(shardOf(u.uid));
        if (page.length < PAGE) break;
        after = page.at(-1)!.uid;
      }
    } catch (err) {
      // The read failed part-way: every shard of the round comes round again.
      for (const shard of rounds.keys()) failedShards.add(shard);
      log.warn({ err: toImError(err).message }, 'could not read the users this node announced online');
    }
    for (const shard of failedShards) {
      const n = rounds.get(shard)!;
      // A shard let go again meanwhile starts over at round 1.
      if (n < MAX_ROUNDS && !this.pending.has(shard)) this.pending.set(shard, n + 1);
    }
    const gaveUp = [...failedShards].filter((s) => rounds.get(s)! >= MAX_ROUNDS && !this.pending.has(s));
    if (told > 0 || failedShards.size > 0) log.info({ shards: rounds.size, told, failedShards: failedShards.size, gaveUp: gaveUp.length }, 'the connectors of users whose connector shard moved away were told');
  }
}
