import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { NodeIdInUseError, type NodeStore } from '../storage/node-store.js';
import { LeaseCell, monotonicMs } from './lease-cell.js';
import { LeaseRenewer } from './lease-renewer.js';
import { LeaseWorker } from './lease-worker.js';
import type { Logger } from './logger.js';

export interface MembershipOptions {
  nodeId: string;
  /** This process's life as the node (a fresh one unless given): what its lease, and every row it marks as its own, name. */
  incarnation?: string;
  nodes: NodeStore;
  endpoints: string[];
  /** The actor kinds this process hosts, recorded with its registration (placement gives it shards of those only). */
  kinds?: readonly string[];
  heartbeatMs: number;
  leaseMs: number;
  log: Logger;
  /** Reported with every heartbeat (connections, actors, ...). */
  load?: () => Record<string, unknown>;
  /** The lease may have run out: stop serving everything now. */
  onLost: () => void;
  /** A renewal succeeded again after a loss. */
  onRegained: () => void;
  /**
   * Cut off from NATS for longer than this while another node reaches it, the node lets its lease run out (see
   * LeaseRenewer). 0 or unset: never. Only with `natsChanged` fed.
   */
  natsCutGraceMs?: number;
  /** The lease is being left to run out: this node alone is cut off from NATS, and `reachers` reach it. */
  onCutOff?: (reachers: string[]) => void;
  /** Another process took this node id over (this one was frozen past its lease): this process must stop for good. */
  onReplaced: (err: NodeIdInUseError) => void;
  /** How long the first registration may take before start fails with TIMEOUT (DEFAULT_REGISTER_TIMEOUT_MS). */
  registerTimeoutMs?: number;
  /**
   * Renew from a thread of its own, over its own connection to this database (what a node does). Without it the
   * renewals run on the main thread through `nodes`.
   */
  thread?: { databaseUrl: string; applicationName: string };
}

/**
 * The first registration's bound. It can only hang on a lock (a connection that cannot be made fails on its own
 * connect timeout): another process stuck mid-registration of the same id. A node that cannot join in this long
 * exits with the reason instead of sitting half-started with nothing in its log.
 */
export const DEFAULT_REGISTER_TIMEOUT_MS = 10_000;

/**
 * Keeps this node's lease in Postgres alive. The lease is judged by the monotonic clock from the moment a renewal
 * was SENT, minus one heartbeat of margin, so the node stops serving before the database (whose clock set
 * lease_until) can consider it dead — even after a freeze such as SIGSTOP. Renewals run in the lease thread; the
 * main thread only reads the shared cell, so it judges its lease rightly the moment it wakes from a long turn.
 */
export class Membership {
  private readonly cell = new LeaseCell();
  private lost = true;
  private watchdog?: NodeJS.Timeout;
  /** The renewals: in the lease thread (`opts.thread`), or on this thread. */
  private renewal?: { renew(): void; stop(): void | Promise<void> };
  private lossCount = 0;
  /** This process, as the holder of its node id (two processes must never serve as one node). */
  readonly incarnation: string;

  constructor(private readonly opts: MembershipOptions) {
    this.incarnation = opts.incarnation ?? randomUUID();
  }

  /**
   * A main thread silent this long is wedged: the lease thread stops renewing, and the node loses its lease after
   * another lease's time, as a dead one would. Turns of a few hundred ms under a connect storm are ridden out.
   */
  get stallMs(): number {
    return this.opts.leaseMs;
  }

