import { describe, expect, it } from 'vitest';
import { ErrorCode, ImError } from '../../protocol/errors.js';
import type { SendFrame } from '../../protocol/frames.js';
import { OutboundQueue, type OutboundQueueOptions } from '../../protocol/sdk/outbound-queue.js';
import { storageOutbox, type OutboxRecord, type StringStorage } from '../../protocol/sdk/outbox.js';

/** A Web-Storage-like map that counts its writes. */
function memoryStorage(initial?: OutboxRecord | string) {
  const map = new Map<string, string>();
  if (initial !== undefined) map.set('k', typeof initial === 'string' ? initial : JSON.stringify(initial));
  const writes = { n: 0 };
  const storage: StringStorage = {
    getItem: (k) => map.get(k) ?? null,
    setItem: (k, v) => (writes.n++, map.set(k, v)),
    removeItem: (k) => (writes.n++, map.delete(k)),
  };
  const stored = (): OutboxRecord | undefined => (map.has('k') ? (JSON.parse(map.get('k')!) as OutboxRecord) : undefined);
  return { storage, stored, writes };
}

/** A queue over an outbox in `storage`, offline until `online` is set. */
function harness(storage: StringStorage, opts: Partial<OutboundQueueOptions> = {}) {
  const wire: SendFrame[] = [];
  const failed: { cid: number; code: string }[] = [];
  const sent: { cid: number; seq: number; body: string }[] = [];
  const errors: ImError[] = [];
  const state = { online: false };
  const q = new OutboundQueue({
    transmit: (f) => state.online && (wire.push(f), true),
    random: () => 0.5,
    sendRetryMs: 0,
    onFailed: (f) => failed.push({ cid: f.cid, code: f.error.code }),
    onSent: (r, d) => sent.push({ cid: r.cid, seq: r.seq, body: d.body }),
    outbox: storageOutbox(storage, 'k'),
    onOutboxError: (e) => errors.push(e),
    ...opts,
  });
  const answer = (cid: number, seq: number) => q.handleSent({ type: 'sent', cid, conv: q.snapshot().find((e) => e.cid === cid)!.conv, seq, ts: 1 });
  return { q, wire, failed, sent, errors, state, answer };
}

const turn = () => new Promise<void>((r) => setTimeout(r, 0));
const brief = (e: { conv: string; cid: number; after?: number; body?: string }) => [e.conv, e.cid, e.after];

