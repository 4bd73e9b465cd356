import { afterEach, describe, expect, it, vi } from 'vitest';
import { connectorKind, DEFAULT_RETRANSMIT_MS } from '../../actors/connector.actor.js';
import { DEVICE_LEASE_MS, LEASE_CHECK_MS } from '../../actors/connector-device.js';
import type { ChatServices } from '../../actors/chat-services.js';
import { CloseCode } from '../../protocol/close-codes.js';
import { decode, encodeFrame } from '../../protocol/codec.js';
import { ActorHost } from '../../runtime/actor-host.js';
import { silentLogger } from '../../runtime/logger.js';

const fence = { kind: 'connector', shard: 0, epoch: 1 };

/** A connector on a real actor host, with in-memory services that record what it sends to gateways; `privacy` may fail. */
function connectorHost(privacy = async () => ({ related: [] as string[], readReceipts: true, lastSeen: true }), list = async (): Promise<unknown[]> => []) {
  const closed: { gw: string; sid: number; code: number }[] = [];
  const pushed: { gw: string; sid: number; types: string[] }[] = [];
  const events: string[] = [];
  const eventDevices: string[] = [];
  const marks: string[] = [];
  const tells: string[] = [];
  const binds: string[] = [];
  const svc = {
    convs: { userConversations: list },
    messages: { lastSeq: async () => 0 },
    userSettings: { privacy },
    presence: {
      online: (uid: string, did: string, life: string) => void marks.push(`online ${uid} ${did} ${life}`),
      offline: (uid: string) => void marks.push(`offline ${uid}`),
      flush: async () => {},
      // The dead life's row is there once: the first call takes it.
      takeLost: async (uid: string, life: string) => (marks.includes(`took ${uid} ${life}`) ? undefined : (marks.push(`took ${uid} ${life}`), { offlineSince: false })),
      directPeers: async () => ['bob'],
      adopt: async (uid: string, life: string, own: string, did: string) => void marks.push(`adopt ${uid} ${life} as ${own} ${did}`),
      forget: (uid: string) => void marks.push(`forget ${uid}`),
    },
    life: 'n1 L1',
    settings: { largeGroupMembers: 100, events: false },
    event: (e: { type: string; did?: string }) => void (events.push(e.type), eventDevices.push(e.did ?? '')),
    bind: (gw: string, sid: number, _uid: string, conv: string, bound: boolean, after?: number, listed?: number) =>
      void binds.push(`${gw} ${sid} ${conv} ${bound ? 'bind' : 'unbind'} after ${after ?? 0}${listed !== undefined ? ` listed ${listed}` : ''}`),
    closeSession: (gw: string, sid: number, _uid: string, code: number) => closed.push({ gw, sid, code }),
    push: (gw: string, sid: number, _uid: string, frames: { type: string }[]) => pushed.push({ gw, sid, types: frames.map((f) => f.type) }),
    pushEncoded: (gw: string, sid: number, _uid: string, frames: Uint8Array[]) => pushed.push({ gw, sid, types: frames.map((f) => (decode(f) as { type: string }).type) }),
  } as unknown as ChatServices;
  const sender = { call: async () => null, tell: (_kind: string, key: string, op: string, p: unknown) => void tells.push(`${key} ${op} ${JSON.stringify(p)}`) };
  const host = new ActorHost({ nodeId: 'n1', kinds: [connectorKind(svc)], sender, log: silentLogger(), defaultIdleMs: 60_000, onFenced: () => {} });
  const attach = (gw: string, sid: number, refresh = false) => host.dispatch('connector', 'ann', fence, 'attach', { did: 'phone', gw, sid, ...(refresh ? { refresh } : {}) });
  const deliver = (seq: number) =>
    host.dispatch('connector', 'ann', fence, 'deliver', {
      conv: 'g',
      seq,
      from: 'bob',
      did: 'b1',
      frame: encodeFrame({ type: 'msg', conv: 'g', seq, prev: seq - 1, from: 'bob', did: 'b1', cid: seq, ts: seq, body: 'hi' }),
    });
  return { host, closed, pushed, events, eventDevices, marks, tells, binds, attach, deliver };
}