  /**
   * Registers the node and starts heartbeating; throws if the database cannot be reached, or (NodeIdInUseError)
   * if another live process holds this node id. A process restarted right after a crash finds its predecessor's
   * lease still running: it waits that lease out once; a lease renewed meanwhile belongs to a live process.
   */
  async start(): Promise<void> {
    const { nodes, nodeId, endpoints, leaseMs, heartbeatMs, log } = this.opts;
    const natsCutGraceMs = this.opts.natsCutGraceMs ?? 0;
    const onCutOff = (reachers: string[]): void => this.opts.onCutOff?.(reachers);
    const kinds = this.opts.kinds && [...this.opts.kinds];
    const renewal = { nodeId, incarnation: this.incarnation, endpoints, heartbeatMs, leaseMs, stallMs: this.stallMs, natsCutGraceMs, ...(kinds && { kinds }), cell: this.cell, onCutOff };
    if (this.opts.thread) {
      const worker = new LeaseWorker({ ...renewal, ...this.opts.thread, load: this.opts.load, log, onReplaced: (left) => this.replaced(new NodeIdInUseError(nodeId, left)) });
      this.renewal = worker;
      await worker.start();
    } else {
      const warn = (fields: Record<string, unknown>, msg: string): void => log.warn(fields, msg);
      const renewer = new LeaseRenewer({ ...renewal, nodes, load: () => this.opts.load?.(), onReplaced: (err) => this.replaced(err), warn });
      this.renewal = { renew: () => renewer.start(), stop: () => renewer.stop() };
    }
    try {
      let sentAt = monotonicMs();
      for (let waited = false; ; waited = true) {
        try {
          const reg = await nodes.register(nodeId, endpoints, leaseMs, this.incarnation, this.opts.registerTimeoutMs ?? DEFAULT_REGISTER_TIMEOUT_MS, this.opts.kinds);
          if (reg.tookOver) log.info('took this node id over from a previous process; the epochs of its shards went up');
          if (reg.heldOut) log.warn('imctl drain took this node out of placement, and it stays out across restarts: `imctl undrain` puts it back');
          break;
        } catch (err) {
          if (!(err instanceof NodeIdInUseError) || waited) throw err;
          log.warn({ leaseLeftMs: err.leaseLeftMs }, 'this node id is held by a previous process: waiting for its lease to run out');
          await sleep(err.leaseLeftMs + 50);
          sentAt = monotonicMs();
        }
      }
      this.cell.extend(sentAt + leaseMs - heartbeatMs);
    } catch (err) {
      await this.stopHeartbeat();
      throw err;
    }
    this.lost = false;
    this.tick();
    this.watchdog = setInterval(() => this.tick(), Math.max(20, Math.floor(heartbeatMs / 3)));
    this.renewal?.renew();
  }

  /** Records the node's NATS connection going up or down: renewals report it, and a long cut may yield the lease. */
  natsChanged(up: boolean): void {
    this.cell.markNats(up, monotonicMs());
  }

  /** Times this node judged its lease lost (and let every shard go) since it started. */
  get losses(): number {
    return this.lossCount;
  }

  /** True while this node may serve: its lease is certainly still running. */
  isValid(): boolean {
    const ok = !this.cell.stopped && monotonicMs() < this.cell.validUntil();
    if (!ok) this.check();
    return ok;
  }

  /** Stops heartbeating and marks the node as left, so the coordinator moves its shards at once. */
  async leave(): Promise<void> {
    await this.stopHeartbeat();
    await this.opts.nodes.setState(this.opts.nodeId, 'left', this.incarnation).catch(() => undefined);
  }

  /** Stops heartbeating without telling anyone (the lease just runs out); no renewal goes out once this returns. */
  stopHeartbeat(): Promise<void> {
    this.cell.stop();
    if (this.watchdog) clearInterval(this.watchdog);
    return Promise.resolve(this.renewal?.stop());
  }

  private tick(): void {
    this.cell.markAlive(monotonicMs());
    this.check();
  }

  private replaced(err: NodeIdInUseError): void {
    void this.stopHeartbeat();
    if (!this.lost) {
      this.lost = true;
      this.opts.onLost();
    }
    this.opts.onReplaced(err);
  }

  /** The one place the lease is judged lost or regained, from the cell the renewals extend. */
  private check(): void {
    if (this.cell.stopped) return;
    const valid = monotonicMs() < this.cell.validUntil();
    if (valid === !this.lost) return;
    this.lost = !valid;
    if (this.lost) {
      this.lossCount++;
      this.opts.log.warn('lease may have expired: stopping to serve every shard');
      this.opts.onLost();
    } else {
      this.opts.log.info('lease regained');
      this.opts.onRegained();
    }
  }
}
