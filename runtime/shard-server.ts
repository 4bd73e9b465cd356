import { ErrorCode, ImError } from '../protocol/errors.js';
import { shardOf } from '../protocol/shard-hash.js';
import { shardSubject } from '../protocol/subjects.js';
import type { ShardRow } from '../storage/shard-map-store.js';
import type { Fence } from '../storage/types.js';
import type { ActorHost } from './actor-host.js';
import type { Logger } from './logger.js';
import { NotServedError } from './transport/not-served.js';
import type { ServeHandle, Transport } from './transport/transport.js';

interface Served {
  kind: string;
  shard: number;
  epoch: number;
  /** One fence object per served shard, shared by its actors (not one per message or per actor). */
  fence: Fence;
  /** Order of this acquisition among the node's acquisitions (see `readMark`). */
  acquisition: number;
  handle: ServeHandle;
  since: number;
}

export interface ShardServerOptions {
  nodeId: string;
  transport: Transport;
  host: ActorHost;
  shardCounts: ReadonlyMap<string, number>;
  log: Logger;
  /** False once this node may have lost its lease: it must not serve anything then. */
  leaseValid: () => boolean;
  /** This node just started serving (kind, shard): what was sent there while nobody served it is gone. */
  onServing?: (kind: string, shard: number, epoch: number) => void;
  /** This node let (kind, shard) go for good (a handoff, a fence, the map naming another owner): its actors are gone. */
  onReleased?: (kind: string, shard: number) => void;
}

const id = (kind: string, shard: number): string => `${kind}/${shard}`;

/**
 * The shards this node serves: one subscription per owned shard subject. Only the owner subscribes,
 * so a shard between owners answers "no responders" and callers retry.
 */
export class ShardServer {
  /** Closing: no shard is taken any more (see stop). */
  private stopped = false;
  private readonly served = new Map<string, Served>();
  /** The same, by kind then shard number: what every message looks up, without building a key string. */
  private readonly byShard = new Map<string, (Served | undefined)[]>();
  /** Epochs this node already let go of: it never serves a shard again at an epoch it released. */
  private readonly releasedEpoch = new Map<string, number>();
  private readonly releasing = new Map<string, Promise<void>>();
  /**
   * Shards let go precautionarily (lease unsure), by the epoch they were served at, until a map read after the lease
   * came back says whether they are still this node's: if not, they are let go for good (onReleased) then. Not
   * served, such a shard's only release under way (`releasing`) is that precautionary one.
   */
  private readonly doubted = new Map<string, { kind: string; shard: number; epoch: number }>();
  private acquisitions = 0;

  constructor(private readonly opts: ShardServerOptions) {}

  /** What this node serves now. */
  list(): { kind: string; shard: number; epoch: number; since: number }[] {
    return [...this.served.values()].map(({ kind, shard, epoch, since }) => ({ kind, shard, epoch, since }));
  }

  /** Epoch at which this node serves (kind, shard), if it does. */
  epochOf(kind: string, shard: number): number | undefined {
    return this.served.get(id(kind, shard))?.epoch;
  }

  /** A mark to take before reading the shard map for `reconcile`: what is acquired after it, the read cannot judge. */
  readMark(): number {
    return this.acquisitions;
  }

  /**
   * Makes the served set match the shard map rows this node owns; others are released. `mark` (from `readMark`,
   * taken before the map was read) keeps shards acquired meanwhile: a read that began before a move's acquire
   * arrived says "not yours" about a shard that is ours now, and a final release on its word would leave the
   * shard served by nobody at an epoch the map gives to this node (seen in a benchmark after a startup rebalance).
   */
  async reconcile(owned: ShardRow[], mark = Number.POSITIVE_INFINITY): Promise<void> {
    const want = new Map<string, ShardRow>();
    for (const r of owned) {
      if (r.owner === this.opts.nodeId && (r.state === 'active' || r.state === 'moving') && this.opts.host.hosts(r.kind)) want.set(id(r.kind, r.shard), r);
    }
    const work: Promise<unknown>[] = [];
    for (const [k, s] of this.served) if (!want.has(k) && s.acquisition <= mark) work.push(this.release(s.kind, s.shard, 'not owner any more'));
    for (const [k, r] of want) {
      // Most rounds (one per heartbeat) change nothing: no promise for a shard already served at its epoch.
      if (this.served.get(k)?.epoch !== r.epoch) work.push(this.acquire(r.kind, r.shard, r.epoch));
    }
    if (work.length > 0) await Promise.all(work);
    this.settleDoubts(want);
  }

  /**
   * Shards let go while the lease was unsure that the map no longer gives this node at their epoch went to another
   * node meanwhile (the coordinator took this one for dead): let go for good, which nothing else would tell.
   */
  private settleDoubts(want: Map<string, ShardRow>): void {
    for (const [k, d] of this.doubted) {
      if (this.releasing.has(k) || want.get(k)?.epoch === d.epoch) continue;
      this.doubted.delete(k);
      this.letGo(d.kind, d.shard);
    }
  }

