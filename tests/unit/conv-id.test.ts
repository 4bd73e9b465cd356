import { describe, expect, it } from 'vitest';
import { directPeer } from '../../protocol/conv-id.js';
import { directConversationId } from '../../storage/conversation-store.js';

describe('conversation ids', () => {
  it('conversation ids – the other member of a direct conversation is read from its id, for either member', () => {
    const conv = directConversationId('bob', 'alice');
    expect(directPeer(conv, 'alice')).toBe('bob');
    expect(directPeer(conv, 'bob')).toBe('alice');
    const odd = directConversationId('a:b', 'c:d');
    expect(directPeer(odd, 'a:b')).toBe('c:d');
    expect(directPeer(odd, 'c:d')).toBe('a:b');
  });

  it('conversation ids – no peer for a stranger, a group, a hashed pair or a malformed id', () => {
    expect(directPeer(directConversationId('alice', 'bob'), 'carol')).toBeUndefined();
    expect(directPeer('g:team', 'alice')).toBeUndefined();
    const hashed = directConversationId('x'.repeat(100), 'y'.repeat(100));
    expect(hashed.startsWith('d:#')).toBe(true);
    expect(directPeer(hashed, 'x'.repeat(100))).toBeUndefined();
    for (const bad of ['d:9:a:b', 'd:0::b', 'd:1:a:', 'd:x:a:b', 'd:', 'd:1:ab']) expect(directPeer(bad, 'a')).toBeUndefined();
  });
});
