import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Msg } from '../../protocol/frames.js';
import { applyEdit } from '../../protocol/sdk/edits.js';

const original: Msg = { conv: 'c', seq: 5, prev: 4, from: 'ann', did: 'd', cid: 5, ts: 5, body: 'v0' };
const edit = (seq: number): Msg => ({ conv: 'c', seq, prev: seq - 1, from: 'ann', did: 'd', cid: seq, ts: seq, body: `v@${seq}`, edit: 5 });

describe('sdk edits', () => {
  it('sdk edits – whatever order edits arrive in (live, then older ones from a page scrolled back), the newest text is shown', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 6, max: 60 }), { minLength: 1, maxLength: 8 }), fc.boolean(), (seqs, fromHistory) => {
        const newest = Math.max(...seqs);
        // History gives the message with its newest text; live, the original comes first.
        let shown: Msg = fromHistory ? { ...original, body: `v@${newest}`, edited: newest } : original;
        for (const s of seqs) shown = applyEdit(shown, edit(s));
        expect([shown.body, shown.edited]).toEqual([`v@${newest}`, newest]);
      }),
    );
  });

  it('sdk edits – a recalled message, or one the user hid, stays empty, and an edit of another message changes nothing', () => {
    const recalled: Msg = { ...original, body: '', recalled: 9 };
    expect(applyEdit(recalled, edit(7))).toBe(recalled);
    const hidden: Msg = { ...original, body: '', hidden: true };
    expect(applyEdit(hidden, edit(7))).toBe(hidden);
    expect(applyEdit(original, { ...edit(7), edit: 4 })).toBe(original);
    expect(applyEdit(original, edit(7))).toMatchObject({ body: 'v@7', edited: 7 });
  });
});
