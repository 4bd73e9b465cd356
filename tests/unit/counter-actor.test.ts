import { afterEach, describe, expect, it } from 'vitest';
import { counterKind, type CounterReply } from '../../actors/counter.actor.js';
import { ErrorCode, ImError } from '../../protocol/errors.js';
import { ActorHost, type ActorSender } from '../../runtime/actor-host.js';
import { silentLogger } from '../../runtime/logger.js';
import type { CounterState } from '../../storage/counter-store.js';

const sender: ActorSender = { call: async () => null, tell: () => {} };
const fence = { kind: 'counter', shard: 0, epoch: 1 };

/** A store in memory whose next apply commits and then times out, as a statement whose answer never came. */
function flakyStore() {
  const rows = new Map<string, number>();
  let failNext = false;
  return {
    rows,
    failOnce: () => void (failNext = true),
    async load(): Promise<CounterState> {
      return { value: Math.max(0, ...rows.values()), applied: new Map(rows) };
    },
    async apply(_key: string, opId: string, value: number): Promise<void> {
      if (rows.has(opId)) throw new ImError(ErrorCode.CONFLICT, `op ${opId} stored already`);
      rows.set(opId, value);
      if (failNext) {
        failNext = false;
        throw new ImError(ErrorCode.TIMEOUT, 'no answer in time');
      }
    },
  };
}

describe('counter actor', () => {
  let host: ActorHost | undefined;
  afterEach(async () => {
    await host?.close();
  });

  it('counter – an increment whose apply committed but timed out is a duplicate when retried, and the next op takes the next value', async () => {
    const store = flakyStore();
    host = new ActorHost({ nodeId: 'n', kinds: [counterKind(undefined as never, undefined, store)], sender, log: silentLogger(), defaultIdleMs: 60_000, onFenced: () => {} });
    const inc = (opId: string) => host!.dispatch('counter', 'c', fence, 'inc', { opId }) as Promise<CounterReply>;
    expect(await inc('a')).toMatchObject({ value: 1, duplicate: false });
    store.failOnce();
    await expect(inc('b')).rejects.toMatchObject({ code: ErrorCode.TIMEOUT });
    expect(await inc('b')).toMatchObject({ value: 2, duplicate: true });
    expect(await inc('c')).toMatchObject({ value: 3, duplicate: false });
    expect([...store.rows.values()].sort()).toEqual([1, 2, 3]);
  });
});
