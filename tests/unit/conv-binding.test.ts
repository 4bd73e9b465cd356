import type { NatsConnection } from 'nats';
import { describe, expect, it } from 'vitest';
import { ConvBinding } from '../../actors/gateway/conv-binding.js';
import type { Session } from '../../actors/gateway/session.js';

/** Records which subjects are subscribed (a stand-in for NATS: only subscribe/unsubscribe are used). */
function fakeNats(): { nc: NatsConnection; subjects: Set<string> } {
  const subjects = new Set<string>();
  const nc = {
    subscribe: (subject: string) => {
      subjects.add(subject);
      return { unsubscribe: () => subjects.delete(subject) };
    },
  } as unknown as NatsConnection;
  return { nc, subjects };
}

const session = (): Session => ({ state: 'open', attachGen: 1, bound: undefined }) as unknown as Session;

describe('gateway conversation binding', () => {
  it('gateway – an attach answer drops large conversations bound before it and missing from it, keeps those bound since', () => {
    const { nc, subjects } = fakeNats();
    const b = new ConvBinding(nc, () => {});
    const s = session();
    b.bind(s, 'kept');
    b.bind(s, 'left-meanwhile');
    // The next attach goes out; while it is under way a join's bind arrives that its answer may not know of yet.
    s.attachGen = 2;
    b.bind(s, 'joined-meanwhile');
    b.keepOnly(s, ['kept'], 2);
    expect([...s.bound!.keys()].sort()).toEqual(['joined-meanwhile', 'kept']);
    expect([...subjects].sort()).toEqual(['im.conv.joined-meanwhile', 'im.conv.kept']);
  });

  it('gateway – a conversation subject is held while any session takes it and dropped with the last one', () => {
    const { nc, subjects } = fakeNats();
    const b = new ConvBinding(nc, () => {});
    const [s1, s2] = [session(), session()];
    b.bind(s1, 'g');
    b.bind(s2, 'g');
    b.bind(s2, 'g');
    b.drop(s1);
    expect(subjects.size).toBe(1);
    b.keepOnly(s2, [], 2);
    expect(subjects.size).toBe(0);
    expect(b.size).toBe(0);
  });
});
