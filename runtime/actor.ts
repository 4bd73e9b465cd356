import type { Logger } from './logger.js';
import type { Fence } from '../storage/types.js';

/** What an actor can see and do of the world; handed to it at creation. */
export interface ActorContext {
  readonly kind: string;
  readonly key: string;
  readonly shard: number;
  /** The shard epoch this activation runs under; pass it to every store write made for this actor. */
  readonly fence: Fence;
  readonly nodeId: string;
  readonly log: Logger;
  /** Calls an operation on another actor (anywhere in the cluster) and waits for its answer. */
  call(kind: string, key: string, op: string, payload: unknown, timeoutMs?: number): Promise<unknown>;
  /** Sends an operation to another actor without waiting for an answer. */
  tell(kind: string, key: string, op: string, payload: unknown): void;
  /** Starts (or restarts) a named timer owned by this actor; it dies with the actor. Its callback runs through the mailbox. */
  setTimer(name: string, ms: number, fn: () => unknown, repeat?: boolean): void;
  clearTimer(name: string): void;
  /** Deactivates this actor once the message in hand is done. */
  stop(): void;
}

/** Why an actor was deactivated. */
export type DeactivateReason = 'idle' | 'shard-released' | 'stopped' | 'fenced' | 'node-closing' | 'activation-failed';

/**
 * A reply that settles later, outside the mailbox: the actor goes on with its next message while `result`
 * is pending (group commit: a chatter hands its rows to a batch and keeps taking sends). The caller gets
 * `result`'s value or error; the host still treats a FENCED failure as the shard moving away.
 */
export class LaterReply {
  constructor(readonly result: Promise<unknown>) {}
}

/** One actor instance: one message at a time, state rebuilt in onActivate. */
export interface Actor {
  onActivate?(): Promise<void>;
  /** Handles one operation; the returned value (or a LaterReply's result) is the reply. Throw ImError for coded failures. */
  handle(op: string, payload: unknown): unknown | Promise<unknown>;
  onDeactivate?(reason: DeactivateReason): Promise<void>;
  /** True while the actor holds state that cannot be rebuilt from storage (e.g. live sessions): not idled out. */
  holdsLiveState?(): boolean;
  /**
   * When (epoch ms) the actor wants `check` run; undefined: never. Read by the host's idle sweep (every few seconds),
   * so a periodic check costs an actor one number, not a timer of its own (a timer per online user costs ~570 bytes).
   */
  readonly checkAt?: number | undefined;
  /** Run in the actor's mailbox once `checkAt` has passed; the actor sets its next `checkAt` (a late sweep may run it twice). */
  check?(now: number): void;
}

/** A kind of actor a node can host, e.g. `connector` or `chatter`. */
export interface ActorKind {
  readonly kind: string;
  create(ctx: ActorContext): Actor;
  /** Idle time before deactivation; the node default when absent. */
  readonly idleMs?: number;
  /**
   * What `op` gets when the actor is not live, without activating it; `undefined` means activate and ask it.
   * For read-only questions a sleeping actor answers by definition ("which devices are connected?": none),
   * so asking about many users does not wake them all and load each one's state. A tell answered here is
   * dropped: news a sleeping actor would only have thrown away (a message for a user with no device online)
   * does not wake it either. `key`: the sleeping actor's.
   */
  idleAnswer?(op: string, payload: unknown, key: string): unknown;
}
