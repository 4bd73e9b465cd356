import { describe, expect, it } from 'vitest';
import { refreshConvStates, type ConvState } from '../../actors/conv-state.js';
import type { UserConversation } from '../../storage/user-conversations.js';

const row = (convId: string, memberCount: number): UserConversation => ({
  convId,
  kind: 'group',
  lastSeq: 9,
  readSeq: 4,
  seenSeq: 4,
  deliveredSeq: 7,
  unread: 5,
  memberCount,
  mutedUntil: 0,
  silencedUntil: 0,
  pinnedAt: 0,
  archivedAt: 0,
  markedUnreadAt: 0,
  clearedSeq: 0,
});

describe('conversation list rows – what devices are told', () => {
  it('conversation list rows – the user\'s delivery mark goes with small conversations, not with large groups, which keep none', () => {
    const convs = new Map<string, ConvState>();
    const rows = refreshConvStates(convs, [row('small', 3), row('big', 101)], 100, undefined);
    expect(rows.find((r) => r.conv === 'small')).toMatchObject({ deliveredSeq: 7 });
    expect(rows.find((r) => r.conv === 'big')).not.toHaveProperty('deliveredSeq');
    expect(convs.get('big')?.large).toBe(true);
  });

  it('conversation list rows – a connector starts from the stored delivery mark (or what it knew, if more): a first ack below it is no news', () => {
    const convs = new Map<string, ConvState>();
    refreshConvStates(convs, [row('small', 3)], 100, undefined);
    expect(convs.get('small')?.deliveredSeq).toBe(7);
    convs.get('small')!.deliveredSeq = 8;
    refreshConvStates(convs, [row('small', 3)], 100, undefined);
    expect(convs.get('small')?.deliveredSeq).toBe(8);
  });
});