describe('connector – sessions of one device', () => {
  let host: ActorHost | undefined;
  afterEach(async () => {
    await host?.close();
  });

  it('connector – a newer session replaces an older one, and a late attach of the older one cannot take it back', async () => {
    const c = connectorHost();
    host = c.host;
    await c.attach('gwA', 1000);
    await c.attach('gwB', 2000);
    expect(c.closed).toEqual([{ gw: 'gwA', sid: 1000, code: CloseCode.REPLACED }]);
    // gwA was frozen and now re-states the session it still holds: that session is the one to go.
    await c.attach('gwA', 1000);
    await c.attach('gwA', 1000, true);
    expect(c.closed).toEqual([
      { gw: 'gwA', sid: 1000, code: CloseCode.REPLACED },
      { gw: 'gwA', sid: 1000, code: CloseCode.REPLACED },
      { gw: 'gwA', sid: 1000, code: CloseCode.REPLACED },
    ]);
    await c.deliver(1);
    expect(c.pushed).toEqual([{ gw: 'gwB', sid: 2000, types: ['msg'] }]);
  });

  it('connector – told that the node which announced its user online died: offline to the business server and the direct peers with no device back, once; marked online as its own with one', async () => {
    const c = connectorHost();
    host = c.host;
    const lost = { did: 'phone', life: 'n9 L9' };
    await c.host.dispatch('connector', 'ann', fence, 'presence-lost', lost);
    expect([c.events, c.eventDevices]).toEqual([['offline'], ['phone']]);
    expect(c.marks).toEqual(['took ann n9 L9', 'offline ann']);
    expect(c.tells).toEqual([expect.stringMatching(/^bob presence \{"uid":"ann","online":false,"lastSeen":\d+\}$/)]);
    // Told again (a sweep whose answer was lost): the row is gone, nothing more is announced.
    await c.host.dispatch('connector', 'ann', fence, 'presence-lost', lost);
    expect([c.events, c.tells.length]).toEqual([['offline'], 1]);
    // A device of the user came back through this node: nothing is announced, and the user is this node's now.
    await c.attach('gwA', 1000);
    c.events.length = c.marks.length = c.tells.length = 0;
    await c.host.dispatch('connector', 'ann', fence, 'presence-lost', { did: 'phone', life: 'n8 L8' });
    expect(c.events).toEqual([]);
    expect(c.tells).toEqual([]);
    expect(c.marks).toEqual(['adopt ann n8 L8 as n1 L1 phone']);
  });

  it('connector – an erasure\'s sign-out drops the user\'s presence writes still to be tried again (they would make the erased rows again); a sign-out does not', async () => {
    const c = connectorHost();
    host = c.host;
    await c.attach('gwA', 1);
    await c.host.dispatch('connector', 'ann', fence, 'disconnect', { reason: 'signed out', revoke: true });
    expect(c.marks.filter((m) => m.startsWith('forget'))).toEqual([]);
    await c.attach('gwA', 2);
    await c.host.dispatch('connector', 'ann', fence, 'disconnect', { reason: 'account erased', revoke: true, erase: true });
    expect(c.marks.filter((m) => m.startsWith('forget'))).toEqual(['forget ann']);
  });

  it('connector – a replayed delivery is not pushed twice; a newer one is', async () => {
    const c = connectorHost();
    host = c.host;
    await c.attach('gwA', 1000);
    await c.deliver(5);
    await c.deliver(5);
    await c.deliver(4);
    await c.deliver(6);
    expect(c.pushed.map((p) => p.types)).toEqual([['msg'], ['msg']]);
  });

  it("connector – a newcomer to a large group whose history starts past a seq binds each device with that seq, for the gateway to hold back replays up to it", async () => {
    const c = connectorHost();
    host = c.host;
    await c.attach('gwA', 1000);
    await c.host.dispatch('connector', 'ann', fence, 'joined', { conv: 'g', kind: 'group', large: true, added: true, lastSeq: 7, clearedSeq: 7 });
    await c.host.dispatch('connector', 'ann', fence, 'joined', { conv: 'h', kind: 'group', large: true, added: true, lastSeq: 3 });
    expect(c.binds).toEqual(['gwA 1000 g bind after 7 listed 7', 'gwA 1000 h bind after 0 listed 3']);
  });

  it("connector – a newcomer to a large group binds each device with the last seq its `joined` told, and a member of a group grown large with its last seq then, for the gateway to catch it up on what came since", async () => {
    const c = connectorHost();
    host = c.host;
    await c.attach('gwA', 1000);
    await c.host.dispatch('connector', 'ann', fence, 'attach', { did: 'laptop', gw: 'gwB', sid: 2000 });
    await c.host.dispatch('connector', 'ann', fence, 'joined', { conv: 'g', kind: 'group', large: true, added: true, lastSeq: 41 });
    await c.host.dispatch('connector', 'ann', fence, 'joined', { conv: 'grown', kind: 'group', large: true, lastSeq: 17 });
    // From an older chatter, which tells no last seq: bound as before.
    await c.host.dispatch('connector', 'ann', fence, 'joined', { conv: 'old', kind: 'group', large: true });
    expect(c.binds).toEqual([
      'gwA 1000 g bind after 0 listed 41',
      'gwB 2000 g bind after 0 listed 41',
      'gwA 1000 grown bind after 0 listed 17',
      'gwB 2000 grown bind after 0 listed 17',
      'gwA 1000 old bind after 0',
      'gwB 2000 old bind after 0',
    ]);
  });

  it('connector – an attach that failed leaves no device behind: a message meanwhile raises a push; the retry reads the user\'s privacy and announces them online', async () => {
    let reads = 0;
    const c = connectorHost(async () => {
      if (++reads === 1) throw new Error('Postgres hiccup');
      return { related: [], readReceipts: true, lastSeen: true };
    });
    host = c.host;
    await expect(c.attach('gwA', 1000)).rejects.toThrow();
    await c.deliver(1);
    // Not attached: nothing pushed, and the user is not online.
    expect(c.pushed).toEqual([]);
    await c.attach('gwA', 1000);
    expect(reads).toBe(2);
    expect(c.events).toEqual(['push', 'online']);
    await c.deliver(2);
    expect(c.pushed).toEqual([{ gw: 'gwA', sid: 1000, types: ['msg'] }]);
  });
});

