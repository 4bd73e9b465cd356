import type { Socket } from 'node:net';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Msg } from '../../protocol/frames.js';
import { ImClient, type StateChange } from '../../protocol/sdk/index.js';
import { DEV_SERVER_KEY } from '../../runtime/config.js';
import { startChatCluster, type ChatCluster } from '../helpers/chat-cluster.js';
import { waitUntil } from '../helpers/wait.js';

/** A small send-buffer limit, so a reader that stops reading passes it quickly once the kernel buffers are full. */
const MAX_BACKPRESSURE = 64 * 1024;
const BODY = 'x'.repeat(12 * 1024);

/** The `ws` WebSocket, remembering its instances so that a test can stop one reading its socket. */
class TappedWebSocket extends WebSocket {
  static last: TappedWebSocket | undefined;
  constructor(url: string, protocols?: string | string[]) {
    super(url, protocols);
    TappedWebSocket.last = this;
  }
  /** The TCP socket underneath (ws keeps it private). */
  get tcp(): Socket {
    return (this as unknown as { _socket: Socket })._socket;
  }
}

describe('gateway – slow readers and draining', () => {
  let c: ChatCluster;
  const clients: ImClient[] = [];
  beforeAll(async () => {
    c = await startChatCluster({ nodes: ['s1', 's2'], args: ['--max-backpressure', String(MAX_BACKPRESSURE), '--rate', '100000', '--rate-burst', '100000'] });
  }, 60_000);
  afterAll(async () => {
    for (const x of clients) x.close();
    await c?.stop();
  }, 30_000);

  function client(uid: string, node: string, ws: unknown = WebSocket): { client: ImClient; got: Msg[]; states: StateChange[] } {
    const x = new ImClient({ endpoints: [c.gateways.get(node)!], token: c.token(uid, 'd1'), WebSocket: ws as never, history: 'all' });
    clients.push(x);
    const got: Msg[] = [];
    const states: StateChange[] = [];
    x.on('message', (m) => got.push(m));
    x.on('state', (s) => states.push(s));
    return { client: x, got, states };
  }
  async function closesWith(node: string, code: number): Promise<number> {
    const text = await (await fetch(`${c.http.get(node)}/metrics`, { headers: { authorization: `Bearer ${DEV_SERVER_KEY}` } })).text();
    const line = text.split('\n').find((l) => l.startsWith('im_gateway_closes_total{') && l.includes(`code="${code}"`));
    return line ? Number(line.split(' ').pop()) : 0;
  }

  it('gateway – a reader that stops reading is dropped with 4013 instead of buffered without end; it reconnects and gets everything once, in order', async () => {
    const other = (await c.api('POST', '/v1/conversations', { kind: 'direct', members: ['ann', 'ben'] })).body['conv'] as string;
    const [ann, ben] = [client('ann', 's1'), client('ben', 's1')];
    await Promise.all([ann.client.connect(), ben.client.connect()]);
    let closes = await closesWith('s1', 4013);
    const heard: number[][] = [];
    // The client hears 4013 only if it reads again before uWS gives up on the close handshake, 0–4 s after the close
    // (its ping timeout, on a 4 s timer wheel): on a loaded machine this test's notice of the close can come later,
    // and the client sees 1006. So up to three slow readers; before the close frame was kept (5a51572) every one
    // of them saw 1006.
    for (let attempt = 1; attempt <= 3 && !heard.some((codes) => codes.includes(4013)); attempt++) {
      const conv = (await c.api('POST', '/v1/conversations', { kind: 'direct', members: [`sloth${attempt}`, `hare${attempt}`] })).body['conv'] as string;
      const sloth = client(`sloth${attempt}`, 's1', TappedWebSocket);
      await sloth.client.connect();
      const tapped = TappedWebSocket.last!;
      const hare = client(`hare${attempt}`, 's2');
      await hare.client.connect();

      tapped.tcp.pause();
      // ~7 MB for a socket that reads nothing: more than the kernel's buffers hold, so the gateway's own queue grows.
      const count = 600;
      const sending = Promise.all(Array.from({ length: count }, (_, i) => hare.client.send(conv, `${i} ${BODY}`)));
      await waitUntil(async () => (await closesWith('s1', 4013)) > closes, 'the slow reader being dropped', 20_000);
      closes = await closesWith('s1', 4013);
      // Reading again at once, not after the rest of the sends.
      tapped.tcp.resume();
      const sent = await sending;
      // A bystander on the same gateway is unaffected.
      await ann.client.send(other, `still here ${attempt}`);
      await waitUntil(() => ben.got.some((m) => m.body === `still here ${attempt}`), 'the bystander message', 20_000);

      await waitUntil(() => sloth.got.length >= count, 'the slow reader catching up', 60_000);
      expect(sloth.got.map((m) => m.seq)).toEqual(sent.map((s) => s.seq));
      expect(sloth.states.some((s) => s.state === 'reconnecting')).toBe(true);
      heard.push(sloth.states.filter((s) => s.code !== undefined).map((s) => s.code!));
    }
    // The client heard why (§8), not a bare cut: the close frame got past the bytes it had not read.
    expect(heard.some((codes) => codes.includes(4013)), JSON.stringify(heard)).toBe(true);
  }, 240_000);

  it('gateway – a draining node sends its clients to the other gateway; they carry on there and miss nothing', async () => {
    const conv = (await c.api('POST', '/v1/conversations', { kind: 'direct', members: ['dora', 'dan'] })).body['conv'] as string;
    const dora = client('dora', 's1');
    const dan = client('dan', 's2');
    await Promise.all([dora.client.connect(), dan.client.connect()]);
    const first = await dan.client.send(conv, 'before the drain');
    await waitUntil(() => dora.got.some((m) => m.seq === first.seq), 'the first message', 20_000);

    c.nodes.get('s1')!.signal('SIGTERM');
    await waitUntil(() => dora.states.some((s) => s.code === 4011), 'the redirect close', 20_000);
    await waitUntil(() => dora.client.state === 'open', 'dora reconnected', 20_000);
    expect(dora.client.welcome!.node).toBe('s2');
    const second = await dan.client.send(conv, 'after the drain');
    const third = await dora.client.send(conv, 'from the other gateway');
    await waitUntil(() => dora.got.some((m) => m.seq === second.seq) && dan.got.some((m) => m.seq === third.seq), 'the messages after the drain', 20_000);
    // Her own message is in her log too, linked from its `sent`.
    expect(dora.got.map((m) => m.body)).toEqual(['before the drain', 'after the drain', 'from the other gateway']);
  }, 60_000);
});
