import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { shardFunctionFingerprint, shardKey, shardOf } from '../../protocol/shard-hash.js';
import { directConversationId } from '../../storage/conversation-store.js';

const uid = fc.string({ minLength: 1, maxLength: 40, unit: 'grapheme' });

describe('shard hash – direct conversations live with their first member', () => {
  it('shard hash – a direct conversation has the shard of the smaller of its two user ids, whatever characters they hold', () => {
    fc.assert(
      fc.property(uid, uid, fc.integer({ min: 1, max: 4096 }), (a, b, shards) => {
        fc.pre(a !== b);
        const conv = directConversationId(a, b);
        const first = a < b ? a : b;
        if (conv.startsWith('d:#')) expect(shardKey(conv)).toBe(conv);
        else {
          expect(shardKey(conv)).toBe(first);
          expect(shardOf(conv, shards)).toBe(shardOf(first, shards));
        }
      }),
      { numRuns: 500 },
    );
  });

  it('shard hash – other keys, and keys that only look like direct ids, hash whole', () => {
    for (const key of ['alice', 'g:team', 'd:', 'd:x', 'd:5:alice', 'd:5:alice:', 'd:0::b', 'd:99999:a:b', 'd:#00ff', 'd:3:abcd:e']) {
      expect(shardKey(key)).toBe(key);
    }
    expect(shardKey('d:5:alice:bob')).toBe('alice');
    expect(shardKey('d:1:a:b')).toBe('a');
  });
});

describe('shard hash – fixed for the life of a cluster', () => {
  it('shard hash – the fingerprint of the shard function is the one clusters recorded: a change here makes every existing cluster refuse the new nodes', () => {
    expect(shardFunctionFingerprint()).toBe('bzyb64.7cq7qr.tfm87z.ent5vc.2f543z.tfm87z.xo3r6f.fwpmqq.damkd3');
    // The same answer every time, and a direct conversation's part is its first member's.
    expect(shardFunctionFingerprint()).toBe(shardFunctionFingerprint());
    expect(shardFunctionFingerprint().split('.')[5]).toBe(shardFunctionFingerprint().split('.')[2]);
  });
});
