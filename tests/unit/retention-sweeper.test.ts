import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RetentionSweeper } from '../../actors/retention-sweeper.js';
import { silentLogger } from '../../runtime/logger.js';
import type { MessageRetentionStore, RetentionBatch } from '../../storage/message-retention-store.js';

const PASS = 1_000;
const GAP = 10;

/**
 * A sweeper over a fake store whose whole walk has `whole` batches (conversation ids w1, w2, …) and whose walk of
 * conversations with their own retention has `own` batches (o1, o2, …); every batch is recorded as "own:<after>" or
 * "all:<after>".
 */
function harness(whole: number, own: number, clusterSec = 86_400) {
  const calls: string[] = [];
  const next = (after: string, prefix: string, n: number): string | undefined => {
    const i = after === '' ? 0 : Number(after.slice(1));
    return i + 1 < n ? `${prefix}${i + 1}` : undefined;
  };
  const store = {
    sweep: async (after: string, _sec: number, ownOnly = false): Promise<RetentionBatch> => {
      calls.push(`${ownOnly ? 'own' : 'all'}:${after}`);
      const n = ownOnly ? next(after, 'o', own) : next(after, 'w', whole);
      return { busy: false, conversations: 0, deleted: 0, expired: [], ...(n !== undefined && { next: n }) };
    },
  } as unknown as MessageRetentionStore;
  const sweeper = new RetentionSweeper({ store, retentionSec: () => clusterSec, log: silentLogger(), passMs: PASS, batchGapMs: GAP });
  return { sweeper, calls };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('retention sweeper', () => {
  it('retention sweep – with a cluster retention, conversations with their own are walked every pass, between batches of a walk of every conversation that takes longer', async () => {
    const { sweeper, calls } = harness(1_000, 2);
    sweeper.start();
    await vi.advanceTimersByTimeAsync(GAP * 5);
    expect(calls.slice(0, 4)).toEqual(['own:', 'own:o1', 'all:', 'all:w1']);
    calls.length = 0;
    await vi.advanceTimersByTimeAsync(PASS);
    // The long walk went on where it was, and the short one came round again in the middle of it.
    expect(calls.filter((c) => c.startsWith('own:'))).toEqual(['own:', 'own:o1']);
    const at = calls.indexOf('own:');
    expect(calls[at - 1]).toMatch(/^all:w\d+$/);
    expect(calls[at + 2]).toBe(`all:w${Number(calls[at - 1]!.slice(5)) + 1}`);
    await sweeper.close();
  });

  it('retention sweep – a conversation\'s own retention changing does not send the long walk back to the start; the short walk comes at once, and again after one under way', async () => {
    const { sweeper, calls } = harness(1_000, 3);
    sweeper.start();
    await vi.advanceTimersByTimeAsync(GAP * 20);
    const before = calls.filter((c) => c.startsWith('all:')).length;
    calls.length = 0;
    // Many changes, one every batch: the long walk never starts over.
    for (let i = 0; i < 10; i++) {
      sweeper.settingChanged(true);
      await vi.advanceTimersByTimeAsync(GAP);
    }
    await vi.advanceTimersByTimeAsync(GAP * 20);
    const alls = calls.filter((c) => c.startsWith('all:'));
    expect(alls).not.toContain('all:');
    expect(Number(alls.at(-1)!.slice(5))).toBeGreaterThan(before);
    // Every short walk began reached its end.
    expect(calls.filter((c) => c === 'own:').length).toBe(calls.filter((c) => c === 'own:o2').length);
    expect(calls.filter((c) => c === 'own:').length).toBeGreaterThanOrEqual(2);
    await sweeper.close();
  });

  it('retention sweep – own retentions changing during every walk of those still leave the walk of every conversation a batch between two such walks', async () => {
    const { sweeper, calls } = harness(1_000, 5);
    sweeper.start();
    await vi.advanceTimersByTimeAsync(GAP * 20);
    calls.length = 0;
    // A change every batch: each walk of conversations with their own retention ends wanting another.
    for (let i = 0; i < 120; i++) {
      sweeper.settingChanged(true);
      await vi.advanceTimersByTimeAsync(GAP);
    }
    const walks = calls.filter((c) => c === 'own:').length;
    expect(walks).toBeGreaterThanOrEqual(10);
    expect(calls.filter((c) => c.startsWith('all:')).length).toBeGreaterThanOrEqual(walks - 1);
    await sweeper.close();
  });

  it('retention sweep – the cluster retention changing starts the walk of every conversation over', async () => {
    const { sweeper, calls } = harness(1_000, 1);
    sweeper.start();
    await vi.advanceTimersByTimeAsync(GAP * 20);
    calls.length = 0;
    sweeper.settingChanged();
    await vi.advanceTimersByTimeAsync(GAP * 3);
    expect(calls).toContain('all:');
    await sweeper.close();
  });

  it('retention sweep – with no cluster retention, only the conversations with their own are walked; a change during the walk brings another right after it, not a pass later', async () => {
    const { sweeper, calls } = harness(4, 0, 0);
    sweeper.start();
    await vi.advanceTimersByTimeAsync(GAP);
    sweeper.settingChanged(true);
    await vi.advanceTimersByTimeAsync(GAP * 10);
    expect(calls).toEqual(['all:', 'all:w1', 'all:w2', 'all:w3', 'all:', 'all:w1', 'all:w2', 'all:w3']);
    await vi.advanceTimersByTimeAsync(PASS - GAP * 20);
    expect(calls.length).toBe(8);
    await sweeper.close();
  });
});
