import { afterEach, beforeEach, vi } from 'vitest';
import type { Msg, WelcomeFrame } from '../../protocol/frames.js';
import { ImClient } from '../../protocol/sdk/client.js';
import type { ImClientOptions, StateChange } from '../../protocol/sdk/client-types.js';
import { fakeWebSocketFactory } from './fake-websocket.js';

/** Unit tests of the SDK client against fake sockets and fake timers. */
export const WELCOME: WelcomeFrame = { type: 'welcome', uid: 'me', did: 'phone', node: 'n1', heartbeatMs: 1_000, maxFrameBytes: 65_536 };
export const msg = (conv: string, seq: number, prev: number): Msg => ({ conv, seq, prev, from: 'bob', did: 'd', cid: seq, ts: seq, body: `m${seq}` });
/** Lets promise chains (token, endpoint lookup) run; with fake timers nothing else moves. */
export const flush = () => vi.advanceTimersByTimeAsync(0);

export function harness(opts: Partial<ImClientOptions> = {}) {
  const ws = fakeWebSocketFactory();
  const states: StateChange[] = [];
  const messages: string[] = [];
  const client = new ImClient({ url: 'ws://gw1/ws', token: 't0', WebSocket: ws.WebSocket, cidStart: 1, random: () => 0.5, ...opts });
  client.on('state', (s) => states.push(s));
  client.on('message', (m) => messages.push(`${m.conv}:${m.seq}`));
  /** Opens the latest socket and plays welcome + convs. */
  const accept = (list: { conv: string; lastSeq: number }[] = []) => {
    const s = ws.last();
    s.open();
    s.receive(WELCOME);
    s.receive({ type: 'convs', list: list.map((c) => ({ kind: 'group', readSeq: 0, unread: 0, ...c })) });
    return s;
  };
  return { client, ws, states, messages, accept };
}

/** A harness whose client has connected: its socket opened, `welcome` and the list `list` played (`s` is that socket). */
export async function connectedHarness(opts: Partial<ImClientOptions> = {}, list: { conv: string; lastSeq: number }[] = []) {
  const h = harness(opts);
  void h.client.connect();
  await flush();
  return { ...h, s: h.accept(list) };
}

/** A harness whose client's socket opened and got `welcome` (changed by `welcome`), before any list. */
export async function welcomedHarness(opts: Partial<ImClientOptions> = {}, welcome: Partial<WelcomeFrame> = {}) {
  const h = harness(opts);
  void h.client.connect();
  await flush();
  const s = h.ws.last();
  s.open();
  s.receive({ ...WELCOME, ...welcome });
  return { ...h, s };
}

/** Every test of the file that calls this runs on fake timers. */
export function fakeTimersPerTest(): void {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });
}
