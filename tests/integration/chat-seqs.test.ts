import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shardOf } from '../../protocol/shard-hash.js';
import { ConversationStore } from '../../storage/conversation-store.js';
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

  /** Makes group `conv` through the server API; returns a poster of its system messages, which answers their seqs. */
  async function group(conv: string, owner: string, member: string): Promise<(body: string) => Promise<number>> {
    expect((await c.api('POST', '/v1/conversations', { kind: 'group', conv, owner, members: [member] })).status).toBe(201);
    return async (body) => {
      const r = await c.api('POST', `/v1/conversations/${conv}/messages`, { body });
      expect(r.status).toBe(201);
      return r.body['seq'] as number;
    };
  }

  it('seqs – a conversation numbers its messages 1, 2, 3… across a move of its shard, and the shard segment reserves them all for an older node', async () => {
    const conv = 'seq-room';
    const post = await group(conv, 'sq-ann', 'sq-ben');
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

  it('ordinals – the chatter numbers the messages unread counts count, and after a move starts them again past a row of an older node', async () => {
    const conv = 'ord-room';
    const post = await group(conv, 'or-ann', 'or-ben');
    await post('one');
    await post('two');
    await post('three');
    // A recall is nothing new to read: it shares the ordinal of the message before it.
    expect((await c.api('POST', `/v1/conversations/${conv}/messages/2/recall`, {})).status).toBe(201);
    const ordinals = async () => (await c.db.sql<{ ordinal: number | null }[]>`SELECT ordinal FROM messages WHERE conv_id = ${conv} ORDER BY seq`).map((r) => r.ordinal);
    expect(await ordinals()).toEqual([1, 2, 3, 3]);
    // A row as a node that predates migration 450 writes it: no ordinal.
    await c.db.sql`INSERT INTO messages (conv_id, seq, prev_seq, sender_uid, sender_did, client_msg_id, body) VALUES (${conv}, 5, 4, 'or-ann', 'old', 1, convert_to('five', 'UTF8'))`;
    const shards = (await c.db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM shards WHERE kind = 'chatter'`)[0]!.n;
    const shard = shardOf(conv, shards);
    const [before] = await c.db.sql<{ owner: string }[]>`SELECT owner FROM shards WHERE kind = 'chatter' AND shard = ${shard}`;
    expect((await c.imctl('move', 'chatter', String(shard), before!.owner === 's1' ? 's2' : 's1')).code).toBe(0);
    expect(await post('six')).toBe(6);
    expect(await ordinals()).toEqual([1, 2, 3, 3, null, 1]);
    const [conversation] = await c.db.sql<{ ordinals_from: number }[]>`SELECT ordinals_from FROM conversations WHERE conv_id = ${conv}`;
    expect(conversation!.ordinals_from).toBe(6);
    // Counted the old way across the older node's row, exact all the same: five messages, the recall aside.
    const list = await c.api('GET', '/v1/users/or-ben/conversations');
    expect((list.body['conversations'] as { conv: string; unread: number }[]).find((x) => x.conv === conv)?.unread).toBe(5);
    // Read up to the older node's row: counted from the chatter's ordinals, one message.
    expect((await new ConversationStore(c.db.sql).setReadMark('or-ben', conv, 5)).unread).toBe(1);
    const after = await c.api('GET', '/v1/users/or-ben/conversations');
    expect((after.body['conversations'] as { conv: string; unread: number }[]).find((x) => x.conv === conv)?.unread).toBe(1);
  }, 60_000);
});
