import { ErrorCode, ImError, toImError } from '../protocol/errors.js';
import type { Fence } from '../storage/types.js';
import { type Actor, type ActorKind, type DeactivateReason } from './actor.js';
import { CellContext, type CellRef, type ContextHost } from './actor-context.js';
import { CallJob, TellJob, type OperationRunner } from './actor-jobs.js';
import type { Logger } from './logger.js';
import { Mailbox } from './mailbox.js';

/** How actors reach other actors; implemented by the Router. */
export interface ActorSender {
  call(kind: string, key: string, op: string, payload: unknown, timeoutMs?: number): Promise<unknown>;
  tell(kind: string, key: string, op: string, payload: unknown): void;
}

interface Cell extends CellRef {
  actor: Actor;
  lastActive: number;
  activated: boolean;
  /** Set once deactivation was requested; a successor activation waits for it. */
  deactivation?: Promise<void>;
  /** The actor's due `check` waits in its mailbox: the sweep queues no other until it ran. */
  checkQueued?: boolean;
}

export interface ActorHostOptions {
  nodeId: string;
  kinds: ActorKind[];
  sender: ActorSender;
  log: Logger;
  defaultIdleMs: number;
  /** Called when a store refused a write with FENCED: the node no longer owns that shard at `epoch` (the actor's). */
  onFenced: (kind: string, shard: number, epoch: number) => void;
}

/** What a kind answered for one of its sleeping actors (`ActorKind.idleAnswer`), which stays asleep. */
class IdleAnswer {
  constructor(readonly value: unknown) {}
}

/**
 * Hosts the live actors of one node: activates on first message, one message at a time per actor,
 * deactivates when idle or when its shard is released. Never lets a handler's throw escape.
 */
export class ActorHost {
  /** Live cells by kind, then key: looked up per message without building a `kind/key` string. */
  private readonly cells = new Map<string, Map<string, Cell>>();
  private readonly kinds = new Map<string, ActorKind>();
  private readonly sweepTimer: NodeJS.Timeout;
  private readonly contextHost: ContextHost;
  private readonly runner: OperationRunner<Cell>;
  private closed = false;

  constructor(private readonly opts: ActorHostOptions) {
    for (const k of opts.kinds) {
      this.kinds.set(k.kind, k);
      this.cells.set(k.kind, new Map());
    }
    this.contextHost = { nodeId: opts.nodeId, sender: opts.sender, log: opts.log, failed: (cell, err) => void this.handleFailure(cell as Cell, err) };
    this.runner = {
      run: (cell, op, payload) => this.run(cell, op, payload),
      failure: (cell, err) => this.handleFailure(cell, err),
      tellFailed: (cell, op, e) => this.opts.log.debug({ actor: cell.id, op, code: e.code, err: e.message }, 'tell failed'),
    };
    const sweepEvery = Math.max(250, Math.min(5000, Math.floor(Math.min(...opts.kinds.map((k) => k.idleMs ?? opts.defaultIdleMs)) / 2)));
    this.sweepTimer = setInterval(() => this.sweepIdle(), sweepEvery);
    this.sweepTimer.unref();
  }

