import type { NatsConnection } from 'nats';
import { describe, expect, it, vi } from 'vitest';
import { ConvBinding } from '../../actors/gateway/conv-binding.js';
import type { Session } from '../../actors/gateway/session.js';
import { decode, encode, encodeFrame } from '../../protocol/codec.js';
import { CONV_MEMBERS_LEFT } from '../../protocol/chat-ops.js';

type Callback = (err: Error | null, msg: { data: Uint8Array }) => void;

/** Records which subjects are subscribed; `publish` hands a message to a subject's callback, `flushed` ends the pending flushes. */
function fakeNats() {
  const subjects = new Set<string>();
  const callbacks = new Map<string, Callback>();
  let flushes: (() => void)[] = [];
  const nc = {
    subscribe: (subject: string, opts: { callback: Callback }) => {
      subjects.add(subject);
      callbacks.set(subject, opts.callback);
      return { unsubscribe: () => subjects.delete(subject) };
    },
    flush: () => new Promise<void>((r) => flushes.push(r)),
  } as unknown as NatsConnection;
  const publish = (subject: string, frame: Parameters<typeof encodeFrame>[0]) => callbacks.get(subject)?.(null, { data: encodeFrame(frame) });
  /** What a chatter publishes that is no client frame (ConvMembersLeft). */
  const publishRaw = (subject: string, value: unknown) => callbacks.get(subject)?.(null, { data: encode(value) });
  const flushed = async () => {
    for (const r of flushes.splice(0)) r();
    await new Promise((r) => setImmediate(r));
  };
  return { nc, subjects, publish, publishRaw, flushed };
}

const msgFrame = (seq: number) => ({ type: 'msg' as const, conv: 'g', seq, prev: seq - 1, from: 'u', did: 'd', cid: seq, ts: seq, body: 'hi' });

const session = (): Session => ({ state: 'open', attachGen: 1, bound: undefined }) as unknown as Session;

