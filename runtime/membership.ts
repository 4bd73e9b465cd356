import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { toImError } from '../protocol/errors.js';
import { NodeIdInUseError, type NodeStore } from '../storage/node-store.js';
import type { Logger } from './logger.js';

export interface MembershipOptions {
  nodeId: string;
  nodes: NodeStore;
  endpoints: string[];
  heartbeatMs: number;
  leaseMs: number;
  log: Logger;
  /** Reported with every heartbeat (connections, actors, ...). */
  load?: () => Record<string, unknown>;
  /** The lease may have run out: stop serving everything now. */
  onLost: () => void;
  /** A renewal succeeded again after a loss. */
  onRegained: () => void;
  /** Another process took this node id over (this one was frozen past its lease): this process must stop for good. */
  onReplaced: (err: NodeIdInUseError) => void;
  /** How long the first registration may take before start fails with TIMEOUT (DEFAULT_REGISTER_TIMEOUT_MS). */
  registerTimeoutMs?: number;
}

/**
 * The first registration's bound. It can only hang on a lock (a connection that cannot be made fails on its own
 * connect timeout): another process stuck mid-registration of the same id. A node that cannot join in this long
 * exits with the reason instead of sitting half-started with nothing in its log.
 */
export const DEFAULT_REGISTER_TIMEOUT_MS = 10_000;

/** Renewals outstanding at once: enough to ride out slow answers, few enough not to pile onto a stuck database. */
const MAX_RENEWALS_IN_FLIGHT = 3;

/**
 * Keeps this node's lease in Postgres alive. The lease is judged by the local monotonic clock from the moment
 * a renewal was SENT, minus one heartbeat of margin, so the node stops serving before the database
 * (whose clock set lease_until) can consider it dead — even after a freeze such as SIGSTOP.
 */
export class Membership {
  private validUntil = 0;
  private lost = true;
  private timer?: NodeJS.Timeout;
  private watchdog?: NodeJS.Timeout;
  private stopped = false;
  private inFlight = 0;
  private registering = false;
  private lossCount = 0;
  /** This process, as the holder of its node id (two processes must never serve as one node). */
  readonly incarnation = randomUUID();

  constructor(private readonly opts: MembershipOptions) {}

  /**
   * Registers the node and starts heartbeating; throws if the database cannot be reached, or (NodeIdInUseError)
   * if another live process holds this node id. A process restarted right after a crash finds its predecessor's
   * lease still running: it waits that lease out once; a lease renewed meanwhile belongs to a live process.
   */
  async start(): Promise<void> {
    const { nodes, nodeId, endpoints, leaseMs, log } = this.opts;
    let sentAt = performance.now();
    for (let waited = false; ; waited = true) {
      try {
        const reg = await nodes.register(nodeId, endpoints, leaseMs, this.incarnation, this.opts.registerTimeoutMs ?? DEFAULT_REGISTER_TIMEOUT_MS);
        if (reg.tookOver) log.info('took this node id over from a previous process; the epochs of its shards went up');
        break;
      } catch (err) {
        if (!(err instanceof NodeIdInUseError) || waited) throw err;
        log.warn({ leaseLeftMs: err.leaseLeftMs }, 'this node id is held by a previous process: waiting for its lease to run out');
        await sleep(err.leaseLeftMs + 50);
        sentAt = performance.now();
      }
    }
    this.validUntil = sentAt + leaseMs - this.opts.heartbeatMs;
    this.lost = false;
    this.schedule();
    this.watchdog = setInterval(() => this.check(), Math.max(20, Math.floor(this.opts.heartbeatMs / 3)));
  }

  /** Times this node judged its lease lost (and let every shard go) since it started. */
  get losses(): number {
    return this.lossCount;
  }

  /** True while this node may serve: its lease is certainly still running. */
  isValid(): boolean {
    const ok = !this.stopped && performance.now() < this.validUntil;
    if (!ok) this.check();
    return ok;
  }

  /** Stops heartbeating and marks the node as left, so the coordinator moves its shards at once. */
  async leave(): Promise<void> {
    this.stopHeartbeat();
    await this.opts.nodes.setState(this.opts.nodeId, 'left', this.incarnation).catch(() => undefined);
  }

  /** Stops heartbeating without telling anyone (the lease just runs out). */
  stopHeartbeat(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.watchdog) clearInterval(this.watchdog);
  }

  /** Beats go out one heartbeat after the previous one was SENT, answered or not (see `beat`). */
  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.schedule();
      void this.beat();
    }, this.opts.heartbeatMs);
  }

  /**
   * One renewal. Renewals overlap: each answer is judged by when it was sent, so the lease holds while any renewal
   * sent in the last `leaseMs − heartbeatMs` comes back. Waiting for each answer before timing the next spent that
   * margin twice: under a burst of 5,000 connects, round trips of ~450 ms made a 1.5 s lease look lost, every shard
   * was let go and taken back, and the re-attaches that followed kept the burst going for 40 s.
   */
  private async beat(): Promise<void> {
    if (this.inFlight >= MAX_RENEWALS_IN_FLIGHT || this.registering) return this.check();
    this.inFlight++;
    const sentAt = performance.now();
    try {
      const renewed = await this.opts.nodes.renew(this.opts.nodeId, this.incarnation, this.opts.leaseMs, this.opts.load?.());
      if (renewed === undefined) {
        // Our row is gone, says 'left' (an operator removed us), or names another process: register again, which
        // a live other process refuses (NodeIdInUseError, below). One registration at a time; other beats wait.
        if (this.registering) return;
        this.registering = true;
        try {
          await this.opts.nodes.register(this.opts.nodeId, this.opts.endpoints, this.opts.leaseMs, this.incarnation, this.opts.leaseMs);
        } finally {
          this.registering = false;
        }
      }
      if (this.stopped) return;
      this.validUntil = Math.max(this.validUntil, sentAt + this.opts.leaseMs - this.opts.heartbeatMs);
      // An answer that comes back after its own validity ran out regains nothing.
      if (this.lost && performance.now() < this.validUntil) {
        this.lost = false;
        this.opts.log.info('lease regained');
        this.opts.onRegained();
      }
    } catch (err) {
      if (err instanceof NodeIdInUseError) return this.replaced(err);
      const e = toImError(err);
      this.opts.log.warn({ code: e.code, err: e.message }, 'lease renewal failed');
    } finally {
      this.inFlight--;
      this.check();
    }
  }

  private replaced(err: NodeIdInUseError): void {
    this.stopHeartbeat();
    this.validUntil = 0;
    if (!this.lost) {
      this.lost = true;
      this.opts.onLost();
    }
    this.opts.onReplaced(err);
  }

  private check(): void {
    if (this.lost || this.stopped) return;
    if (performance.now() >= this.validUntil) {
      this.lost = true;
      this.lossCount++;
      this.opts.log.warn('lease may have expired: stopping to serve every shard');
      this.opts.onLost();
    }
  }
}
