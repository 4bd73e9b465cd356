import { connect, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../protocol/errors.js';
import { ActorHost } from '../../runtime/actor-host.js';
import { silentLogger } from '../../runtime/logger.js';
import { Router } from '../../runtime/router.js';
import { ShardServer } from '../../runtime/shard-server.js';
import { Transport } from '../../runtime/transport/transport.js';
import type { ShardRow } from '../../storage/shard-map-store.js';
import { startTestNats, type TestNats } from '../helpers/nats.js';

const SHARDS = 4;
const row = (shard: number, epoch: number, owner = 'me', state: ShardRow['state'] = 'active'): ShardRow => ({ kind: 'echo', shard, owner, epoch, state, target: null, pinned: false, updatedAt: 0 });

describe('shard server – which epochs a node may serve again', () => {
  let nats: TestNats;
  let nc: NatsConnection;
  let transport: Transport;
  let router: Router;
  let server: ShardServer;
  let host: ActorHost;
  let leaseOk = true;
  /** What the server told as let go for good, `kind shard`. */
  const released: string[] = [];

  beforeAll(async () => {
    nats = await startTestNats();
    nc = await connect({ servers: nats.url });
    // Generous: the whole suite runs on two cores next to node processes; a slow answer is not what is tested here.
    transport = new Transport(nc, { log: silentLogger(), defaultTimeoutMs: 2000 });
    const counts = new Map([['echo', SHARDS]]);
    router = new Router(transport, counts);
    host = new ActorHost({ nodeId: 'me', kinds: [{ kind: 'echo', create: () => ({ handle: (_op, p) => p }) }], sender: router, log: silentLogger(), defaultIdleMs: 60_000, onFenced: () => {} });
    server = new ShardServer({ nodeId: 'me', transport, host, shardCounts: counts, log: silentLogger(), leaseValid: () => leaseOk, onReleased: (kind, shard) => released.push(`${kind} ${shard}`) });
  });
  afterAll(async () => {
    await transport?.close();
    await host?.close();
    await nc?.close();
    await nats?.stop();
  });

  const keyOf = (shard: number): string => {
    for (let i = 0; ; i++) if (router.shardOf('echo', `k${i}`) === shard) return `k${i}`;
  };

  it('shard server – after a precautionary release (lease unsure) it serves the same epoch again once the lease is back', async () => {
    await server.reconcile([row(0, 5)]);
    expect(await router.call('echo', keyOf(0), 'echo', 1)).toBe(1);
    leaseOk = false;
    await server.releaseAll('lease may have expired', false);
    // Not served: "nobody serves" (unavailable), or a deadline that ran out while retrying that (timeout).
    const refused = await router.call('echo', keyOf(0), 'echo', 2, 600).then(() => undefined, (e: { code: string }) => e.code);
    expect([ErrorCode.UNAVAILABLE, ErrorCode.TIMEOUT]).toContain(refused);
    leaseOk = true;
    await server.reconcile([row(0, 5)]);
    expect(await router.call('echo', keyOf(0), 'echo', 3)).toBe(3);
  });

  it('shard server – after a handoff release it never serves that epoch again, only a newer one', async () => {
    await server.reconcile([row(1, 7)]);
    expect(await router.call('echo', keyOf(1), 'echo', 1)).toBe(1);
    await server.release('echo', 1, 'handoff');
    // The shard map still says "moving, owner me, epoch 7" until the mover bumps the epoch.
    await server.reconcile([row(1, 7, 'me', 'moving')]);
    expect(server.epochOf('echo', 1)).toBeUndefined();
    await server.reconcile([row(1, 8)]);
    expect(server.epochOf('echo', 1)).toBe(8);
    expect(await router.call('echo', keyOf(1), 'echo', 2)).toBe(2);
  });

  it('shard server – a handoff release of an epoch it does not serve yet keeps a map read from before the move from serving it', async () => {
    // The mover hands shard 3 (epoch 2) away before this node's first read of the map got to start it.
    await server.release('echo', 3, 'handoff', true, 2);
    await server.reconcile([row(3, 2)]);
    expect(server.epochOf('echo', 3)).toBeUndefined();
    await server.reconcile([row(3, 3)]);
    expect(server.epochOf('echo', 3)).toBe(3);
  });

  it('shard server – a map read that began before a move handed it a shard does not take that shard away', async () => {
    await server.reconcile([]);
    // A refresh starts reading the map: the shard is still someone else's.
    const mark = server.readMark();
    // Meanwhile the mover bumps the epoch to us and tells us to acquire.
    expect(await server.acquire('echo', 2, 4)).toBe(true);
    // The stale read lands: "you own nothing". The shard must stay served...
    await server.reconcile([], mark);
    expect(server.epochOf('echo', 2)).toBe(4);
    expect(await router.call('echo', keyOf(2), 'echo', 1)).toBe(1);
    // ...and the next, fresh read agrees.
    await server.reconcile([row(2, 4)], server.readMark());
    expect(server.epochOf('echo', 2)).toBe(4);
    // A fresh read that says it is gone does release it.
    await server.reconcile([], server.readMark());
    expect(server.epochOf('echo', 2)).toBeUndefined();
  });

  it('shard server – a release of an epoch it left behind (a late fenced write, a late handoff) leaves the newer epoch it serves alone', async () => {
    await server.reconcile([row(0, 11)]);
    expect(server.epochOf('echo', 0)).toBe(11);
    await server.release('echo', 0, 'fenced', true, 10);
    expect(server.epochOf('echo', 0)).toBe(11);
    expect(await router.call('echo', keyOf(0), 'echo', 1)).toBe(1);
    // Its own epoch's release does end it.
    await server.release('echo', 0, 'fenced', true, 11);
    expect(server.epochOf('echo', 0)).toBeUndefined();
  });

  it('shard server – a stale read naming an older epoch does not replace the newer one being served', async () => {
    expect(await server.acquire('echo', 3, 9)).toBe(true);
    await server.reconcile([row(3, 6)]);
    expect(server.epochOf('echo', 3)).toBe(9);
    expect(await router.call('echo', keyOf(3), 'echo', 1)).toBe(1);
  });

  it('shard server – a handoff release that comes while a precautionary one runs (lease unsure) still tells the shard let go for good, once', async () => {
    await server.reconcile([row(3, 40)]);
    released.length = 0;
    await server.releaseAll('lease may have expired', false);
    // A precautionary release alone tells nothing: the shard may be served again.
    expect(released).toEqual([]);
    await server.reconcile([row(3, 40)]);
    expect(server.epochOf('echo', 3)).toBe(40);
    const precaution = server.releaseAll('lease may have expired', false);
    const handoff = server.release('echo', 3, 'handoff', true, 40);
    await Promise.all([precaution, handoff]);
    expect(released).toEqual(['echo 3']);
    // Not again at the next map read.
    await server.reconcile([row(0, 11)]);
    expect(released.filter((x) => x === 'echo 3')).toEqual(['echo 3']);
  });

  it('shard server – a shard let go while the lease was unsure is told let go for good once it is known gone (a map read after the lease is back gives it to another node, or a handoff takes it), once; one still its own is not', async () => {
    await server.reconcile([row(4, 60), row(5, 70)]);
    released.length = 0;
    leaseOk = false;
    await server.releaseAll('lease may have expired', false);
    expect(released).toEqual([]);
    leaseOk = true;
    // The coordinator gave shard 4 to another node (epoch 61) while this one's lease had run out; 5 is still ours.
    await server.reconcile([row(4, 61, 'other'), row(5, 70)]);
    expect([server.epochOf('echo', 4), server.epochOf('echo', 5)]).toEqual([undefined, 70]);
    expect(released).toEqual(['echo 4']);
    // Told once.
    await server.reconcile([row(5, 70)]);
    expect(released).toEqual(['echo 4']);
    // A handoff release after the precautionary one ended tells it at once.
    leaseOk = false;
    await server.releaseAll('lease may have expired', false);
    leaseOk = true;
    await server.release('echo', 5, 'handoff', true, 70);
    expect(released).toEqual(['echo 4', 'echo 5']);
    await server.reconcile([row(5, 70)]);
    expect(server.epochOf('echo', 5)).toBeUndefined();
    released.length = 0;
  });

  it('shard server – a closing node releases everything and takes no shard after (a move begun before is refused, and one waiting on a release)', async () => {
    await server.reconcile([row(1, 20)]);
    expect(server.epochOf('echo', 1)).toBe(20);
    // A newer epoch asked for just before the close waits for the old one's release: the close meanwhile refuses it.
    const late = server.acquire('echo', 1, 21);
    await server.stop('node closing');
    expect(await late).toBe(false);
    expect(server.epochOf('echo', 1)).toBeUndefined();
    expect(await server.acquire('echo', 2, 30)).toBe(false);
    await server.reconcile([row(2, 30)]);
    expect(server.epochOf('echo', 2)).toBeUndefined();
  });
});
