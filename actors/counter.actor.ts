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

  constructor(
    private readonly ctx: ActorContext,
    private readonly store: CounterStore,
  ) {}

  async onActivate(): Promise<void> {
    this.state = await this.store.load(this.ctx.key);
  }

  async handle(op: string, payload: unknown): Promise<CounterReply> {
    const reply = (value: number, duplicate: boolean): CounterReply => ({ value, duplicate, node: this.ctx.nodeId, epoch: this.ctx.fence.epoch });
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
        await this.store.apply(this.ctx.key, opId, next, this.ctx.fence, this.ctx.nodeId);
        this.state.value = next;
        this.state.applied.set(opId, next);
        return reply(next, false);
      }
      default:
        throw new ImError(ErrorCode.UNKNOWN_TYPE, `counter has no operation "${op}"`);
    }
  }
}

/** The counter actor kind, persisting through `sql`. */
export function counterKind(sql: Sql, idleMs?: number): ActorKind {
  const store = new CounterStore(sql);
  return idleMs === undefined
    ? { kind: COUNTER_KIND, create: (ctx) => new CounterActor(ctx, store) }
    : { kind: COUNTER_KIND, create: (ctx) => new CounterActor(ctx, store), idleMs };
}