  /** Number of live actors, per kind. */
  counts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [kind, m] of this.cells) if (m.size > 0) out[kind] = m.size;
    return out;
  }

  /** True when this node can host `kind`. */
  hosts(kind: string): boolean {
    return this.kinds.has(kind);
  }

  /**
   * Delivers one operation to the actor (kind, key), activating it under `fence` when it is not live. Past
   * `deadline` (epoch ms: the caller's, who has been told TIMEOUT by then) it is refused TIMEOUT unrun.
   */
  dispatch(kind: string, key: string, fence: Fence, op: string, payload: unknown, deadline = Number.POSITIVE_INFINITY): Promise<unknown> {
    if (this.closed) return Promise.reject(new ImError(ErrorCode.CLOSED, 'node is closing'));
    let cell: Cell | IdleAnswer;
    try {
      cell = this.target(kind, key, fence, op, payload);
    } catch (err) {
      return Promise.reject(err);
    }
    if (cell instanceof IdleAnswer) return Promise.resolve(cell.value);
    cell.lastActive = Date.now();
    const live = cell;
    return new Promise((resolve, reject) => live.mailbox.push(new CallJob(this.runner, live, op, payload, deadline, resolve, reject)));
  }

  /** Delivers one operation nobody waits for (a tell): no promise is made for it unless its handler makes one. */
  tell(kind: string, key: string, fence: Fence, op: string, payload: unknown): void {
    if (this.closed) return;
    let cell: Cell | IdleAnswer;
    try {
      cell = this.target(kind, key, fence, op, payload);
    } catch (err) {
      this.opts.log.debug({ kind, key, op, err: toImError(err).message }, 'tell dropped');
      return;
    }
    // Answered for a sleeping actor: a tell's answer goes nowhere, and the actor stays asleep.
    if (cell instanceof IdleAnswer) return;
    cell.lastActive = Date.now();
    cell.mailbox.push(new TellJob(this.runner, cell, op, payload));
  }

  /** Tells every live actor of `kind` on this node, each through its mailbox; sleeping ones are not woken. */
  tellLive(kind: string, op: string, payload: unknown): number {
    if (this.closed) return 0;
    let n = 0;
    for (const cell of this.cells.get(kind)?.values() ?? []) {
      if (cell.closing) continue;
      cell.mailbox.push(new TellJob(this.runner, cell, op, payload));
      n++;
    }
    return n;
  }

  /** Runs one operation inside the mailbox; synchronous handlers stay synchronous (no promise, no microtask). */
  private run(cell: Cell, op: string, payload: unknown): unknown {
    if (cell.closing) throw new ImError(ErrorCode.UNAVAILABLE, `actor ${cell.id} is deactivating`);
    // Activation is always the first job: a job that runs after it failed (queued before the failure handler
    // could reject it) must not meet a half-loaded actor.
    if (!cell.activated) throw new ImError(ErrorCode.UNAVAILABLE, `actor ${cell.id} could not be activated; retry`);
    let r: unknown;
    try {
      r = cell.actor.handle(op, payload);
    } catch (err) {
      const e = this.handleFailure(cell, err);
      this.handled(cell);
      throw e;
    }
    if (!(r instanceof Promise)) {
      this.handled(cell);
      return r;
    }
    return r.then(
      (v: unknown) => {
        this.handled(cell);
        return v;
      },
      (err: unknown) => {
        const e = this.handleFailure(cell, err);
        this.handled(cell);
        throw e;
      },
    );
  }

  private handled(cell: Cell): void {
    cell.lastActive = Date.now();
    if (cell.stopRequested) void this.deactivate(cell, 'stopped');
  }

  /** Lets every actor of a shard finish what it has queued, then deactivates them. */
  async deactivateShard(kind: string, shard: number, reason: DeactivateReason): Promise<void> {
    const cells = [...(this.cells.get(kind)?.values() ?? [])].filter((c) => c.shard === shard);
    await Promise.all(cells.map((c) => this.deactivate(c, reason)));
  }

  /** Deactivates every actor (after their queued work) and stops the idle sweep. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweepTimer);
    await Promise.all([...this.allCells()].map((c) => this.deactivate(c, 'node-closing')));
  }

  private *allCells(): IterableIterator<Cell> {
    for (const m of this.cells.values()) yield* m.values();
  }

  /**
   * Where (kind, key)'s `op` goes: its live cell; else, when the kind answers `op` for sleeping actors, that answer;
   * else a cell activated for it. Throws when this node hosts no such kind.
   */
  private target(kind: string, key: string, fence: Fence, op: string, payload: unknown): Cell | IdleAnswer {
    const live = this.liveCell(kind, key, fence);
    if (live) return live;
    const idle = this.kinds.get(kind)?.idleAnswer?.(op, payload, key);
    return idle !== undefined ? new IdleAnswer(idle) : this.activate(kind, key, fence);
  }

  /** The cell that takes (kind, key)'s next message under `fence`, if one is live or activating. */
  private liveCell(kind: string, key: string, fence: Fence): Cell | undefined {
    const existing = this.cells.get(kind)?.get(key);
    return existing && !existing.deactivation && existing.fence.epoch === fence.epoch ? existing : undefined;
  }

  /** A new cell for (kind, key) under `fence`, its activation queued first; replaces a cell of an older epoch. */
  private activate(kind: string, key: string, fence: Fence): Cell {
    const ofKind = this.cells.get(kind);
    const existing = ofKind?.get(key);
    const def = this.kinds.get(kind);
    if (!def || !ofKind) throw new ImError(ErrorCode.NOT_FOUND, `this node hosts no actor kind "${kind}"`);
    const cell: Cell = {
      id: `${kind}/${key}`,
      kind,
      key,
      shard: fence.shard,
      fence,
      actor: undefined as unknown as Actor,
      mailbox: new Mailbox(),
      timers: undefined,
      lastActive: Date.now(),
      activated: false,
      closing: false,
      stopRequested: false,
    };
    cell.actor = def.create(new CellContext(this.contextHost, cell));
    ofKind.set(key, cell);
    // A predecessor still deactivating may be persisting state the new activation is about to load.
    const predecessor = existing?.deactivation;
    if (existing && !predecessor) void this.deactivate(existing, 'shard-released');
    void cell.mailbox
      .post(async () => {
        await (predecessor ?? existing?.deactivation);
        await cell.actor.onActivate?.();
        cell.activated = true;
      })
      .catch((err: unknown) => {
        const e = toImError(err);
        if (e.code !== ErrorCode.FENCED) this.opts.log.warn({ actor: cell.id, code: e.code, err: e.message }, 'actor activation failed');
        // Jobs queued behind a failed activation must not run against half-loaded state.
        cell.mailbox.rejectPending(new ImError(e.code === ErrorCode.FENCED ? ErrorCode.FENCED : ErrorCode.UNAVAILABLE, `activation of ${cell.id} failed (${e.code})`, { cause: e }));
        this.handleFailure(cell, e);
        void this.deactivate(cell, 'activation-failed');
      });
    return cell;
  }

  /** Maps a handler failure to a coded error; a FENCED one means the shard moved away under us. */
  private handleFailure(cell: Cell, err: unknown): ImError {
    const e = toImError(err);
    if (e.code === ErrorCode.FENCED) {
      cell.stopRequested = true;
      this.opts.onFenced(cell.kind, cell.shard, cell.fence.epoch);
    } else if (e.code === ErrorCode.INTERNAL || e.code === ErrorCode.STORAGE) {
      this.opts.log.error({ actor: cell.id, code: e.code, err: e.message, cause: e.cause instanceof Error ? e.cause.stack : undefined }, 'actor handler failed');
    }
    return e;
  }

  private deactivate(cell: Cell, reason: DeactivateReason): Promise<void> {
    cell.deactivation ??= this.runDeactivation(cell, reason);
    return cell.deactivation;
  }

  private async runDeactivation(cell: Cell, reason: DeactivateReason): Promise<void> {
    // Waits for queued work first: a released shard finishes what it accepted before it lets go.
    const done = cell.mailbox.post(async () => {
      cell.closing = true;
      for (const t of cell.timers?.values() ?? []) clearTimeout(t);
      cell.timers = undefined;
      if (cell.activated) await cell.actor.onDeactivate?.(reason);
    });
    try {
      await done;
    } catch (err) {
      const e = toImError(err);
      if (e.code !== ErrorCode.FENCED) this.opts.log.warn({ actor: cell.id, err: e.message, reason }, 'actor deactivation failed');
    } finally {
      const ofKind = this.cells.get(cell.kind);
      if (ofKind?.get(cell.key) === cell) ofKind.delete(cell.key);
    }
  }

  /** Runs the actor's due `check` in its mailbox, after what is queued there (a deactivation queued first wins). */
  private runCheck(cell: Cell, now: number): void {
    cell.checkQueued = true;
    cell.mailbox
      .post(() => {
        cell.checkQueued = false;
        return cell.closing ? undefined : cell.actor.check?.(now);
      })
      .catch((err: unknown) => ((cell.checkQueued = false), this.contextHost.failed(cell, err)));
  }

  private sweepIdle(): void {
    const now = Date.now();
    // forEach, not allCells(): a generator's results are garbage made for every live actor on every sweep.
    for (const [kind, ofKind] of this.cells) {
      const idleMs = this.kinds.get(kind)?.idleMs ?? this.opts.defaultIdleMs;
      ofKind.forEach((cell) => {
        const at = cell.actor.checkAt;
        if (at !== undefined && now >= at && !cell.checkQueued && !cell.deactivation && !cell.closing) this.runCheck(cell, now);
        if (!cell.deactivation && cell.mailbox.size === 0 && now - cell.lastActive > idleMs && !cell.actor.holdsLiveState?.()) void this.deactivate(cell, 'idle');
      });
    }
  }
}
