import type { Fence } from '../storage/types.js';
import type { ActorContext } from './actor.js';
import type { ActorSender } from './actor-host.js';
import type { Logger } from './logger.js';
import type { Mailbox } from './mailbox.js';

/** The parts of a hosted actor's cell its context works on. */
export interface CellRef {
  readonly id: string;
  readonly kind: string;
  readonly key: string;
  readonly shard: number;
  readonly fence: Fence;
  readonly mailbox: Mailbox;
  /** Named timers; made on the first setTimer (most actors never set one). */
  timers: Map<string, NodeJS.Timeout> | undefined;
  closing: boolean;
  stopRequested: boolean;
}

/** What every context of one host shares. */
export interface ContextHost {
  readonly nodeId: string;
  readonly sender: ActorSender;
  readonly log: Logger;
  /** A timer callback failed (coded errors are the host's to judge). */
  failed(cell: CellRef, err: unknown): void;
}

/**
 * An actor's view of the world. A class, not an object literal of closures: one activation per online user
 * makes this per-user memory, and under tsx every closure also got a dictionary-mode `name` property
 * (esbuild's keepNames), which made a literal context cost ~2 KB per actor (heap snapshot, 20k connectors).
 */
export class CellContext implements ActorContext {
  private childLog: Logger | undefined;

  constructor(
    private readonly host: ContextHost,
    private readonly cell: CellRef,
  ) {}

  get kind(): string {
    return this.cell.kind;
  }

  get key(): string {
    return this.cell.key;
  }

  get shard(): number {
    return this.cell.shard;
  }

  get fence(): Fence {
    return this.cell.fence;
  }

  get nodeId(): string {
    return this.host.nodeId;
  }

  /** A pino child per actor, made on first use. */
  get log(): Logger {
    return (this.childLog ??= this.host.log.child({ actor: this.cell.id }));
  }

  call(kind: string, key: string, op: string, payload: unknown, timeoutMs?: number): Promise<unknown> {
    return this.host.sender.call(kind, key, op, payload, timeoutMs);
  }

  tell(kind: string, key: string, op: string, payload: unknown): void {
    this.host.sender.tell(kind, key, op, payload);
  }

  setTimer(name: string, ms: number, fn: () => unknown, repeat = false): void {
    const cell = this.cell;
    const timers = (cell.timers ??= new Map());
    const prev = timers.get(name);
    if (prev) clearTimeout(prev);
    // A tick waits in the mailbox: a repeating timer adds no other until it ran. Its ticks would otherwise pile up
    // for as long as a slow job holds the mailbox (a database stall), and all run back to back after it.
    let queued = false;
    const fire = (): void => {
      if (cell.closing) return;
      if (repeat) timers.set(name, setTimeout(fire, ms));
      else timers.delete(name);
      if (queued) return;
      queued = true;
      // A deactivation queued before this turn runs first: the actor is gone by the time this would.
      cell.mailbox
        .post(() => {
          queued = false;
          return cell.closing ? undefined : fn();
        })
        .catch((err: unknown) => ((queued = false), this.host.failed(cell, err)));
    };
    timers.set(name, setTimeout(fire, ms));
  }

  clearTimer(name: string): void {
    const t = this.cell.timers?.get(name);
    if (t) clearTimeout(t);
    this.cell.timers?.delete(name);
  }

  stop(): void {
    this.cell.stopRequested = true;
  }
}