  /** Starts serving (kind, shard) at `epoch`; a no-op when already serving it at that epoch or when it was released at that epoch. */
  async acquire(kind: string, shard: number, epoch: number): Promise<boolean> {
    const k = id(kind, shard);
    if (this.stopped || (this.releasedEpoch.get(k) ?? -1) >= epoch) return false;
    if (!this.opts.leaseValid()) return false;
    const cur = this.served.get(k);
    if (cur && cur.epoch === epoch) return true;
    // A stale read of the map may name an epoch this node has already moved past: never go back to it.
    if (cur && cur.epoch > epoch) return false;
    if (cur) await this.release(kind, shard, 'epoch changed');
    await this.releasing.get(k);
    // The node may have begun closing, or lost its lease, while the release ran: as at the start, nothing is taken then.
    if (this.stopped || !this.opts.leaseValid()) return false;
    if (this.served.has(k)) return this.served.get(k)!.epoch === epoch;
    // A handoff's release may have come while this waited: that epoch is over.
    if ((this.releasedEpoch.get(k) ?? -1) >= epoch) return false;
    const handle = this.opts.transport.serve(
      shardSubject(kind, shard),
      (call) => this.handle(kind, shard, call),
      (tell) => this.tell(kind, shard, tell),
    );
    const s: Served = { kind, shard, epoch, fence: { kind, shard, epoch }, handle, since: Date.now(), acquisition: ++this.acquisitions };
    this.served.set(k, s);
    // Served again: whatever it was doubted at, this node holds it now.
    this.doubted.delete(k);
    let ofKind = this.byShard.get(kind);
    if (!ofKind) this.byShard.set(kind, (ofKind = []));
    ofKind[shard] = s;
    this.opts.log.info({ kind, shard, epoch }, 'serving shard');
    this.opts.onServing?.(kind, shard, epoch);
    return true;
  }

  /**
   * Stops intake for (kind, shard), lets accepted calls finish, deactivates its actors. Idempotent.
   * `final` (handoff, fencing, lost ownership) means this node never serves that epoch again; a precautionary
   * release (the lease MAY have run out) is not final: if the shard map still names this node at that epoch
   * once the lease is renewed, nobody else took it and serving it again is safe. `epoch` (a handoff's) is over for
   * good even when this node does not serve the shard now: a map read from before the move may be about to start it;
   * a later epoch this node serves is left alone (the shard came back to it since).
   */
  release(kind: string, shard: number, reason: string, final = true, epoch?: number): Promise<void> {
    const k = id(kind, shard);
    if (epoch !== undefined) this.releasedEpoch.set(k, Math.max(this.releasedEpoch.get(k) ?? -1, epoch));
    const s = this.served.get(k);
    if (!s || (epoch !== undefined && s.epoch > epoch)) {
      const running = this.releasing.get(k);
      // A handoff during or after a precautionary release (lease unsure): the shard is gone for good after all, which
      // that release does not tell (the users whose last session closed meanwhile would stay online). Told once it ends.
      if (!s && final && this.doubted.delete(k)) {
        if (running) return running.then(() => this.letGo(kind, shard));
        this.letGo(kind, shard);
      }
      return running ?? Promise.resolve();
    }
    this.served.delete(k);
    const ofKind = this.byShard.get(kind);
    if (ofKind?.[shard] === s) ofKind[shard] = undefined;
    if (final) this.releasedEpoch.set(k, Math.max(this.releasedEpoch.get(k) ?? -1, s.epoch));
    else this.doubted.set(k, { kind, shard, epoch: s.epoch });
    const p = (async () => {
      try {
        await s.handle.stop();
        await this.opts.host.deactivateShard(kind, shard, 'shard-released');
        this.opts.log.info({ kind, shard, epoch: s.epoch, reason }, 'released shard');
        if (final) this.letGo(kind, shard);
      } finally {
        this.releasing.delete(k);
      }
    })();
    this.releasing.set(k, p);
    return p;
  }

  /** Tells that (kind, shard) is let go for good, unless the node is closing or serves it again already. */
  private letGo(kind: string, shard: number): void {
    if (!this.stopped && !this.served.has(id(kind, shard))) this.opts.onReleased?.(kind, shard);
  }

  /** Releases every shard (lease lost: not final; node closing: final). */
  async releaseAll(reason: string, final = true): Promise<void> {
    await Promise.all([...this.served.values()].map((s) => this.release(s.kind, s.shard, reason, final)));
  }

  /**
   * The node is closing: every shard is released for good and none is taken from now on. A move begun before may
   * still ask this node to take one; refused, its mover hands the shard back, where taken it would answer every call
   * with `closed` (not "not served", which callers retry elsewhere) until the node left.
   */
  async stop(reason: string): Promise<void> {
    this.stopped = true;
    await this.releaseAll(reason);
  }

  private handle(kind: string, shard: number, call: { kind: string; key: string; op: string; payload: unknown; deadline: number }): Promise<unknown> {
    const s = this.admit(kind, shard, call);
    if (s instanceof ImError) return Promise.reject(s);
    return this.opts.host.dispatch(kind, call.key, s.fence, call.op, call.payload, call.deadline);
  }

  /** A tell: checked like a call, then handed over without a promise (nobody waits for it). */
  private tell(kind: string, shard: number, t: { kind: string; key: string; op: string; payload: unknown }): void {
    const s = this.admit(kind, shard, t);
    if (s instanceof ImError) this.opts.log.debug({ kind: t.kind, key: t.key, shard, err: s.message }, 'tell dropped');
    else this.opts.host.tell(kind, t.key, s.fence, t.op, t.payload);
  }

  /** The served shard an operation for (kind, key) may run under, or why it may not run here now. */
  private admit(kind: string, shard: number, op: { kind: string; key: string }): Served | ImError {
    const s = this.byShard.get(kind)?.[shard];
    if (!s || !this.opts.leaseValid()) return new NotServedError(`node ${this.opts.nodeId} does not serve ${kind}/${shard} now`);
    if (op.kind !== kind || shardOf(op.key, this.opts.shardCounts.get(kind) ?? 0) !== shard) {
      return new ImError(ErrorCode.INVALID_FIELD, `${op.kind}/${op.key} does not belong to shard ${kind}/${shard}`);
    }
    return s;
  }
}
