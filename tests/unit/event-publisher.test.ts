import type { NatsConnection } from 'nats';
import { describe, expect, it } from 'vitest';
import { EventPublisher } from '../../actors/event-publisher.js';
import type { MessageEvent } from '../../protocol/chat-ops.js';
import { silentLogger } from '../../runtime/logger.js';

describe('event publisher', () => {
  it('event publisher – a batch stays within its size in UTF-8 bytes, whatever the script', () => {
    const sent: Uint8Array[] = [];
    const nc = { publish: (_s: string, data: Uint8Array) => void sent.push(data), isClosed: () => false, isDraining: () => false } as unknown as NatsConnection;
    const p = new EventPublisher(nc, silentLogger(), 1000);
    // 200 characters of CJK: 600 bytes of body each, two of them past 1,000 bytes.
    const event = (seq: number): MessageEvent => ({ type: 'message', conv: 'c', seq, prev: seq - 1, from: 'u', did: 'd', cid: seq, ts: 0, body: '汉'.repeat(200) });
    p.publish(event(1));
    p.publish(event(2));
    p.flush();
    expect(sent).toHaveLength(2);
    for (const b of sent) expect(b.byteLength).toBeLessThan(1000);
    expect(sent.map((b) => (JSON.parse(new TextDecoder().decode(b)) as MessageEvent[]).map((e) => e.seq))).toEqual([[1], [2]]);
  });
});
