import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shardOf } from '../../protocol/shard-hash.js';
import { SegmentAllocator } from '../../storage/segment-allocator.js';
import { startChatCluster, type ChatCluster } from '../helpers/chat-cluster.js';

/**
 * A conversation's seqs count up by one, whichever node owns it, and every seq given out is reserved in its shard's
 * segment, so that a node of an older version (which took seqs from that segment) never hands one out again.
 */
describe('chat – seqs', () => {
  let c: ChatCluster;
  beforeAll(async () => {
    c = await startChatCluster({ nodes: ['s1', 's2'] });
  }, 60_000);
  afterAll(async () => {
    await c?.stop();
  }, 30_000);

  it('seqs – a conversation numbers its messages 1, 2, 3… across a move of its shard, and the shard segment reserves them all for an older node', async () => {
    const conv = 'seq-room';
    expect((await c.api('POST', '/v1/conversations', { kind: 'group', conv, owner: 'sq-ann', members: ['sq-ben'] })).status).toBe(201);
    const post = async (body: string) => {
      const r = await c.api('POST', `/v1/conversations/${conv}/messages`, { body });
      expect(r.status).toBe(201);
      return r.body['seq'] as number;
    };
    const seqs = [await post('one'), await post('two'), await post('three')];
    const shards = (await c.db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM shards WHERE kind = 'chatter'`)[0]!.n;
    const shard = shardOf(conv, shards);
    const [before] = await c.db.sql<{ owner: string }[]>`SELECT owner FROM shards WHERE kind = 'chatter' AND shard = ${shard}`;
    const to = before!.owner === 's1' ? 's2' : 's1';
    expect((await c.imctl('move', 'chatter', String(shard), to)).code).toBe(0);
    seqs.push(await post('four'), await post('five'));
    expect(seqs).toEqual([1, 2, 3, 4, 5]);
    const stored = await c.db.sql<{ seq: number; prev_seq: number }[]>`SELECT seq, prev_seq FROM messages WHERE conv_id = ${conv} ORDER BY seq`;
    expect(stored.map((r) => [r.seq, r.prev_seq])).toEqual([[1, 0], [2, 1], [3, 2], [4, 3], [5, 4]]);
    // An older node given the shard grabs its next segment above every seq this version gave out.
    const [now] = await c.db.sql<{ epoch: number }[]>`SELECT epoch FROM shards WHERE kind = 'chatter' AND shard = ${shard}`;
    const older = new SegmentAllocator(c.db.sql, { name: `chatter:${shard}`, step: 10, fence: { kind: 'chatter', shard, epoch: now!.epoch } });
    expect(await older.next()).toBeGreaterThan(5);
    older.close();
  }, 60_000);
});
