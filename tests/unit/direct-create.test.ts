import { describe, expect, it } from 'vitest';
import { createDirectConversation, type DirectCreateDeps } from '../../actors/direct-create.js';
import { ErrorCode, ImError } from '../../protocol/errors.js';
import { directConversationId } from '../../storage/conversation-store.js';

/** In-memory members; `createDirect` stores both and then, if `lose` says so, throws as a statement past its deadline does. */
function deps(lose: () => boolean, readFails = false, lastSeqFails = false) {
  const members = new Map<string, Set<string>>();
  const told: string[] = [];
  const events: unknown[] = [];
  const d: DirectCreateDeps = {
    convs: {
      createDirect: async (a: string, b: string) => {
        const conv = directConversationId(a, b);
        const set = members.get(conv) ?? new Set<string>();
        const added = [a, b].filter((u) => !set.has(u)).sort();
        for (const u of [a, b]) set.add(u);
        members.set(conv, set);
        if (lose()) throw new ImError(ErrorCode.TIMEOUT, 'create direct conversation: no answer within 10000 ms');
        return { convId: conv, kind: 'direct', added } as never;
      },
      members: async (conv: string) => {
        if (readFails) throw new ImError(ErrorCode.UNAVAILABLE, 'database unreachable');
        return [...(members.get(conv) ?? [])].map((uid) => ({ uid })) as never;
      },
    },
    messages: {
      lastSeq: async () => {
        if (lastSeqFails) throw new ImError(ErrorCode.TIMEOUT, 'read last seq: no answer within 10000 ms');
        return 0;
      },
    },
    router: { call: async () => ({}), tell: (_kind: string, key: string, op: string) => void told.push(`${key} ${op}`) } as never,
    event: (e) => void events.push(e),
  };
  return { d, told, events };
}

describe('direct conversation creation – server API', () => {
  it('direct creation – a creation that committed past its deadline answers as done and tells both users and the business server, once', async () => {
    let lost = 1;
    const { d, told, events } = deps(() => lost-- > 0);
    expect(await createDirectConversation(d, 'bob', 'ann')).toEqual({ conv: directConversationId('ann', 'bob'), kind: 'direct' });
    expect(told).toEqual(['ann joined', 'bob joined']);
    expect(events).toMatchObject([{ type: 'members', added: ['ann', 'bob'], removed: [] }]);
    // The business server's get-or-create again: nothing new, nobody told.
    expect(await createDirectConversation(d, 'ann', 'bob')).toEqual({ conv: directConversationId('ann', 'bob'), kind: 'direct' });
    expect(told).toHaveLength(2);
    expect(events).toHaveLength(1);
  });

  it('direct creation – a read that fails after the commit still tells both users, and answers as done', async () => {
    const { d, told, events } = deps(() => false, false, true);
    expect(await createDirectConversation(d, 'bob', 'ann')).toEqual({ conv: directConversationId('ann', 'bob'), kind: 'direct' });
    expect(told).toEqual(['ann joined', 'bob joined']);
    expect(events).toHaveLength(1);
  });

  it('direct creation – a lost answer that cannot be confirmed (Postgres still failing) is the error, and tells nobody', async () => {
    const { d, told } = deps(() => true, true);
    await expect(createDirectConversation(d, 'ann', 'bob')).rejects.toMatchObject({ code: ErrorCode.TIMEOUT });
    expect(told).toEqual([]);
  });
});
