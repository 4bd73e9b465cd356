import { ErrorCode, ImError } from '../protocol/errors.js';
import type { Actor, ActorContext, ActorKind } from '../runtime/actor.js';
import { CounterStore } from '../storage/counter-store.js';
import type { Sql } from '../storage/db.js';

export const COUNTER_KIND = 'counter';

/** Operations of the counter actor. */
export interface CounterIncrement {
  opId: string;
}
export interface CounterReply {
  value: number;
  duplicate: boolean;
  node: string;
  epoch: number;
}

/**
 * A diagnostic actor: applies uniquely numbered increments exactly once and persists each one with the
 * shard epoch, so tests and operators can check exactly-once and fencing end to end.
 */
class CounterActor implements Actor {
  private state = { value: 0, applied: new Map<string, number>() };
  /** An apply failed, and may have committed all the same (a timeout): what is stored is read again before the next op. */
  private stale = false;

  constructor(
    private readonly ctx: ActorContext,
    private readonly store: Pick<CounterStore, 'load' | 'apply'>,
  ) {}

  async onActivate(): Promise<void> {
    this.state = await this.store.load(this.ctx.key);
  }

  async handle(op: string, payload: unknown): Promise<CounterReply> {
    const reply = (value: number, duplicate: boolean): CounterReply => ({ value, duplicate, node: this.ctx.nodeId, epoch: this.ctx.fence.epoch });
    // Otherwise a retry of an op that did commit would hit its primary key (conflict), and a new op reuse its value.
    if (this.stale) {
      this.state = await this.store.load(this.ctx.key);
      this.stale = false;
    }
    switch (op) {
      case 'get':
        return reply(this.state.value, false);
      case 'inc': {
        const opId = (payload as { opId?: unknown } | null)?.opId;
        if (typeof opId !== 'string' || opId.length === 0 || opId.length > 128) {
          throw new ImError(ErrorCode.INVALID_FIELD, 'inc needs opId: a non-empty string of at most 128 characters');
        }
        const seen = this.state.applied.get(opId);
        if (seen !== undefined) return reply(seen, true);
        const next = this.state.value + 1;
        try {
          await this.store.apply(this.ctx.key, opId, next, this.ctx.fence, this.ctx.nodeId);
        } catch (err) {
          this.stale = true;
          throw err;
        }
        this.state.value = next;
        this.state.applied.set(opId, next);
        return reply(next, false);
      }
      default:
        throw new ImError(ErrorCode.UNKNOWN_TYPE, `counter has no operation "${op}"`);
    }
  }
}

/** The counter actor kind, persisting through `sql` (or `store`, in tests). */
export function counterKind(sql: Sql, idleMs?: number, store: Pick<CounterStore, 'load' | 'apply'> = new CounterStore(sql)): ActorKind {
  return idleMs === undefined
    ? { kind: COUNTER_KIND, create: (ctx) => new CounterActor(ctx, store) }
    : { kind: COUNTER_KIND, create: (ctx) => new CounterActor(ctx, store), idleMs };
}