describe('connector – a reconnect whose attach fails', () => {
  let host: ActorHost | undefined;
  afterEach(async () => {
    await host?.close();
  });

  it('connector – the replaced session and the failed one gone, the user is offline; the retry brings them online again', async () => {
    let reads = 0;
    const c = connectorHost(undefined, async () => {
      if (++reads === 2) throw new Error('Postgres hiccup');
      return [];
    });
    host = c.host;
    await c.attach('gwA', 1000);
    // The phone reconnects: its new session replaces the old, and the list read fails.
    await expect(c.attach('gwB', 2000)).rejects.toThrow();
    expect(c.closed).toEqual([{ gw: 'gwA', sid: 1000, code: CloseCode.REPLACED }]);
    expect(c.events).toEqual(['online', 'offline']);
    await c.attach('gwB', 2000);
    expect(c.events).toEqual(['online', 'offline', 'online']);
  });
});

describe('connector – devices whose detach was lost', () => {
  let host: ActorHost | undefined;
  afterEach(async () => {
    vi.useRealTimers();
    await host?.close();
  });

  it('connector – a device its gateway stopped re-stating is taken for gone: the user goes offline and the next message raises a push, not a push to nowhere', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const c = connectorHost();
    host = c.host;
    await c.attach('gwA', 1000);
    // A laptop whose gateway keeps refreshing it, and a phone whose session closed while its DETACH was lost.
    await c.host.dispatch('connector', 'ann', fence, 'attach', { did: 'laptop', gw: 'gwC', sid: 3000 });
    vi.setSystemTime(Date.now() + DEVICE_LEASE_MS / 2);
    await c.host.dispatch('connector', 'ann', fence, 'attach', { did: 'laptop', gw: 'gwC', sid: 3000, refresh: true });
    vi.setSystemTime(Date.now() + DEVICE_LEASE_MS / 2 + 1_000);
    c.pushed.length = 0;
    await c.deliver(1);
    // The phone's lease ran out; the laptop's did not.
    expect(c.pushed).toEqual([{ gw: 'gwC', sid: 3000, types: ['msg'] }]);
    expect(c.events).toEqual(['online']);
    // The laptop's session closes too, and this DETACH is lost as well.
    vi.setSystemTime(Date.now() + DEVICE_LEASE_MS + 1_000);
    c.pushed.length = 0;
    await c.deliver(2);
    expect(c.pushed).toEqual([]);
    expect(c.events).toEqual(['online', 'offline', 'push']);
  });

  it('connector – a user whose only device\'s DETACH was lost goes offline within a lease and a check even if nothing is sent to them: the peers hear it, the server API shows no device', async () => {
    // The host's sweep (setInterval) runs the connector's lease check.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    const direct = { convId: 'd:3:ann:bob', kind: 'direct', peer: 'bob', lastSeq: 0, readSeq: 0, deliveredSeq: 0, unread: 0, memberCount: 2 };
    const c = connectorHost(undefined, async () => [direct]);
    host = c.host;
    await c.attach('gwA', 1000);
    c.tells.length = 0;
    // Quiet: no message, push or attach reaches the connector from now on.
    await vi.advanceTimersByTimeAsync(DEVICE_LEASE_MS + LEASE_CHECK_MS + 1_000);
    expect(c.events).toEqual(['online', 'offline']);
    expect(c.tells).toEqual([expect.stringMatching(/^bob presence \{"uid":"ann","online":false,"lastSeen":\d+\}$/)]);
    expect(await c.host.dispatch('connector', 'ann', fence, 'devices', {})).toEqual({ devices: [] });
    // Nothing more is checked or announced while the user has no device.
    await vi.advanceTimersByTimeAsync(LEASE_CHECK_MS * 3);
    expect(c.events).toEqual(['online', 'offline']);
  });

  it('connector – asked which devices are online (server API presence), a device past its lease is not among them and the user is offline', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const c = connectorHost();
    host = c.host;
    await c.attach('gwA', 1000);
    await c.host.dispatch('connector', 'ann', fence, 'attach', { did: 'laptop', gw: 'gwC', sid: 3000 });
    vi.setSystemTime(Date.now() + DEVICE_LEASE_MS / 2);
    await c.host.dispatch('connector', 'ann', fence, 'attach', { did: 'laptop', gw: 'gwC', sid: 3000, refresh: true });
    vi.setSystemTime(Date.now() + DEVICE_LEASE_MS / 2 + 1_000);
    // Asked before any lease check ran.
    expect(await c.host.dispatch('connector', 'ann', fence, 'devices', {})).toEqual({ devices: [{ did: 'laptop', node: 'gwC' }] });
    vi.setSystemTime(Date.now() + DEVICE_LEASE_MS + 1_000);
    expect(await c.host.dispatch('connector', 'ann', fence, 'devices', {})).toEqual({ devices: [] });
    expect(c.events).toEqual(['online', 'offline']);
  });
});

