import { toImError } from '../protocol/errors.js';
import type { Logger } from '../runtime/logger.js';

/** How often a node reads which gateways are alive. */
export const DEFAULT_GATEWAY_WATCH_MS = 2_000;

/** One life of a gateway node: its id and the incarnation (process) that registered it. */
export interface GatewayLife {
  nodeId: string;
  incarnation: string;
}

export interface GatewayWatchOptions {
  /**
   * Reads the nodes whose lease runs now (the nodes table), for `start` to poll. Absent where something else reads
   * that table anyway (a gateway node's directory) and hands each read to `see`.
   */
  live?: () => Promise<GatewayLife[]>;
  /** A gateway life that was alive is gone: its process died (its lease ran out) or another took its id. */
  onGone: (life: GatewayLife) => void;
  log: Logger;
  intervalMs?: number;
}

/**
 * Notices gateway processes that died. A gateway that stops on purpose detaches each of its sessions from their
 * users' connectors; one that crashes (or is cut off and replaced) tells nobody, and its users' connectors would
 * keep devices whose sockets are gone: online for their peers forever, no last seen, retransmits into the void.
 * A life is gone once a read of the live nodes lacks it, which takes its lease running out first, so a gateway
 * that is only slow is not declared dead. A restarted node is a new life: its sessions are not the old ones'.
 */
export class GatewayWatch {
  /** Lives seen alive, by `nodeId incarnation`. */
  private readonly seen = new Map<string, GatewayLife>();
  private timer: NodeJS.Timeout | undefined;
  private reading: Promise<void> | undefined;

  constructor(private readonly opts: GatewayWatchOptions) {}

  /** With `live`: reads now, then every interval. */
  async start(): Promise<void> {
    if (!this.opts.live) return;
    await this.read();
    this.timer = setInterval(() => void this.read(), this.opts.intervalMs ?? DEFAULT_GATEWAY_WATCH_MS);
    this.timer.unref();
  }

  /** Takes one read of the live nodes: lives seen before and missing now are reported gone. */
  see(lives: readonly GatewayLife[]): void {
    const now = new Map<string, GatewayLife>();
    for (const l of lives) now.set(`${l.nodeId} ${l.incarnation}`, l);
    for (const [key, life] of this.seen) {
      if (now.has(key)) continue;
      this.seen.delete(key);
      this.opts.log.info({ gateway: life.nodeId }, 'a gateway life ended: its sessions are dropped from their users');
      this.opts.onGone(life);
    }
    for (const [key, life] of now) this.seen.set(key, life);
  }

  /** Reads the live nodes once through `live` and sees them. */
  read(): Promise<void> {
    const live = this.opts.live;
    if (!live) return Promise.resolve();
    this.reading ??= (async () => {
      try {
        this.see(await live());
      } catch (err) {
        // The next read catches up: a life missing then is reported then.
        this.opts.log.warn({ err: toImError(err).message }, 'could not read the live gateways');
      } finally {
        this.reading = undefined;
      }
    })();
    return this.reading;
  }

  /** Stops reading. */
  close(): void {
    clearInterval(this.timer);
  }
}