describe('sdk outbox – sends kept across app restarts', () => {
  it('sdk outbox – queued sends are saved in the turn they are made (one write per turn); answered or refused ones leave; closing keeps the rest', async () => {
    const mem = memoryStorage();
    const { q, state, answer } = harness(mem.storage, { cidStart: 100 });
    await q.opened;
    for (const [conv, body] of [['a', 'a1'], ['b', 'b1'], ['a', 'a2']] as const) q.enqueue(conv, body).catch(() => {});
    await turn();
    expect(mem.writes.n).toBe(1);
    expect(mem.stored()!.entries.map(brief)).toEqual([['a', 100, undefined], ['b', 101, undefined], ['a', 102, 100]]);
    state.online = true;
    q.welcome('ann', 'phone');
    answer(100, 7);
    q.handleError(101, new ImError(ErrorCode.NOT_MEMBER, 'not in b'));
    await turn();
    // Whose the queue is, once a welcome said so: a later run as someone else will not send it.
    expect(mem.stored()).toEqual({ uid: 'ann', did: 'phone', lastCid: 102, entries: [{ conv: 'a', cid: 102, body: 'a2', after: 100 }] });
    const last = q.enqueue('a', 'a3');
    q.close();
    await expect(last).rejects.toMatchObject({ code: ErrorCode.CLOSED });
    expect(mem.stored()!.entries.map((e) => e.body)).toEqual(['a2', 'a3']);
  });

  it('sdk outbox – a new run restores the stored sends before sending anything: same cids and links, its own sends after them, outcomes as events', async () => {
    const mem = memoryStorage({ uid: 'ann', did: 'phone', entries: [{ conv: 'a', cid: 100, body: 'old1', after: 90 }, { conv: 'b', cid: 101, body: 'old2' }, { conv: 'a', cid: 102, body: 'old3', after: 100 }] });
    const { q, wire, state, sent, answer } = harness(mem.storage);
    // localStorage answers at once: the stored sends are in the queue before the app can make a new one.
    const fresh = q.enqueue('a', 'new');
    await q.opened;
    expect(q.size).toBe(4);
    state.online = true;
    q.welcome('ann', 'phone');
    const newCid = wire[3]!.cid;
    expect(newCid).toBeGreaterThan(102);
    expect(wire.map((f) => [f.conv, f.cid, f.after, f.body])).toEqual([
      ['a', 100, 90, 'old1'],
      ['b', 101, undefined, 'old2'],
      ['a', 102, 100, 'old3'],
      ['a', newCid, 102, 'new'],
    ]);
    for (const [cid, seq] of [[100, 11], [101, 12], [102, 13], [newCid, 14]] as const) answer(cid, seq);
    await expect(fresh).resolves.toMatchObject({ seq: 14 });
    expect(sent.map((s) => [s.cid, s.seq, s.body])).toEqual([[100, 11, 'old1'], [101, 12, 'old2'], [102, 13, 'old3'], [newCid, 14, 'new']]);
    await turn();
    // Every send answered: only the last cid given out stays, for the next run to start above.
    expect(mem.stored()).toEqual({ uid: 'ann', did: 'phone', lastCid: newCid, entries: [] });
  });

  it('sdk outbox – a run after the device clock went back gives out cids above the last run\'s, acked ones too', async () => {
    const mem = memoryStorage();
    const ahead = Date.now() * 1000 + 600_000_000; // the last run's clock was 10 minutes fast
    const a = harness(mem.storage, { cidStart: ahead });
    await a.q.opened;
    a.state.online = true;
    a.q.welcome('ann', 'phone');
    const first = a.q.enqueue('c', 'sent with the fast clock');
    a.answer(ahead, 5);
    await first;
    await turn();
    a.q.close();
    // The next run has no cidStart: its clock (now right) is below the cids of the last run.
    const b = harness(mem.storage);
    await b.q.opened;
    b.state.online = true;
    b.q.welcome('ann', 'phone');
    b.q.enqueue('c', 'after the clock was corrected').catch(() => {});
    expect(b.wire.map((f) => f.cid)).toEqual([ahead + 1]);
  });

  it('sdk outbox – a store that answers later (IndexedDB, AsyncStorage): sends made before it answers go after the stored ones, and a close before it answers keeps both', async () => {
    const record: OutboxRecord = { uid: 'ann', did: 'phone', entries: [{ conv: 'a', cid: 100, body: 'old', after: 90 }] };
    let saved: OutboxRecord | undefined;
    const later = { load: () => new Promise<OutboxRecord>((r) => setTimeout(() => r(structuredClone(record)), 5)), save: (x: OutboxRecord) => void (saved = structuredClone(x)) };
    const a = harness(memoryStorage().storage, { outbox: later });
    a.q.enqueue('a', 'new').catch(() => {});
    expect(saved).toBeUndefined(); // not before the store is read: that would overwrite what it holds
    await a.q.opened;
    a.state.online = true;
    a.q.welcome('ann', 'phone');
    expect(a.wire.map((f) => [f.cid, f.after, f.body])).toEqual([[100, 90, 'old'], [a.wire[1]!.cid, 100, 'new']]);
    await turn();
    expect(saved!.entries.map((e) => e.body)).toEqual(['old', 'new']);

    saved = undefined;
    const b = harness(memoryStorage().storage, { outbox: later });
    b.q.enqueue('a', 'written, then the app closed').catch(() => {});
    b.q.close();
    await b.q.opened;
    expect(saved).toEqual({ uid: 'ann', did: 'phone', lastCid: saved!.entries[1]!.cid, entries: [{ conv: 'a', cid: 100, body: 'old', after: 90 }, { conv: 'a', cid: saved!.entries[1]!.cid, body: 'written, then the app closed', after: 100 }] });
  });

  it('sdk outbox – sends made before a later store answers take cids above the last run\'s when the clock went back since', async () => {
    const ahead = Date.now() * 1000 + 600_000_000; // the last run's clock was 10 minutes fast
    const later = (record: OutboxRecord) => ({ load: () => new Promise<OutboxRecord>((r) => setTimeout(() => r(structuredClone(record)), 5)), save: () => {} });
    // A send still queued from the last run, and nothing but its last cid.
    for (const record of [{ uid: 'ann', did: 'phone', lastCid: ahead, entries: [{ conv: 'a', cid: ahead, body: 'old' }] }, { uid: 'ann', did: 'phone', lastCid: ahead, entries: [] }]) {
      const { q, wire, state } = harness(memoryStorage().storage, { outbox: later(record) });
      q.enqueue('a', 'a1').catch(() => {});
      q.enqueue('b', 'b1').catch(() => {});
      q.enqueue('a', 'a2').catch(() => {});
      await q.opened;
      state.online = true;
      q.welcome('ann', 'phone');
      const old = record.entries.length > 0 ? [['a', ahead, undefined]] : [];
      expect(wire.map(brief)).toEqual([...old, ['a', ahead + 1, old.length > 0 ? ahead : undefined], ['b', ahead + 2, undefined], ['a', ahead + 3, ahead + 1]]);
      q.enqueue('b', 'b2').catch(() => {});
      expect(brief(wire.at(-1)!)).toEqual(['b', ahead + 4, ahead + 2]);
      q.close();
    }
    // Closed before the store answered: what it queued is saved beside the stored sends, above them too.
    let saved: OutboxRecord | undefined;
    const record: OutboxRecord = { uid: 'ann', did: 'phone', lastCid: ahead, entries: [{ conv: 'a', cid: ahead, body: 'old' }] };
    const store = { load: () => new Promise<OutboxRecord>((r) => setTimeout(() => r(structuredClone(record)), 5)), save: (x: OutboxRecord) => void (saved = structuredClone(x)) };
    const closing = harness(memoryStorage().storage, { outbox: store });
    closing.q.enqueue('a', 'queued, then the app closed').catch(() => {});
    closing.q.close();
    await closing.q.opened;
    expect(saved).toEqual({ uid: 'ann', did: 'phone', lastCid: ahead + 1, entries: [{ conv: 'a', cid: ahead, body: 'old' }, { conv: 'a', cid: ahead + 1, body: 'queued, then the app closed', after: ahead }] });
  });

  it('sdk outbox – sends another user or device queued fail with forbidden and are never sent as this one', async () => {
    const mem = memoryStorage({ uid: 'bob', did: 'laptop', entries: [{ conv: 'a', cid: 100, body: "bob's" }, { conv: 'a', cid: 101, body: "bob's too", after: 100 }] });
    const { q, wire, failed, state } = harness(mem.storage);
    await q.opened;
    state.online = true;
    q.welcome('ann', 'phone');
    expect(wire).toEqual([]);
    expect(failed).toEqual([{ cid: 100, code: ErrorCode.FORBIDDEN }, { cid: 101, code: ErrorCode.FORBIDDEN }]);
    q.enqueue('a', "ann's").catch(() => {});
    expect(wire.map(brief)).toEqual([['a', wire[0]!.cid, undefined]]);
  });

  it('sdk outbox – sends of this one linked to a failed foreign send, and its sends after, name no predecessor of the other device (no out_of_order for ever)', async () => {
    // Bob's phone had sent up to cid 4000 in `g`; 5000 waits on it. Ann signs in on the same storage.
    const mem = memoryStorage({ uid: 'bob', did: 'laptop', entries: [{ conv: 'g', cid: 5000, body: "bob's", after: 4000 }] });
    const { q, wire, failed, state } = harness(mem.storage);
    await q.opened;
    q.enqueue('g', 'ann offline').catch(() => {});
    state.online = true;
    q.welcome('ann', 'phone');
    expect(failed).toEqual([{ cid: 5000, code: ErrorCode.FORBIDDEN }]);
    q.enqueue('g', 'ann online').catch(() => {});
    const [first, second] = wire;
    expect(wire.map(brief)).toEqual([['g', first!.cid, undefined], ['g', second!.cid, first!.cid]]);
  });

  it('sdk outbox – a store whose load never settles (an IndexedDB open blocked by another tab) is given up on after the timeout: the queue opens, sends go out, and the store is left as it was', async () => {
    const saved: OutboxRecord[] = [];
    const errors: ImError[] = [];
    const wire: SendFrame[] = [];
    const q = new OutboundQueue({
      transmit: (f) => (wire.push(f), true),
      random: () => 0.5,
      sendRetryMs: 0,
      onFailed: () => {},
      onSent: () => {},
      outbox: { load: () => new Promise<OutboxRecord | undefined>(() => {}), save: (r) => saved.push(r) },
      onOutboxError: (e) => errors.push(e),
      outboxLoadTimeoutMs: 50,
    });
    let opened = false;
    void q.opened.then(() => (opened = true));
    await turn();
    expect(opened).toBe(false);
    await q.opened;
    expect(errors.map((e) => [e.code, e.message])).toEqual([[ErrorCode.INTERNAL, 'could not read the outbox (this client saves nothing to it, so as not to overwrite what it holds): load() did not settle within 50 ms']]);
    q.welcome('ann', 'phone');
    q.enqueue('a', 'sent anyway').catch(() => {});
    await turn();
    expect(wire.map((f) => f.body)).toEqual(['sent anyway']);
    expect(saved).toEqual([]);
  });

  it('sdk outbox – closed while a slow load is pending: no error after the close, and the late answer saves what was queued with what the store held', async () => {
    let answer: (r: OutboxRecord) => void = () => {};
    const saved: OutboxRecord[] = [];
    const errors: ImError[] = [];
    const q = new OutboundQueue({
      transmit: () => false,
      random: () => 0.5,
      sendRetryMs: 0,
      onFailed: () => {},
      onSent: () => {},
      outbox: { load: () => new Promise<OutboxRecord | undefined>((r) => (answer = r)), save: (r) => saved.push(r) },
      onOutboxError: (e) => errors.push(e),
      outboxLoadTimeoutMs: 50,
    });
    q.enqueue('a', 'queued before the close').catch(() => {});
    q.close();
    // Past the load timeout: nothing given up on after the close.
    await new Promise((r) => setTimeout(r, 120));
    expect(errors).toEqual([]);
    answer({ uid: 'ann', did: 'phone', lastCid: 3, entries: [{ conv: 'a', cid: 3, body: 'stored' }] });
    await turn();
    expect(saved.at(-1)?.entries.map((e) => e.body)).toEqual(['stored', 'queued before the close']);
  });

  it('sdk outbox – a torn value, bad entries or a failing store restore only what can be sent, and the queue works on', async () => {
    const torn = memoryStorage('{"entries": [{"conv": "a"');
    const a = harness(torn.storage, { cidStart: 1 });
    await a.q.opened;
    expect(a.q.size).toBe(0);
    const bad = memoryStorage(JSON.stringify({ entries: [{ conv: '', cid: 1, body: 'x' }, { conv: 'a', cid: -1, body: 'x' }, { conv: 'a', cid: 5, body: 7 }, null, { conv: 'a', cid: 6, body: 'ok', after: 'x' }] }));
    const b = harness(bad.storage, { cidStart: 1 });
    await b.q.opened;
    expect(b.q.snapshot()).toEqual([{ conv: 'a', cid: 6, body: 'ok' }]);
    const failing: StringStorage = {
      getItem: () => {
        throw new Error('storage is locked');
      },
      setItem: () => {
        throw new Error('quota exceeded');
      },
      removeItem: () => {},
    };
    const c = harness(failing, { cidStart: 1 });
    await c.q.opened;
    c.state.online = true;
    c.q.welcome('ann', 'phone');
    c.q.enqueue('a', 'still sent').catch(() => {});
    await turn();
    expect(c.wire.map((f) => f.body)).toEqual(['still sent']);
    // Not read, so not written either: what the store may hold is not overwritten by this run's queue.
    expect(c.errors.map((e) => e.message)).toEqual(['could not read the outbox (this client saves nothing to it, so as not to overwrite what it holds): storage is locked']);
  });

  it('sdk outbox – a store whose read fails keeps what it holds (nothing this run queues is written over it); one answering with a promise of another kind is read as a promise', async () => {
    const held: OutboxRecord = { uid: 'ann', did: 'phone', entries: [{ conv: 'a', cid: 100, body: 'unsent from last week' }] };
    let saved: OutboxRecord | undefined = structuredClone(held);
    const flaky = { load: () => Promise.reject(new Error('IndexedDB: transaction aborted')), save: (x: OutboxRecord) => void (saved = structuredClone(x)) };
    const a = harness(memoryStorage().storage, { outbox: flaky, cidStart: 200 });
    await a.q.opened;
    a.q.enqueue('a', 'new').catch(() => {});
    await turn();
    a.q.close();
    expect(saved).toEqual(held);
    expect(a.errors.map((e) => e.code)).toEqual([ErrorCode.INTERNAL]);

    // A promise-like that is not this realm's Promise (a library's, an iframe's): its record is restored.
    const foreign = { load: () => ({ then: (ok: (r: OutboxRecord) => void) => ok(structuredClone(held)) }) as unknown as Promise<OutboxRecord>, save: () => {} };
    const b = harness(memoryStorage().storage, { outbox: foreign });
    await b.q.opened;
    expect(b.q.snapshot().map((e) => e.body)).toEqual(['unsent from last week']);
  });
});
