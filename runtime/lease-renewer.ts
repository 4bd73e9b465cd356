import { toImError } from '../protocol/errors.js';
import { NodeIdInUseError, type NodeStore } from '../storage/node-store.js';
import { monotonicMs, type LeaseCell } from './lease-cell.js';

/** Renewals outstanding at once: enough to ride out slow answers, few enough not to pile onto a stuck database. */
export const MAX_RENEWALS_IN_FLIGHT = 3;

export interface LeaseRenewerOptions {
  nodeId: string;
  incarnation: string;
  endpoints: string[];
  nodes: Pick<NodeStore, 'renew' | 'register' | 'natsReachers'>;
  heartbeatMs: number;
  leaseMs: number;
  cell: LeaseCell;
  /** Renew only while the main thread ran this recently: a wedged process must lose its lease like a dead one. */
  stallMs: number;
  /**
   * Cut off from NATS for longer than this while another live node has reached it for as long, the node stops
   * renewing: its lease runs out and live nodes take its shards. 0: never.
   */
  natsCutGraceMs: number;
  /** The actor kinds this node hosts: it gives way only to a node hosting one of them (any, when none or unknown). */
  kinds?: readonly string[];
  /** Reported with every renewal (connections, actors, ...). */
  load: () => Record<string, unknown> | undefined;
  /** The lease is left to run out because NATS is unreachable from here only (`natsCutGraceMs`). */
  onCutOff: (reachers: string[]) => void;
  /** Another process holds this node id now; renewals have stopped. */
  onReplaced: (err: NodeIdInUseError) => void;
  warn: (fields: Record<string, unknown>, msg: string) => void;
}

/**
 * Sends the node's lease renewals and records in the shared cell how long the lease certainly runs. It runs in the
 * lease thread, so that a main thread busy with a burst (20,000 clients connecting at once made turns of the event
 * loop long enough) neither sends its renewals late nor reads their answers late.
 */
export class LeaseRenewer {
  private timer?: NodeJS.Timeout;
  private inFlight = 0;
  private registering = false;
  private stalled = false;
  /** Renewals are held back: cut off from NATS while other nodes reach it. */
  private cutOff = false;
  /** Beats that asked whether to give way, and the latest whose answer was applied: an older answer is stale. */
  private asked = 0;
  private applied = 0;

  constructor(private readonly opts: LeaseRenewerOptions) {}

  /** Starts renewing, one heartbeat from now. */
  start(): void {
    this.schedule();
  }

  /** Stops renewing; answers still outstanding extend nothing. */
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Beats go out one heartbeat after the previous one was SENT, answered or not (see `beat`). */
  private schedule(): void {
    if (this.opts.cell.stopped) return;
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
    const { cell, nodes, nodeId, incarnation, leaseMs, heartbeatMs } = this.opts;
    if (cell.stopped || this.inFlight >= MAX_RENEWALS_IN_FLIGHT || this.registering) return;
    const sentAt = monotonicMs();
    const silentMs = sentAt - cell.aliveAt();
    if (silentMs > this.opts.stallMs) {
      if (!this.stalled) this.opts.warn({ silentMs: Math.round(silentMs) }, 'main thread stalled: lease renewals paused, so the lease runs out as if the node had died');
      this.stalled = true;
      return;
    }
    this.stalled = false;
    this.inFlight++;
    try {
      if (await this.yieldsToPeers()) return;
      const renewed = await nodes.renew(nodeId, incarnation, leaseMs, this.loadAt(sentAt));
      if (renewed === undefined) {
        // Our row is gone, says 'left' (an operator removed us), or names another process: register again, which
        // a live other process refuses (NodeIdInUseError, below). One registration at a time; other beats wait.
        if (this.registering) return;
        this.registering = true;
        try {
          await nodes.register(nodeId, this.opts.endpoints, leaseMs, incarnation, leaseMs);
        } finally {
          this.registering = false;
        }
      }
      cell.extend(sentAt + leaseMs - heartbeatMs);
    } catch (err) {
      if (err instanceof NodeIdInUseError) {
        this.stop();
        cell.stop();
        this.opts.onReplaced(err);
        return;
      }
      const e = toImError(err);
      this.opts.warn({ code: e.code, err: e.message }, 'lease renewal failed');
    } finally {
      this.inFlight--;
    }
  }

  /**
   * Whether to let the lease run out rather than renew it. A node cut off from NATS can serve none of its shards to
   * anyone but its own sockets, yet its Postgres lease kept them from the nodes that could serve them for as long as
   * the cut lasted. Only while another node reaches NATS, and has for a grace: when NATS itself is down, every node is
   * cut off, and none must give up (every lease dropped at once would move every shard for nothing). Once given way,
   * it keeps so until its own link is back: renewing when the others' links blipped would make it live and in
   * placement again, given shards nobody could reach.
   */
  private async yieldsToPeers(): Promise<boolean> {
    const { cell, natsCutGraceMs: grace } = this.opts;
    const ticket = ++this.asked;
    const downFor = (): number => cell.natsDownForMs(monotonicMs());
    const reachers = grace > 0 && downFor() > grace && !this.cutOff ? await this.opts.nodes.natsReachers(this.opts.nodeId, grace, this.opts.kinds) : [];
    // A newer beat decided while this one waited for its answer.
    if (ticket < this.applied) return this.cutOff;
    this.applied = ticket;
    // Read again after the wait: NATS may be back.
    const cutMs = downFor();
    const yields = grace > 0 && cutMs > grace && (this.cutOff || reachers.length > 0);
    if (yields && !this.cutOff) {
      this.opts.warn({ cutMs: Math.round(cutMs), reachers }, "cut off from NATS while other nodes reach it: letting the lease run out so that they take this node's shards");
      this.opts.onCutOff(reachers);
    } else if (!yields && this.cutOff) {
      this.opts.warn({ cutMs: Math.round(cutMs) }, 'NATS reached again: renewing the lease again');
    }
    this.cutOff = yields;
    return yields;
  }

  /** The load to report, with how long NATS has been up here (what other nodes' `yieldsToPeers` reads). */
  private loadAt(at: number): Record<string, unknown> | undefined {
    const load = this.opts.load();
    const natsUpMs = this.opts.cell.natsUpForMs(at);
    return load === undefined || natsUpMs === undefined ? load : { ...load, natsUpMs: Math.round(natsUpMs) };
  }
}
