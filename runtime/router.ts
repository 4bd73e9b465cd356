import { ErrorCode, ImError } from '../protocol/errors.js';
import { shardOf } from '../protocol/shard-hash.js';
import { shardSubject } from '../protocol/subjects.js';
import type { ActorSender } from './actor-host.js';
import type { Transport } from './transport/transport.js';

/**
 * Sends actor operations to whichever node owns the actor's shard, by shard subject: callers never need
 * the shard map, only the shard counts, which are fixed for the life of the cluster.
 */
export class Router implements ActorSender {
  /** Subject strings built once per shard instead of once per call. */
  private readonly subjects = new Map<string, string[]>();

  constructor(
    private readonly transport: Transport,
    private readonly shardCounts: ReadonlyMap<string, number>,
  ) {
    for (const [kind, count] of shardCounts) this.subjects.set(kind, Array.from({ length: count }, (_, s) => shardSubject(kind, s)));
  }

  /** How many shards `kind` has (0 for a kind this cluster does not know). */
  shardCount(kind: string): number {
    return this.shardCounts.get(kind) ?? 0;
  }

  /** The shard of (kind, key). */
  shardOf(kind: string, key: string): number {
    const count = this.shardCounts.get(kind);
    if (count === undefined) throw new ImError(ErrorCode.NOT_FOUND, `unknown actor kind "${kind}"`);
    return shardOf(key, count);
  }

  /** Calls `op` on actor (kind, key) and waits for its reply. */
  call(kind: string, key: string, op: string, payload: unknown, timeoutMs?: number): Promise<unknown> {
    let subject: string;
    try {
      subject = this.subjects.get(kind)![this.shardOf(kind, key)]!;
    } catch (err) {
      return Promise.reject(err);
    }
    return this.transport.call(subject, timeoutMs === undefined ? { kind, key, op, payload } : { kind, key, op, payload, timeoutMs });
  }

  /** Sends `op` to actor (kind, key) without waiting. */
  tell(kind: string, key: string, op: string, payload: unknown): void {
    this.transport.tell(this.subjects.get(kind)![this.shardOf(kind, key)]!, { kind, key, op, payload });
  }
}
