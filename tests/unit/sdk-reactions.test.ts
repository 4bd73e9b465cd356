import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Msg, Reactions } from '../../protocol/frames.js';
import { applyReaction, NO_REACTIONS } from '../../protocol/sdk/reactions.js';

const reaction = (seq: number, from: string, body: string, was?: string): Msg => ({ conv: 'c', seq, prev: seq - 1, from, did: 'd', cid: seq, ts: seq, body, react: 1, ...(was === undefined ? {} : { was }) });

/** What the server holds after `msgs` (reactions to one message, in seq order): counts in first-use order, and `me`'s own. */
function serverState(msgs: Msg[], me: string): Reactions {
  const latest = new Map<string, string>();
  const order: string[] = [];
  for (const m of msgs) {
    latest.set(m.from, m.body);
    if (m.body !== '' && !order.includes(m.body)) order.push(m.body);
  }
  const counts = order.map((emoji) => ({ emoji, n: [...latest.values()].filter((e) => e === emoji).length })).filter((c) => c.n > 0);
  const mine = latest.get(me);
  return { counts, at: msgs.at(-1)?.seq ?? 0, ...(mine ? { mine } : {}) };
}

/** The reactions with the `was` the chatter gives each: the sender's reaction before it. */
function withWas(list: { from: string; body: string }[]): Msg[] {
  const had = new Map<string, string>();
  return list.map((o, i) => {
    const m = reaction(i + 2, o.from, o.body, had.get(o.from) || undefined);
    had.set(o.from, o.body);
    return m;
  });
}

describe('sdk reactions', () => {
  it('sdk reactions – counts go up with a reaction and down with the one it replaces; an empty one takes it back; one already counted changes nothing', () => {
    let r = NO_REACTIONS;
    r = applyReaction(r, reaction(2, 'ann', '👍'), 'bob');
    r = applyReaction(r, reaction(3, 'bob', '👍'), 'bob');
    r = applyReaction(r, reaction(4, 'ann', '🎉', '👍'), 'bob');
    expect(r).toEqual({ counts: [{ emoji: '👍', n: 1 }, { emoji: '🎉', n: 1 }], at: 4, mine: '👍' });
    expect(applyReaction(r, reaction(3, 'bob', '👍'), 'bob')).toBe(r);
    r = applyReaction(r, reaction(5, 'bob', '', '👍'), 'bob');
    expect(r).toEqual({ counts: [{ emoji: '🎉', n: 1 }], at: 5 });
    expect(applyReaction(r, { ...reaction(6, 'cat', 'x'), react: undefined } as Msg, 'bob')).toBe(r);
  });

  it('sdk reactions – applied in seq order (some twice) on top of a page read at any point, they end at what the server holds', () => {
    const ops = fc.array(fc.record({ from: fc.constantFrom('ann', 'bob', 'cat'), body: fc.constantFrom('', '👍', '❤️', '🎉') }), { minLength: 1, maxLength: 14 });
    fc.assert(
      fc.property(ops, fc.nat(), fc.infiniteStream(fc.nat()), (list, cut, picks) => {
        const msgs = withWas(list);
        // A page read after the first `cut` reactions, then the chain's reactions from the start, some twice in a row.
        let page = serverState(msgs.slice(0, cut % (msgs.length + 1)), 'bob');
        const it = picks[Symbol.iterator]();
        for (const m of msgs.flatMap((m) => (it.next().value % 2 === 0 ? [m, m] : [m]))) page = applyReaction(page, m, 'bob');
        const want = serverState(msgs, 'bob');
        // Order may differ where a reaction went to none and came back; the counts and `mine` may not.
        const sorted = (r: Reactions) => ({ ...r, counts: [...r.counts].sort((a, b) => a.emoji.localeCompare(b.emoji)) });
        expect(sorted(page)).toEqual(sorted(want));
      }),
    );
  });
});
