import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEV_SERVER_KEY } from '../../runtime/config.js';
import { parseExposition, sampleValue } from '../../scripts/lib/prometheus-text.js';
import { startChatCluster, type ChatCluster } from '../helpers/chat-cluster.js';
import { rawConnect } from '../helpers/raw-client.js';
import { waitUntil } from '../helpers/wait.js';

describe('chat – a node whose writes fall behind a slow Postgres', () => {
  let c: ChatCluster;
  beforeAll(async () => {
    c = await startChatCluster({ nodes: ['b1'], shards: 256, nodeArgs: { b1: ['--commit-max-backlog-mb', '1', '--rate-burst', '400'] } });
  }, 60_000);
  afterAll(async () => {
    await c?.stop();
  }, 30_000);

  it('commit backlog – past the bound new messages are refused overloaded before they get a seq; those taken are stored once Postgres catches up, and the refused ones when re-sent', async () => {
    // Calls to one shard go a batch at a time (the transport's per-subject order): sends to conversations of many
    // shards reach the group commit together.
    const convs = Array.from({ length: 150 }, (_, i) => `slow-${i}`);
    for (const conv of convs) expect((await c.api('POST', '/v1/conversations', { kind: 'group', conv, owner: 'amy' })).status).toBe(201);
    const backlogBytes = async (): Promise<number | undefined> => {
      const res = await fetch(`${c.http.get('b1')!}/metrics`, { headers: { authorization: `Bearer ${DEV_SERVER_KEY}` } });
      return sampleValue(parseExposition(await res.text()), 'im_commit_backlog_bytes');
    };
    const raw = await rawConnect(c.gateways.get('b1')!, c.token('amy', 'd1'));
    const frames = raw.frames;
    const answered = (conv: string, cid: number) => frames.filter((f) => (f.type === 'sent' || f.type === 'error') && f.conv === conv && f.cid === cid).at(-1);
    // Each conversation has taken a message of this device already: the next ones take the chatter's usual, quickest way.
    for (const conv of convs) raw.send({ type: 'send', conv, cid: 1, body: 'hi' });
    await waitUntil(() => convs.every((conv) => answered(conv, 1)?.type === 'sent'), 'the first messages stored');
    const body = 'x'.repeat(16_000);
    // Postgres takes no write to messages (reads go on): the group commit's statement waits, and rows queue behind it.
    const lock = await c.db.sql.reserve();
    try {
      await lock`BEGIN`;
      await lock`LOCK TABLE messages IN EXCLUSIVE MODE`;
      for (const conv of convs) raw.send({ type: 'send', conv, cid: 2, body });
      await waitUntil(() => frames.some((f) => f.type === 'error' && f.code === 'overloaded'), 'a send refused overloaded');
      await new Promise((r) => setTimeout(r, 300));
      // The operator sees why: the backlog's bytes are past the bound.
      expect(await backlogBytes()).toBeGreaterThanOrEqual(1024 * 1024);
    } finally {
      await lock`COMMIT`;
      lock.release();
    }
    await waitUntil(() => convs.every((conv) => answered(conv, 2) !== undefined), 'every send answered');
    await waitUntil(async () => (await backlogBytes()) === 0, 'the backlog written');
    const refused = convs.filter((conv) => answered(conv, 2)!.type === 'error');
    const taken = convs.filter((conv) => answered(conv, 2)!.type === 'sent');
    for (const conv of refused) expect(answered(conv, 2)).toMatchObject({ type: 'error', code: 'overloaded', cid: 2 });
    // One MiB holds about 63 of these rows.
    expect(refused.length).toBeGreaterThan(5);
    expect(taken.length).toBeGreaterThan(40);
    // Only what was taken is stored, each as its conversation's second message.
    const stored = async () => (await c.db.sql<{ conv_id: string }[]>`SELECT conv_id FROM messages WHERE conv_id LIKE 'slow-%' AND seq = 2 AND prev_seq = 1 AND client_msg_id = 2`).map((r) => r.conv_id).sort();
    expect(await stored()).toEqual([...taken].sort());
    // Re-sent, the refused ones are stored too.
    for (const conv of refused) raw.send({ type: 'send', conv, cid: 2, body });
    await waitUntil(() => convs.every((conv) => answered(conv, 2)!.type === 'sent'), 'the refused ones stored when re-sent');
    expect(await stored()).toEqual([...convs].sort());
    expect((await c.db.sql`SELECT count(*)::int AS n FROM messages WHERE conv_id LIKE 'slow-%'`)[0]!['n']).toBe(2 * convs.length);
    raw.close();
  }, 60_000);
});
