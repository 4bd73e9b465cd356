import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Msg } from '../../protocol/frames.js';
import { DEFAULT_TOKEN_LEEWAY_SEC } from '../../protocol/limits.js';
import { ImClient, type StateChange } from '../../protocol/sdk/index.js';
import { signToken } from '../../protocol/token.js';
import { DEV_TOKEN_SECRET } from '../../runtime/config.js';
import { startChatCluster, type ChatCluster } from '../helpers/chat-cluster.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('gateway – a token that expires while connected', () => {
  let c: ChatCluster;
  beforeAll(async () => {
    c = await startChatCluster({ nodes: ['x1'] });
  }, 60_000);
  afterAll(async () => {
    await c?.stop();
  }, 30_000);

  it('gateway – the session closes with 4001 once the token is past its expiry and the leeway; the SDK reconnects with a new token and misses nothing', async () => {
    const conv = (await c.api('POST', '/v1/conversations', { kind: 'direct', members: ['eve', 'eli'] })).body['conv'] as string;
    const now = Math.floor(Date.now() / 1000);
    // Expired already, but still inside the leeway at the upgrade: it connects, and runs out 4–5 s later.
    const stale = signToken({ sub: 'eve', did: 'd1', ttlSec: 60 - DEFAULT_TOKEN_LEEWAY_SEC + 5 }, DEV_TOKEN_SECRET, now - 60);
    const tokens: string[] = [];
    const eve = new ImClient({
      endpoints: [c.gateways.get('x1')!],
      token: () => {
        const t = tokens.length === 0 ? stale : c.token('eve', 'd1');
        tokens.push(t);
        return t;
      },
      WebSocket: WebSocket as never,
      history: 'all',
    });
    const states: StateChange[] = [];
    const got: Msg[] = [];
    eve.on('state', (s) => states.push(s));
    eve.on('message', (m) => got.push(m));
    const eli = new ImClient({ endpoints: [c.gateways.get('x1')!], token: c.token('eli', 'd1'), WebSocket: WebSocket as never });
    await Promise.all([eve.connect(), eli.connect()]);
    const first = await eli.send(conv, 'while the old token lasts');

    const end = Date.now() + 10_000;
    while (!states.some((s) => s.code === 4001) && Date.now() < end) await sleep(100);
    expect(states.find((s) => s.code === 4001)).toMatchObject({ state: 'reconnecting' });
    const second = await eli.send(conv, 'after it ran out');
    while ((eve.state !== 'open' || !got.some((m) => m.seq === second.seq)) && Date.now() < end + 10_000) await sleep(100);
    expect(got.map((m) => m.seq)).toEqual([first.seq, second.seq]);
    // The expired token was asked for once; the reconnect fetched a new one.
    expect(tokens).toHaveLength(2);
    expect(tokens[1]).not.toBe(stale);
    eve.close();
    eli.close();
  }, 60_000);
});
