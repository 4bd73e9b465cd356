import { describe, expect, it } from 'vitest';
import { directPeer } from '../../protocol/conv-id.js';
import { idProblem } from '../../protocol/validate-fields.js';
import { checkId, directConversationId } from '../../storage/conversation-store.js';

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

  it('conversation ids – a pair whose id would pass 128 bytes of UTF-8 is hashed, and every id is one a client may send', () => {
    const [a, b] = ['а'.repeat(40), 'б'.repeat(40)]; // Cyrillic: 86 characters, 166 bytes unhashed
    const conv = directConversationId(a, b);
    expect(conv.startsWith('d:#')).toBe(true);
    expect(idProblem(conv)).toBeUndefined();
    expect(idProblem(directConversationId('alice', 'bob'))).toBeUndefined();
  });

  it('conversation ids – ids the stores take are those frames and tokens may carry: no control characters, 128 bytes at most', () => {
    expect(() => checkId('bob\u0000', 'uid')).toThrow(/control characters/);
    expect(() => checkId('é'.repeat(65), 'uid')).toThrow(/128 bytes/);
    expect(() => checkId('', 'uid')).toThrow(/empty/);
    expect(() => checkId('é'.repeat(64), 'uid')).not.toThrow();
    expect(() => checkId('a\ud800', 'uid')).toThrow(/lone surrogates/);
    expect(() => checkId('\udc00b', 'uid')).toThrow(/lone surrogates/);
    expect(() => checkId('😀', 'uid')).not.toThrow();
  });
});
