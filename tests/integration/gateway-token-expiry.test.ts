import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, type ImError } from '../../protocol/errors.js';
import type { Msg, ServerFrameOf } from '../../protocol/frames.js';
import { DEFAULT_TOKEN_LEEWAY_SEC } from '../../protocol/limits.js';
import { ImClient, type StateChange } from '../../protocol/sdk/index.js';
import { signToken } from '../../protocol/token.js';
import { DEV_TOKEN_SECRET } from '../../runtime/config.js';
import { startChatCluster, type ChatCluster } from '../helpers/chat-cluster.js';
import { rawConnect } from '../helpers/raw-client.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Expired already, but still inside the leeway at the upgrade: it connects, and runs out 4–5 s later. */
const staleToken = (uid: string, did: string): string => signToken({ sub: uid, did, ttlSec: 60 - DEFAULT_TOKEN_LEEWAY_SEC + 5 }, DEV_TOKEN_SECRET, Math.floor(Date.now() / 1000) - 60);

describe('gateway – a token that expires while connected', () => {
  let c: ChatCluster;
  beforeAll(async () => {
    c = await startChatCluster({ nodes: ['x1'] });
  }, 60_000);
  afterAll(async () => {
    await c?.stop();
  }, 30_000);

  /** An SDK client whose token function hands out `tokens` in turn (the last one again after that). */
  const client = (uid: string, tokens: (() => string)[], handedOut: string[]): ImClient =>
    new ImClient({
      endpoints: [c.gateways.get('x1')!],
      token: () => {
        const t = tokens[Math.min(handedOut.length, tokens.length - 1)]!();
        handedOut.push(t);
        return t;
      },
      WebSocket: WebSocket as never,
      history: 'all',
    });

  it('gateway – the SDK gives its session a new token before the old one expires: no close, no reconnect, and the session outlives the first token', async () => {
    const conv = (await c.api('POST', '/v1/conversations', { kind: 'direct', members: ['ann', 'abe'] })).body['conv'] as string;
    const handedOut: string[] = [];
    const ann = client('ann', [() => staleToken('ann', 'd1'), () => c.token('ann', 'd1')], handedOut);
    const states: StateChange[] = [];
    const got: Msg[] = [];
    ann.on('state', (s) => states.push(s));
    ann.on('message', (m) => got.push(m));
    const abe = new ImClient({ endpoints: [c.gateways.get('x1')!], token: c.token('abe', 'd1'), WebSocket: WebSocket as never });
    await Promise.all([ann.connect(), abe.connect()]);
    // Past the first token's expiry and the gateway's next sweep.
    await sleep(7_000);
    const sent = await abe.send(conv, 'long after the first token ran out');
    const end = Date.now() + 10_000;
    while (!got.some((m) => m.seq === sent.seq) && Date.now() < end) await sleep(50);
    expect(got.map((m) => m.body)).toEqual(['long after the first token ran out']);
    expect(states.map((s) => s.state)).toEqual(['connecting', 'open']);
    expect(handedOut).toHaveLength(2);
    ann.close();
    abe.close();
  }, 60_000);

  it('gateway – a refresh the server refuses leaves the session as it was: it closes with 4001 at expiry; the SDK reconnects with a new token and misses nothing', async () => {
    const conv = (await c.api('POST', '/v1/conversations', { kind: 'direct', members: ['eve', 'eli'] })).body['conv'] as string;
    const handedOut: string[] = [];
    // The refresh gets a token of another device, which the gateway refuses; the reconnect gets a good one.
    const eve = client('eve', [() => staleToken('eve', 'd1'), () => c.token('eve', 'other-device'), () => c.token('eve', 'd1')], handedOut);
    const states: StateChange[] = [];
    const errors: ImError[] = [];
    const got: Msg[] = [];
    eve.on('state', (s) => states.push(s));
    eve.on('error', (e) => errors.push(e));
    eve.on('message', (m) => got.push(m));
    const eli = new ImClient({ endpoints: [c.gateways.get('x1')!], token: c.token('eli', 'd1'), WebSocket: WebSocket as never });
    await Promise.all([eve.connect(), eli.connect()]);
    const first = await eli.send(conv, 'while the old token lasts');

    const end = Date.now() + 10_000;
    while (!states.some((s) => s.code === 4001) && Date.now() < end) await sleep(100);
    expect(states.find((s) => s.code === 4001)).toMatchObject({ state: 'reconnecting' });
    expect(errors[0]).toMatchObject({ code: ErrorCode.UNAUTHORIZED, message: expect.stringContaining('other-device') });
    const second = await eli.send(conv, 'after it ran out');
    while ((eve.state !== 'open' || !got.some((m) => m.seq === second.seq)) && Date.now() < end + 10_000) await sleep(100);
    expect(got.map((m) => m.seq)).toEqual([first.seq, second.seq]);
    // The refused token was not kept: the reconnect fetched a third.
    expect(handedOut).toHaveLength(3);
    eve.close();
    eli.close();
  }, 60_000);

  it('gateway – refresh takes only a valid, unrevoked token of the same user and device, answered by rid; a refused one changes nothing', async () => {
    const raw = await rawConnect(c.gateways.get('x1')!, staleToken('ray', 'r1'));
    await raw.waitFor((f) => f.type === 'convs');
    const answer = async (rid: number, token: unknown) => {
      raw.send({ type: 'refresh', rid, token });
      return raw.waitFor((f) => (f.type === 'refreshed' || f.type === 'error') && 'rid' in f && f.rid === rid);
    };
    expect(await answer(1, 'not.a.token')).toMatchObject({ type: 'error', code: ErrorCode.UNAUTHORIZED });
    expect(await answer(2, c.token('someone-else', 'r1'))).toMatchObject({ type: 'error', code: ErrorCode.UNAUTHORIZED });
    expect(await answer(3, signToken({ sub: 'ray', did: 'r1', ttlSec: 60 }, 'another-secret'))).toMatchObject({ type: 'error', code: ErrorCode.UNAUTHORIZED });
    expect(await answer(4, staleToken('ray', 'r1').replace(/.$/, ''))).toMatchObject({ type: 'error' });
    expect(await answer(5, '')).toMatchObject({ type: 'error', code: ErrorCode.INVALID_FIELD });
    const good = c.token('ray', 'r1');
    const done = await answer(6, good);
    expect(done).toMatchObject({ type: 'refreshed', rid: 6 });
    expect((done as ServerFrameOf<'refreshed'>).exp).toBeGreaterThan(Date.now() / 1000 + 60);
    // The stale token's expiry and the next sweep pass: the session stays.
    await sleep(6_500);
    raw.send({ type: 'sync', rid: 7 });
    await raw.waitFor((f) => f.type === 'convs' && f.rid === 7);
    // A sign-out with revoke still ends the refreshed session.
    await c.api('POST', '/v1/users/ray/disconnect', { did: 'r1', revoke: true });
    expect((await raw.closed).code).toBe(4014);
    // A token issued before a sign-out with revoke cannot come back through a refresh either.
    const beforeSignOut = c.token('roy', 'r2');
    await sleep(5);
    await c.api('POST', '/v1/users/roy/disconnect', { revoke: true });
    const roy = await rawConnect(c.gateways.get('x1')!, c.token('roy', 'r2'));
    await roy.waitFor((f) => f.type === 'convs');
    roy.send({ type: 'refresh', rid: 8, token: beforeSignOut });
    expect(await roy.waitFor((f) => f.type === 'error' && f.rid === 8)).toMatchObject({ code: ErrorCode.UNAUTHORIZED, message: expect.stringContaining('revoked') });
    roy.close();
  }, 60_000);
});
