import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConvsFrame } from '../../protocol/frames.js';
import { MAX_HISTORY_PAGE_BYTES } from '../../protocol/limits.js';
import { startChatCluster, type ChatCluster } from '../helpers/chat-cluster.js';
import { rawConnect } from '../helpers/raw-client.js';
import { waitUntil } from '../helpers/wait.js';

/** 300 groups with 4,000 bytes of meta each: a list of about 1.3 MB, past NATS' 1 MiB max_payload and the 1 MiB slow-reader limit. */
const GROUPS = 300;
const META = 'm'.repeat(4000);
const groupId = (i: number): string => `long-g${String(i).padStart(3, '0')}`;
/** Above 3 members a group is large (delivered by its subject): the last one is. */
const LARGE = groupId(GROUPS - 1);

describe('long conversation lists', () => {
  let c: ChatCluster;

  beforeAll(async () => {
    c = await startChatCluster({ nodes: ['ll1', 'll2'], args: ['--large-group', '3'] });
    for (let i = 0; i < GROUPS; i += 25) {
      await Promise.all(
        Array.from({ length: Math.min(25, GROUPS - i) }, async (_, k) => {
          const conv = groupId(i + k);
          // `mid` is in the first 100: a list of about 400 KB, past one page but within what went whole before pages.
          const members = conv === LARGE ? ['long', 'peer', 'x1', 'x2', 'x3'] : i + k < 100 ? ['long', 'peer', 'mid'] : ['long', 'peer'];
          const r = await c.api('POST', '/v1/conversations', { kind: 'group', owner: 'peer', members, conv, title: `group ${i + k}`, meta: `${META}${i + k}` });
          if (r.status !== 201) throw new Error(`create ${conv}: ${r.status} ${JSON.stringify(r.body)}`);
        }),
      );
    }
  }, 120_000);

  afterAll(async () => {
    await c?.stop();
  });

  it('long lists – a user in 300 groups with 4 KB of meta each connects, lists every group, and gets messages live, large groups too', async () => {
    // One of the two nodes hosts the user's connector: the other one's list comes over NATS.
    const { client, got } = await c.online('long', 'd1', 'll1', ['message', 'left'] as const);
    const other = await c.online('long', 'd3', 'll2', ['left'] as const);
    for (const x of [client, other.client]) {
      const convs = x.conversations();
      expect(convs).toHaveLength(GROUPS);
      expect(convs.find((r) => r.conv === groupId(7))?.meta).toBe(`${META}7`);
    }
    expect(got.left).toEqual([]);
    expect(other.got.left).toEqual([]);

    const peer = c.sdk('peer', 'p1', 'll2');
    await peer.connect();
    await peer.send(groupId(0), 'small');
    await peer.send(LARGE, 'large');
    await waitUntil(() => got.message.length === 2, 'both messages live', 10_000);
    expect(got.message.map((m) => m.body).sort()).toEqual(['large', 'small']);

    const synced = await client.sync();
    expect(new Set(synced.map((r) => r.conv)).size).toBe(GROUPS);
    expect(client.conversations()).toHaveLength(GROUPS);
    expect(got.left).toEqual([]);
  });

  it('long lists – the list comes in frames under the size limits, each going on from the one before, at connect and for sync', async () => {
    const raw = await rawConnect(`${c.gateways.get('ll2')!}?pages=1`, c.token('long', 'd2'));
    const sizes: number[] = [];
    raw.ws.on('message', (data: Buffer) => sizes.push(data.byteLength));
    const check = async (rid?: number): Promise<void> => {
      const last = await raw.waitFor<ConvsFrame>((f) => f.type === 'convs' && f.rid === rid && f.more === undefined, 20_000);
      const pages = raw.frames.filter((f): f is ConvsFrame => f.type === 'convs' && f.rid === rid);
      expect(pages.length).toBeGreaterThan(2);
      expect(pages.at(-1)).toBe(last);
      pages.forEach((p, i) => {
        expect(p.after).toBe(i === 0 ? undefined : pages[i - 1]!.list.at(-1)!.conv);
        expect(p.more).toBe(i === pages.length - 1 ? undefined : true);
      });
      const ids = pages.flatMap((p) => p.list.map((r) => r.conv));
      expect(ids).toEqual(Array.from({ length: GROUPS }, (_, i) => groupId(i)));
    };
    await check();
    raw.send({ type: 'sync', rid: 7 });
    await check(7);
    expect(Math.max(...sizes)).toBeLessThan(MAX_HISTORY_PAGE_BYTES);
    raw.close();
  });

  it('long lists – a client that does not say it takes pages (an older one) gets its list whole, as before pages', async () => {
    const old = await rawConnect(c.gateways.get('ll2')!, c.token('mid', 'd1'));
    const list = await old.waitFor<ConvsFrame>((f) => f.type === 'convs', 20_000);
    expect(list.list).toHaveLength(100);
    expect(list.more).toBeUndefined();
    await new Promise((r) => setTimeout(r, 300));
    expect(old.frames.filter((f) => f.type === 'convs')).toHaveLength(1);
    old.close();
    // The same list in pages for a client that takes them.
    const paged = await rawConnect(`${c.gateways.get('ll2')!}?pages=1`, c.token('mid', 'd2'));
    await paged.waitFor<ConvsFrame>((f) => f.type === 'convs' && f.more === undefined, 20_000);
    const pages = paged.frames.filter((f): f is ConvsFrame => f.type === 'convs');
    expect(pages.length).toBeGreaterThan(1);
    expect(pages.flatMap((p) => p.list.map((r) => r.conv))).toEqual(Array.from({ length: 100 }, (_, i) => groupId(i)));
    paged.close();
  });
});
