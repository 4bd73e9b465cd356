import { describe, expect, it } from 'vitest';
import { closeLabel } from '../../actors/gateway/gateway-stats.js';
import { CloseCode } from '../../protocol/close-codes.js';

describe('gateway stats – close codes as metric labels', () => {
  it('gateway stats – the protocol\'s and WebSocket\'s codes keep their number; codes a client made up are one label, other', () => {
    expect(closeLabel(CloseCode.SLOW_CONSUMER)).toBe('4013');
    expect(closeLabel(1006)).toBe('1006');
    expect(closeLabel(1001)).toBe('1001');
    const madeUp = new Set([...Array.from({ length: 1000 }, (_, i) => closeLabel(3000 + i)), ...Array.from({ length: 500 }, (_, i) => closeLabel(4500 + i))]);
    expect([...madeUp]).toEqual(['other']);
    expect(closeLabel(4999)).toBe('other');
  });
});