describe('connector – large-group bindings', () => {
  let host: ActorHost | undefined;
  afterEach(async () => {
    await host?.close();
  });

  it('connector – a conversation a sync no longer lists (left while the notice was lost): its unacked messages are not pushed again', async () => {
    vi.useFakeTimers();
    try {
      let rows: unknown[] = [{ convId: 'g', kind: 'group', lastSeq: 0, readSeq: 0, deliveredSeq: 0, unread: 0, memberCount: 2 }];
      const c = connectorHost(undefined, async () => rows);
      host = c.host;
      await c.attach('gwA', 1000);
      await c.deliver(1);
      await vi.advanceTimersByTimeAsync(DEFAULT_RETRANSMIT_MS * 1.5);
      const pushes = c.pushed.length;
      expect(pushes).toBeGreaterThanOrEqual(2); // pushed, and pushed again: never acked
      rows = [];
      await c.host.dispatch('connector', 'ann', fence, 'convs', {});
      await vi.advanceTimersByTimeAsync(DEFAULT_RETRANSMIT_MS * 5);
      expect(c.pushed.length).toBe(pushes);
    } finally {
      vi.useRealTimers();
    }
  });

  it('connector – a sync that finds a group became large binds every device to it, and unbinds them once it is small again', async () => {
    let members = 2;
    const binds: string[] = [];
    const svc = {
      convs: { userConversations: async () => [{ convId: 'club', kind: 'group', lastSeq: 0, readSeq: 0, unread: 0, memberCount: members }] },
      messages: { lastSeq: async () => 0 },
      userSettings: { privacy: async () => ({ related: [], readReceipts: true, lastSeen: true }) },
      presence: { online: () => {}, offline: () => {}, flush: async () => {} },
      settings: { largeGroupMembers: 3, events: false },
      event: () => {},
      bind: (gw: string, sid: number, _uid: string, conv: string, bound: boolean) => binds.push(`${bound ? 'bind' : 'unbind'} ${conv} ${gw}/${sid}`),
      closeSession: () => {},
      push: () => {},
      pushEncoded: () => {},
    } as unknown as ChatServices;
    host = new ActorHost({ nodeId: 'n1', kinds: [connectorKind(svc)], sender: { call: async () => null, tell: () => {} }, log: silentLogger(), defaultIdleMs: 60_000, onFenced: () => {} });
    await host.dispatch('connector', 'ann', fence, 'attach', { did: 'phone', gw: 'gwA', sid: 1 });
    await host.dispatch('connector', 'ann', fence, 'attach', { did: 'laptop', gw: 'gwB', sid: 2 });
    expect(binds).toEqual([]);
    // The group grew while the notice of it missed this connector: the next sync finds out.
    members = 5;
    await host.dispatch('connector', 'ann', fence, 'convs', {});
    expect(binds.sort()).toEqual(['bind club gwA/1', 'bind club gwB/2']);
    binds.length = 0;
    members = 3;
    await host.dispatch('connector', 'ann', fence, 'convs', {});
    expect(binds.sort()).toEqual(['unbind club gwA/1', 'unbind club gwB/2']);
  });
});
