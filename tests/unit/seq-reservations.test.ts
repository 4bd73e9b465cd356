import { describe, expect, it } from 'vitest';
import { SeqReservations } from '../../actors/seq-reservations.js';
import { ErrorCode, ImError } from '../../protocol/errors.js';
import type { Fence } from '../../storage/types.js';

const STEP = 100;
const fence = (shard: number, epoch: number): Fence => ({ kind: 'chatter', shard, epoch });

/** Reservations over a fake segment table: each grab raises the named segment to `id + step` (never lowers it). */
function harness() {
  const tops = new Map<string, number>();
  const grabs: string[] = [];
  let fail: ImError | undefined;
  let hold: Promise<void> | undefined;
  const seqs = new SeqReservations(async (name, f, id, step) => {
    grabs.push(`${name}@${f.epoch}:${id}`);
    await hold;
    if (fail) throw fail;
    const top = Math.max(tops.get(name) ?? 0, id + step);
    tops.set(name, top);
    return top;
  }, STEP);
  return {
    seqs,
    grabs,
    tops,
    failWith: (e: ImError | undefined) => (fail = e),
    holdUntil: (p: Promise<void> | undefined) => (hold = p),
  };
}

describe('seq reservations', () => {
  it('seqs – a seq is given out only once its shard segment covers it; one grab covers the next step of seqs', async () => {
    const h = harness();
    expect(h.seqs.covers(fence(3, 1), 1)).toBe(false);
    await h.seqs.reserve(fence(3, 1), 1);
    expect(h.tops.get('chatter:3')).toBe(1 + STEP);
    for (const seq of [1, 50, 1 + STEP]) expect(h.seqs.covers(fence(3, 1), seq)).toBe(true);
    expect(h.seqs.covers(fence(3, 1), 2 + STEP)).toBe(false);
    // Another shard has a segment of its own.
    expect(h.seqs.covers(fence(4, 1), 1)).toBe(false);
    await h.seqs.reserve(fence(3, 1), 50);
    expect(h.grabs).toEqual(['chatter:3@1:1']);
  });

  it('seqs – chatters of one shard waiting at once share one grab; a failed grab fails each of them, and the next send grabs again', async () => {
    const h = harness();
    let release!: () => void;
    h.holdUntil(new Promise<void>((r) => (release = r)));
    h.failWith(new ImError(ErrorCode.STORAGE, 'postgres away'));
    const waiting = [h.seqs.reserve(fence(1, 2), 10), h.seqs.reserve(fence(1, 2), 20)];
    release();
    for (const w of waiting) await expect(w).rejects.toMatchObject({ code: ErrorCode.STORAGE });
    expect(h.grabs).toEqual(['chatter:1@2:10']);
    h.holdUntil(undefined);
    h.failWith(undefined);
    await h.seqs.reserve(fence(1, 2), 20);
    expect(h.seqs.covers(fence(1, 2), 20)).toBe(true);
    expect(h.grabs).toEqual(['chatter:1@2:10', 'chatter:1@2:20']);
  });

  it('seqs – a reservation is trusted only at its own epoch: a shard back at a newer epoch grabs again, a deposed chatter grabs nothing', async () => {
    const h = harness();
    await h.seqs.reserve(fence(5, 1), 1);
    expect(h.seqs.covers(fence(5, 2), 1)).toBe(false);
    await h.seqs.reserve(fence(5, 2), 7);
    expect(h.seqs.covers(fence(5, 2), 7)).toBe(true);
    // The older epoch's chatter is fenced out at commit: no grab made for it, and its reservation is gone.
    await h.seqs.reserve(fence(5, 1), 500);
    expect(h.seqs.covers(fence(5, 1), 1)).toBe(false);
    expect(h.grabs).toEqual(['chatter:5@1:1', 'chatter:5@2:7']);
  });

  it('seqs – warming at activation grabs ahead without waiting and swallows a failure, which the first send then meets', async () => {
    const h = harness();
    h.failWith(new ImError(ErrorCode.STORAGE, 'postgres away'));
    h.seqs.warm(fence(2, 1), 1);
    await new Promise((r) => setTimeout(r, 0));
    expect(h.seqs.covers(fence(2, 1), 1)).toBe(false);
    await expect(h.seqs.reserve(fence(2, 1), 1)).rejects.toMatchObject({ code: ErrorCode.STORAGE });
    h.failWith(undefined);
    h.seqs.warm(fence(2, 1), 1);
    await new Promise((r) => setTimeout(r, 0));
    expect(h.seqs.covers(fence(2, 1), 1)).toBe(true);
  });
});
