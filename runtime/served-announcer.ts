import type { NatsConnection } from 'nats';
import { encodeControl } from '../protocol/control.js';
import { clusterServedSubject } from '../protocol/subjects.js';
import type { Logger } from './logger.js';

/** After a NATS reconnect the node announces its shards this much later: interest has reached every server by then. */
export const RECONNECT_ANNOUNCE_DELAY_MS = 500;

/**
 * Tells the cluster which shards this node has just started serving (`im.cluster.served`), batched per kind
 * per turn of the event loop. Tells sent to a shard while nobody served it, or while this node's NATS
 * connection was down, are lost; this announcement is how holders of soft state (gateways, for the sessions
 * of a connector shard) learn to state it again and let their clients re-sync.
 */
export class ServedAnnouncer {
  private readonly pending = new Map<string, Set<number>>();
  private scheduled = false;
  private timer?: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly nodeId: string,
    private readonly log: Logger,
  ) {}

  /** Queues one shard for the next announcement. */
  add(kind: string, shard: number): void {
    if (this.closed) return;
    let set = this.pending.get(kind);
    if (!set) this.pending.set(kind, (set = new Set()));
    set.add(shard);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  /** Announces every shard `served()` lists, a little later (after a NATS reconnect). */
  announceLater(served: () => { kind: string; shard: number }[]): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      for (const s of served()) this.add(s.kind, s.shard);
    }, RECONNECT_ANNOUNCE_DELAY_MS);
    this.timer.unref();
  }

  /** Stops announcing. */
  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.pending.clear();
  }

  private flush(): void {
    this.scheduled = false;
    if (this.closed) return;
    for (const [kind, set] of this.pending) {
      try {
        this.nc.publish(clusterServedSubject(), encodeControl({ type: 'shards-served', node: this.nodeId, kind, shards: [...set] }));
      } catch (err) {
        // Only a closed connection refuses a publish; its reconnect (if any) announces everything again.
        this.log.debug({ kind, err: (err as Error).message }, 'served announcement not sent');
      }
    }
    this.pending.clear();
  }
}
