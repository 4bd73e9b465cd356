import { afterEach, describe, expect, it } from 'vitest';
import { LeaseCell, monotonicMs } from '../../runtime/lease-cell.js';
import { LeaseRenewer } from '../../runtime/lease-renewer.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const HEARTBEAT_MS = 20;
const LEASE_MS = 120;
const GRACE_MS = 200;

/** A renewer over an in-process node store that records each renewal's load; `reachers` says who reaches NATS. */
function renewerWith(reachers: () => string[]) {
  const cell = new LeaseCell();
  const renewals: Record<string, unknown>[] = [];
  const cutOffs: string[][] = [];
  /** The kinds each reachers query asked for. */
  const askedKinds: (readonly string[] | undefined)[] = [];
  const renewer = new LeaseRenewer({
    nodeId: 'n1',
    incarnation: 'i1',
    endpoints: [],
    nodes: {
      renew: async (_n, _i, _l, load) => (renewals.push(load ?? {}), Date.now() + LEASE_MS),
      register: async () => {
        throw new Error('not expected');
      },
      natsReachers: async (_node, _upForMs, kinds) => (askedKinds.push(kinds), reachers()),
    },
    heartbeatMs: HEARTBEAT_MS,
    leaseMs: LEASE_MS,
    cell,
    stallMs: 60_000,
    natsCutGraceMs: GRACE_MS,
    kinds: ['connector', 'chatter'],
    load: () => ({ connections: 0 }),
    onReplaced: () => {},
    onCutOff: (r) => cutOffs.push(r),
    warn: () => {},
  });
  cell.markAlive(monotonicMs());
  cell.markNats(true, monotonicMs());
  cell.extend(monotonicMs() + LEASE_MS);
  renewer.start();
  return { cell, renewer, renewals, cutOffs, askedKinds, valid: () => monotonicMs() < cell.validUntil() };
}

describe('lease – a node cut off from NATS', () => {
  let stop: (() => void) | undefined;
  afterEach(() => stop?.());

  it('lease – cut off past the grace while another node reaches NATS, the node stops renewing and its lease runs out; back on NATS, it renews again', async () => {
    const r = renewerWith(() => ['n2']);
    stop = () => r.renewer.stop();
    await sleep(100);
    expect(r.renewals.at(-1)).toMatchObject({ connections: 0, natsUpMs: expect.any(Number) });
    r.cell.markNats(false, monotonicMs());
    // Within the grace it still renews (a NATS server restart, a reconnect to another server).
    await sleep(GRACE_MS / 2);
    const duringGrace = r.renewals.length;
    expect(r.valid()).toBe(true);
    expect(r.renewals.at(-1)).toMatchObject({ natsUpMs: 0 });
    await sleep(GRACE_MS / 2 + LEASE_MS + 4 * HEARTBEAT_MS);
    expect(r.cutOffs).toEqual([['n2']]);
    expect(r.valid()).toBe(false);
    // Only a node hosting one of its kinds can take its shards.
    expect(r.askedKinds[0]).toEqual(['connector', 'chatter']);
    const atCut = r.renewals.length;
    expect(atCut - duringGrace).toBeLessThanOrEqual(GRACE_MS / HEARTBEAT_MS / 2 + 2);
    await sleep(5 * HEARTBEAT_MS);
    expect(r.renewals.length).toBe(atCut);
    r.cell.markNats(true, monotonicMs());
    await sleep(5 * HEARTBEAT_MS);
    expect(r.renewals.length).toBeGreaterThan(atCut);
    expect(r.valid()).toBe(true);
    expect(r.cutOffs).toHaveLength(1);
  });

  it('lease – once given way it stays so while still cut off, even when the others\u2019 links blip (it would be given shards nobody reaches)', async () => {
    let reachers = ['n2'];
    const r = renewerWith(() => reachers);
    stop = () => r.renewer.stop();
    r.cell.markNats(false, monotonicMs());
    await sleep(GRACE_MS + LEASE_MS + 4 * HEARTBEAT_MS);
    expect([r.cutOffs, r.valid()]).toEqual([[['n2']], false]);
    reachers = [];
    const atBlip = r.renewals.length;
    await sleep(6 * HEARTBEAT_MS);
    expect([r.renewals.length, r.valid()]).toEqual([atBlip, false]);
    r.cell.markNats(true, monotonicMs());
    await sleep(5 * HEARTBEAT_MS);
    expect(r.valid()).toBe(true);
  });

  it('lease – when no other node reaches NATS either (NATS itself is down), a node cut off keeps its lease', async () => {
    const r = renewerWith(() => []);
    stop = () => r.renewer.stop();
    r.cell.markNats(false, monotonicMs());
    await sleep(GRACE_MS + LEASE_MS + 4 * HEARTBEAT_MS);
    const before = r.renewals.length;
    await sleep(5 * HEARTBEAT_MS);
    expect(r.renewals.length).toBeGreaterThan(before);
    expect(r.valid()).toBe(true);
    expect(r.cutOffs).toEqual([]);
    expect(r.renewals.at(-1)).toMatchObject({ natsUpMs: 0 });
  });
});
