import { performance } from 'node:perf_hooks';
import type { NatsConnection } from 'nats';
import { decodeControlReply, encodeControl, type ControlReply, type ControlRequest } from '../protocol/control.js';
import { ErrorCode, ImError } from '../protocol/errors.js';
import { nodeControlSubject } from '../protocol/subjects.js';
import type { NodeStore } from '../storage/node-store.js';
import type { ShardMapStore } from '../storage/shard-map-store.js';
import type { Logger } from './logger.js';

export interface MoveOutcome {
  kind: string;
  shard: number;
  from: string | null;
  to: string;
  epoch: number;
  /** The old owner confirmed it released (false: it did not answer in time; fencing covers it). */
  releasedCleanly: boolean;
  /**
   * The new owner confirmed it serves the shard. False: it did not answer, or refused (closing, or its lease lapsed
   * a moment): it takes the shard at its next poll, or the coordinator reassigns it once that node leaves.
   */
  acquiredCleanly: boolean;
  /** From the old owner stopping intake to the new owner serving, as seen by the mover. */
  pauseMs: number;
  /** Nothing to do: the shard was already there. */
  noop: boolean;
}

export interface ShardMoverOptions {
  nc: NatsConnection;
  shardMap: ShardMapStore;
  /** Asked before a move starts: a node that is draining or gone takes no shard (it would only hand it on again). */
  nodes: Pick<NodeStore, 'takesShards'>;
  log: Logger;
  /** Each phase (release, acquire) has its own timeout. */
  phaseTimeoutMs: number;
  /** Announces a shard-map change (im.cluster.shards). */
  notify: (kind: string, shards: number[]) => void;
}

/** Sends a control request to a node and waits for its reply, within `timeoutMs`. */
export async function controlRequest(nc: NatsConnection, nodeId: string, req: ControlRequest, timeoutMs: number): Promise<ControlReply> {
  let msg;
  try {
    msg = await nc.request(nodeControlSubject(nodeId), encodeControl(req), { timeout: timeoutMs });
  } catch (err) {
    const code = (err as { code?: string }).code === '503' ? ErrorCode.UNAVAILABLE : ErrorCode.TIMEOUT;
    throw new ImError(code, `node ${nodeId} did not answer ${req.type}`, { cause: err });
  }
  const r = decodeControlReply(msg.data);
  if (!r.ok) throw r.error;
  if (r.value.type === 'error') throw new ImError(ErrorCode.INTERNAL, `node ${nodeId}: ${r.value.message}`);
  return r.value;
}

/**
 * Planned shard moves (rebalance, move, drain): mark moving, old owner stops intake and finishes in-flight
 * work, epoch bump hands the shard to the new owner, which starts at once. A silent old owner only delays
 * the move by one phase timeout: once the epoch is bumped it can persist nothing (fencing).
 */
export class ShardMover {
  constructor(private readonly opts: ShardMoverOptions) {}

  /** Moves (kind, shard) to node `to`; idempotent when it is already there. */
  async move(kind: string, shard: number, to: string): Promise<MoveOutcome> {
    const { shardMap, nc, phaseTimeoutMs, log } = this.opts;
    let row = await shardMap.get(kind, shard);
    if (!row) throw new ImError(ErrorCode.NOT_FOUND, `no shard ${kind}/${shard}`);
    if (row.owner === to && row.state === 'active') {
      return { kind, shard, from: to, to, epoch: row.epoch, releasedCleanly: true, acquiredCleanly: true, pauseMs: 0, noop: true };
    }
    // Two nodes drained at once (a scale-down by two) each planned with the other still in placement.
    if (!(await this.opts.nodes.takesShards(to, kind))) throw new ImError(ErrorCode.CONFLICT, `node ${to} takes no ${kind} shards now (draining, its lease ran out, cut off from NATS, or it does not host ${kind})`);
    const from = row.owner;
    if (row.state === 'active' && from !== null) {
      const marked = await shardMap.beginMove(kind, shard, row.epoch, from, to);
      if (!marked) return this.settledElsewhere(kind, shard, to, 'while starting its move');
      row = marked;
    }
    const started = performance.now();
    let releasedCleanly = from === null;
    if (from !== null) {
      try {
        const reply = await controlRequest(nc, from, { type: 'release', kind, shard, epoch: row.epoch }, phaseTimeoutMs);
        releasedCleanly = reply.type === 'released' && reply.ok;
      } catch (err) {
        log.warn({ kind, shard, from, err: (err as Error).message }, 'old owner did not confirm release; relying on fencing');
      }
    }
    let done;
    try {
      done = row.state === 'moving' ? await shardMap.completeMove(kind, shard, row.epoch, to) : await shardMap.assign(kind, shard, row.epoch, to);
    } catch (err) {
      // The old owner may have released already, and refuses its epoch for good: rolled back at once (a new epoch
      // it takes again), or the shard would wait unserved for the coordinator's stuck-move timeout.
      const back = row.state === 'moving' ? await shardMap.abortMove(kind, shard, row.epoch).catch(() => undefined) : undefined;
      if (back) this.opts.notify(kind, [shard]);
      throw err;
    }
    if (!done) return this.settledElsewhere(kind, shard, to, 'during its move');
    this.opts.notify(kind, [shard]);
    let acquiredCleanly = false;
    try {
      const reply = await controlRequest(nc, to, { type: 'acquire', kind, shard, epoch: done.epoch }, phaseTimeoutMs);
      acquiredCleanly = reply.type === 'acquired' && reply.ok;
      if (!acquiredCleanly) log.warn({ kind, shard, to }, 'new owner refused the shard for now (closing, or its lease lapsed); it takes it at its next poll, or the coordinator reassigns it once that node leaves');
    } catch (err) {
      log.warn({ kind, shard, to, err: (err as Error).message }, 'new owner did not confirm acquire; it picks the shard up at its next poll');
    }
    const pauseMs = performance.now() - started;
    return { kind, shard, from, to, epoch: done.epoch, releasedCleanly, acquiredCleanly, pauseMs, noop: false };
  }

  /**
   * Someone else changed the shard under this move (the coordinator rebalancing while imctl does, two operators).
   * When it ends up where this move wanted it, the move is done; otherwise it is a conflict for the caller.
   * A move still in progress elsewhere is waited for, at most two phases.
   */
  private async settledElsewhere(kind: string, shard: number, to: string, when: string): Promise<MoveOutcome> {
    const deadline = performance.now() + 2 * this.opts.phaseTimeoutMs;
    for (;;) {
      const row = await this.opts.shardMap.get(kind, shard);
      if (row?.owner === to && row.state === 'active') return { kind, shard, from: to, to, epoch: row.epoch, releasedCleanly: true, acquiredCleanly: true, pauseMs: 0, noop: true };
      if (row?.state !== 'moving' || row.target !== to || performance.now() > deadline) {
        throw new ImError(ErrorCode.CONFLICT, `shard ${kind}/${shard} changed ${when} (now ${row?.state ?? 'missing'} on ${row?.owner ?? 'nobody'})`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
