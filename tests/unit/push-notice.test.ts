import { describe, expect, it } from 'vitest';
import { namedInLarge } from '../../actors/push-event.js';
import type { Msg } from '../../protocol/frames.js';

const msg = (extra: Partial<Msg> = {}): Msg => ({ conv: 'g', seq: 7, prev: 6, from: 'ann', did: 'd', cid: 3, ts: 1, body: 'hi', ...extra });
const members = new Set(['ann', 'bob', 'cat', 'dan']);
const notMuted = (): number => 0;

describe('push notices of large groups', () => {
  it('push notices – a large group names the members a message mentions or replies to, once each, never the sender or a non-member', () => {
    expect(namedInLarge(msg(), members, notMuted)).toEqual([]);
    const named = namedInLarge(msg({ mentions: ['bob', 'ann', 'zed'], reply: 2, replyFrom: 'bob' }), members, notMuted);
    expect(named.map(([uid]) => uid)).toEqual(['bob']);
    expect(named[0]![1]).toEqual({ conv: 'g', seq: 7, from: 'ann', did: 'd', mentions: ['bob', 'ann', 'zed'], replyFrom: 'bob' });
    expect(namedInLarge(msg({ reply: 2, replyFrom: 'cat' }), members, notMuted).map(([uid]) => uid)).toEqual(['cat']);
  });

  it('push notices – a mention of all names every member but the sender, each muted one marked so', () => {
    const named = namedInLarge(msg({ mentionAll: true }), members, (uid) => (uid === 'dan' ? Date.now() + 60_000 : 0));
    expect(named.map(([uid, n]) => [uid, n.mentionAll, n.muted ?? false])).toEqual([
      ['bob', true, false],
      ['cat', true, false],
      ['dan', true, true],
    ]);
  });
});
