import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Msg, Reaction } from '../../protocol/frames.js';
import { applyReaction } from '../../protocol/sdk/reactions.js';

const reaction = (seq: number, from: string, body: string): Msg => ({ conv: 'c', seq, prev: seq - 1, from, did: 'd', cid: seq, ts: seq, body, react: 1 });

describe('sdk reactions', () => {
  it('sdk reactions – a user has one reaction, their latest; an empty one takes it back; an older one changes nothing', () => {
    let r: readonly Reaction[] = [];
    r = applyReaction(r, reaction(2, 'ann', '👍'));
    r = applyReaction(r, reaction(3, 'bob', '❤️'));
    r = applyReaction(r, reaction(4, 'ann', '🎉'));
    expect(r).toEqual([{ uid: 'bob', emoji: '❤️', seq: 3 }, { uid: 'ann', emoji: '🎉', seq: 4 }]);
    expect(applyReaction(r, reaction(2, 'ann', '👍'))).toBe(r);
    r = applyReaction(r, reaction(5, 'bob', ''));
    expect(r).toEqual([{ uid: 'ann', emoji: '🎉', seq: 4 }]);
    expect(applyReaction(r, { ...reaction(6, 'cat', 'x'), react: undefined } as Msg)).toBe(r);
  });

  it('sdk reactions – applied in seq order (some twice) on top of a page read at any point, they end at the latest per user', () => {
    const ops = fc.array(fc.record({ from: fc.constantFrom('ann', 'bob', 'cat'), body: fc.constantFrom('', '👍', '❤️') }), { minLength: 1, maxLength: 12 });
    fc.assert(
      fc.property(ops, fc.nat(), fc.infiniteStream(fc.nat()), (list, cut, picks) => {
        const msgs = list.map((o, i) => reaction(i + 2, o.from, o.body));
        // What the server holds: each user's latest, when not empty.
        const latest = new Map<string, Msg>();
        for (const m of msgs) latest.set(m.from, m);
        const want = [...latest.values()].filter((m) => m.body !== '').map((m) => ({ uid: m.from, emoji: m.body, seq: m.seq })).sort((a, b) => a.seq - b.seq);
        // A page read after the first `cut` reactions, then the chain's reactions from the start, some twice in a row.
        let page: readonly Reaction[] = [];
        for (const m of msgs.slice(0, cut % (msgs.length + 1))) page = applyReaction(page, m);
        const it = picks[Symbol.iterator]();
        for (const m of msgs.flatMap((m) => (it.next().value % 2 === 0 ? [m, m] : [m]))) page = applyReaction(page, m);
        expect(page).toEqual(want);
      }),
    );
  });
});
