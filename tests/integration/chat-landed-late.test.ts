import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServerFrameOf } from '../../protocol/frames.js';
import { startChatCluster, type ChatCluster } from '../helpers/chat-cluster.js';
import { rawConnect } from '../helpers/raw-client.js';

/**
 * A message can be committed and never fanned out: its chatter died between the two, or the commit's answer never
 * reached the node and the row landed anyway. Its sender had no ack and re-sends it; the answer then comes from
 * Postgres, and the members online must get the message too, not only at their next reconnect or the next message.
 */
describe('chat – a message stored behind its chatter\'s back', () => {
  let c: ChatCluster;
  beforeAll(async () => {
    c = await startChatCluster({ nodes: ['n1', 'n2'] });
  }, 60_000);
  afterAll(async () => {
    await c?.stop();
  }, 30_000);

  it('chat – a re-send answered from Postgres reaches the online peer once, in order', async () => {
    const conv = (await c.api('POST', '/v1/conversations', { kind: 'direct', members: ['lana', 'lars'] })).body['conv'] as string;
    // A conversation some time old: a message from just after a join is not fanned out again (the joiner may not see it).
    await c.db.sql`UPDATE members SET joined_at = now() - interval '1 hour' WHERE conv_id = ${conv}`;
    const a = await rawConnect(c.gateways.get('n1')!, c.token('lana', 'l1'));
    const b = await rawConnect(c.gateways.get('n2')!, c.token('lars', 'l2'));
    await Promise.all([a.waitFor((f) => f.type === 'convs'), b.waitFor((f) => f.type === 'convs')]);
    a.send({ type: 'send', conv, cid: 1, body: 'one' });
    const first = await a.waitFor<ServerFrameOf<'sent'>>((f) => f.type === 'sent' && f.cid === 1);
    await b.waitFor((f) => f.type === 'msg' && f.seq === first.seq);
    // Acked at once, so that a retransmission is not taken for a second delivery.
    b.ws.on('message', () => {
      const last = b.frames[b.frames.length - 1];
      if (last?.type === 'msg') b.send({ type: 'ack', conv, seq: last.seq });
    });
    b.send({ type: 'ack', conv, seq: first.seq });

    // What a commit whose answer was lost leaves behind: the row, with the seq its chatter gave it, and no fan-out.
    await c.db.sql`INSERT INTO messages (conv_id, seq, prev_seq, sender_uid, sender_did, client_msg_id, body)
                   VALUES (${conv}, ${first.seq + 1}, ${first.seq}, 'lana', 'l1', 2, ${Buffer.from('two')})`;
    // The sender re-sends until it is acked (the first try may be refused while the chatter reloads).
    let second: ServerFrameOf<'sent'> | undefined;
    for (let i = 0; i < 5 && second === undefined; i++) {
      a.send({ type: 'send', conv, cid: 2, body: 'two' });
      const answer = await a.waitFor<ServerFrameOf<'sent'> | ServerFrameOf<'error'>>((f) => (f.type === 'sent' || f.type === 'error') && f.cid === 2);
      a.frames.splice(a.frames.indexOf(answer), 1);
      if (answer.type === 'sent') second = answer;
      else expect(answer.code).toBe('unavailable');
    }
    expect(second).toMatchObject({ seq: first.seq + 1, prev: first.seq });
    const got = await b.waitFor<ServerFrameOf<'msg'>>((f) => f.type === 'msg' && f.seq === first.seq + 1);
    expect(got).toMatchObject({ from: 'lana', did: 'l1', cid: 2, body: 'two', prev: first.seq });

    a.send({ type: 'send', conv, cid: 3, body: 'three' });
    const third = await a.waitFor<ServerFrameOf<'sent'>>((f) => f.type === 'sent' && f.cid === 3);
    expect(third.prev).toBe(first.seq + 1);
    await b.waitFor((f) => f.type === 'msg' && f.seq === third.seq);
    const seen = b.frames.filter((f): f is ServerFrameOf<'msg'> => f.type === 'msg').map((m) => m.body);
    expect(seen).toEqual(['one', 'two', 'three']);
    a.close();
    b.close();
  }, 30_000);
});