describe('gateway conversation binding', () => {
  it("gateway – members the chatter says left stop getting the group's messages at once, before their connector unbinds them; the notice reaches no client", async () => {
    const { nc, subjects, publishRaw, publish, flushed } = fakeNats();
    const got = new Map<string, number[]>();
    const b = new ConvBinding(nc, (s, bytes) => got.set(s.uid, [...(got.get(s.uid) ?? []), (decode(bytes) as { seq?: number }).seq ?? -1]), async () => 0);
    const [ann, bob, bobTablet] = [{ ...session(), uid: 'ann' }, { ...session(), uid: 'bob' }, { ...session(), uid: 'bob' }] as Session[];
    for (const s of [ann!, bob!, bobTablet!]) b.bind(s, 'g');
    await flushed();
    publish('im.conv.g', msgFrame(7));
    publishRaw('im.conv.g', { type: CONV_MEMBERS_LEFT, uids: ['bob'] });
    publish('im.conv.g', msgFrame(8));
    expect(Object.fromEntries(got)).toEqual({ ann: [7, 8], bob: [7, 7] });
    expect(bob!.bound?.has('g')).toBe(false);
    expect(ann!.bound?.has('g')).toBe(true);
    // The last member here leaving ends the subscription.
    publishRaw('im.conv.g', { type: CONV_MEMBERS_LEFT, uids: ['ann'] });
    expect([...subjects]).toEqual([]);
  });

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

  it("gateway – a newcomer's session gets no replayed message from before its history starts; later ones, other frames and other members' sessions get theirs", async () => {
    const { nc, publish, flushed } = fakeNats();
    const got = new Map<Session, number[]>();
    const b = new ConvBinding(nc, (s, bytes) => got.set(s, [...(got.get(s) ?? []), (decode(bytes) as { seq?: number }).seq ?? 0]), async () => 0);
    const [old, newcomer] = [session(), session()];
    b.bind(old, 'g');
    // The newcomer's history starts past 7 (a group that shows newcomers only what follows).
    b.joined(newcomer, 'g', 7);
    await flushed();
    // A replay after the chatter's NATS reconnect: 6 and 7 were fanned out before the join.
    publish('im.conv.g', msgFrame(6));
    publish('im.conv.g', msgFrame(7));
    publish('im.conv.g', msgFrame(8));
    publish('im.conv.g', { type: 'typing', conv: 'g', from: 'u' });
    expect(got.get(old)).toEqual([6, 7, 8, 0]);
    expect(got.get(newcomer)).toEqual([8, 0]);
    // Left and back with a history from the start: nothing is held back any more.
    b.left(newcomer, 'g');
    expect(newcomer.hiddenUpTo).toBeUndefined();
    b.joined(newcomer, 'g');
    publish('im.conv.g', msgFrame(6));
    expect(got.get(newcomer)).toEqual([8, 0, 6]);
  });

  it("gateway – a newcomer's session that takes the subject after a message its `joined` predates gets that message here, or re-syncs where the subject is new and Postgres has it", async () => {
    const { nc, publish, flushed } = fakeNats();
    const got = new Map<Session, number[]>();
    const resynced: Session[] = [];
    const b = new ConvBinding(nc, (s, bytes) => got.set(s, [...(got.get(s) ?? []), (decode(bytes) as { seq?: number }).seq ?? 0]), async (conv) => (conv === 'g' ? 4 : 9), (s) => resynced.push(s));
    const member = session();
    b.bind(member, 'g', 4);
    await flushed();
    // Joined at seq 4; its bind grace ended before its gateway heard the bind, and message 5 went out meanwhile.
    publish('im.conv.g', msgFrame(5));
    const newcomer = session();
    b.joined(newcomer, 'g', 0, 4);
    expect(got.get(newcomer)).toEqual([5]);
    // On a gateway where no session took the subject yet, message 9 reached nobody: the newcomer re-syncs once the
    // subscription stands, as Postgres has it.
    const alone = session();
    b.joined(alone, 'h', 0, 8);
    await flushed();
    expect(resynced).toEqual([alone]);
    // One whose `joined` had the latest message neither gets it again nor re-syncs.
    const current = session();
    b.joined(current, 'g', 0, 5);
    expect(got.get(current)).toBeUndefined();
    expect(resynced).toEqual([alone]);
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

  it('gateway – a session bound after a message its list predates gets that message (its prev shows the gap); one whose list has it gets nothing', async () => {
    const { nc, publish, flushed } = fakeNats();
    const got = new Map<Session, number>();
    const b = new ConvBinding(nc, (s) => got.set(s, (got.get(s) ?? 0) + 1), async () => 4);
    const [first, late, current] = [session(), session(), session()];
    b.bind(first, 'g', 4);
    await flushed();
    publish('im.conv.g', msgFrame(5));
    publish('im.conv.g', { type: 'typing', conv: 'g', from: 'u' });
    expect(got.get(first)).toBe(2);
    // Its connector read the list (last seq 4) before message 5; the binding came after.
    b.bind(late, 'g', 4);
    expect(got.get(late)).toBe(1);
    b.bind(current, 'g', 5);
    expect(got.get(current)).toBeUndefined();
  });

  it('gateway – sessions bound while the subject\'s subscription was new re-sync once the server surely has it, if Postgres holds a message past their list', async () => {
    const { nc, flushed } = fakeNats();
    const resynced: Session[] = [];
    const b = new ConvBinding(nc, () => {}, async () => 7, (s) => resynced.push(s));
    const [behind, current, closed, unlisted] = [session(), session(), session(), session()];
    b.bind(behind, 'g', 6);
    b.bind(current, 'g', 7);
    b.bind(closed, 'g', 3);
    b.bind(unlisted, 'g');
    (closed as { state: string }).state = 'closed';
    expect(resynced).toEqual([]);
    await flushed();
    expect(resynced).toEqual([behind]);
    // Bound once the subscription stands, with a list as recent as Postgres was then: no re-sync (this gateway hears
    // whatever comes after).
    b.bind(session(), 'g', 7);
    await flushed();
    expect(resynced).toEqual([behind]);
  });

  it('gateway – a failed read of the new subject\'s last seq is made again: sessions bound meanwhile are checked against it, not all re-synced', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const { nc, flushed } = fakeNats();
      const resynced: Session[] = [];
      let reads = 0;
      const b = new ConvBinding(nc, () => {}, async () => (++reads === 1 ? Promise.reject(new Error('database away')) : 9), (s) => resynced.push(s));
      const [current, behind] = [session(), session()];
      b.bind(current, 'g', 9);
      await flushed();
      b.bind(behind, 'g', 8);
      expect(resynced).toEqual([]);
      await vi.advanceTimersByTimeAsync(1_100);
      expect(reads).toBe(2);
      expect(resynced).toEqual([behind]);
    } finally {
      vi.useRealTimers();
    }
  });

  it('gateway – a session bound late, with a list read before messages nobody here heard (a connect storm), re-syncs', async () => {
    const { nc, flushed } = fakeNats();
    const resynced: Session[] = [];
    let answer: (last: number) => void = () => {};
    const b = new ConvBinding(nc, () => {}, () => new Promise<number>((r) => (answer = r)), (s) => resynced.push(s));
    const [first, whileReading, late] = [session(), session(), session()];
    // Message 101 was published before this gateway took the subject; `first` listed 101.
    b.bind(first, 'g', 101);
    await flushed(); // the subscription stands; Postgres is being read
    b.bind(whileReading, 'g', 100); // its list was read before 101: checked against the read once it lands
    answer(101);
    await flushed();
    expect(resynced).toEqual([whileReading]);
    b.bind(late, 'g', 100); // the same, once the read is in
    expect(resynced).toEqual([whileReading, late]);
  });
});
