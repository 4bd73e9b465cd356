/**
 * Load generator of the chat benchmark, in its own process (`node --import tsx chat-load-worker.ts`).
 * Lean raw-protocol clients (no SDK bookkeeping, and a minimal WebSocket client: `lean-ws.ts`) so that the
 * generator's CPU goes to the wire, not to us.
 * Commands arrive over IPC; each answers with one message:
 * - `connect {clients}`: opens every socket, answers once each got `welcome` (and `convs` when `waitConvs`);
 * - `closed-loop {pairs, window, durationMs, warmupMs}`: each sender keeps `window` sends outstanding; counts
 *   messages acked (`sent`) and delivered to the receiver, which acks them cumulatively (`deliveredAll` counts
 *   warm-up and wind-down too, for CPU per message over the whole command);
 * - `open-loop {pairs, ratePerSec, durationMs}`: sends on a fixed schedule; send→sent and send→msg latencies;
 * - `count-start` / `count-report`: counts `msg` frames on every socket (fan-out receivers), and sockets the
 *   server closed (by close code) since the last `connect`;
 * - `send-burst {client, conv, n, ratePerSec}`: one socket sends n messages at a rate (fan-out sender);
 * - `close`.
 */
import { decode, encodeFrame } from '../../protocol/codec.js';
import type { ClientFrame, ServerFrame } from '../../protocol/frames.js';
import { DEFAULT_HEARTBEAT_MS, HEARTBEAT_JITTER } from '../../protocol/limits.js';
import { LeanConnectError, LeanSocket } from './lean-ws.js';

interface ClientSpec {
  url: string;
  token: string;
}
interface Pair {
  sender: number;
  receiver: number;
  conv: string;
}

interface Client {
  ws: LeanSocket;
  cid: number;
  /** cid → send time, for outstanding sends. */
  outstanding: Map<number, number>;
  onFrame?: (f: ServerFrame) => void;
  received: number;
  /** conv → highest seq to ack. */
  toAck: Map<string, number>;
  /** When this client pings next, epoch ms. */
  pingAt: number;
}

const clients: Client[] = [];
const BODY = 'x'.repeat(64);
let counting = false;
let countFirst = 0;
let countLast = 0;
let countTotal = 0;
/** Sockets closed after they were ready, by close code. */
const closes = new Map<number, number>();

function send(c: Client, f: ClientFrame): void {
  c.ws.send(encodeFrame(f));
}

/** Close codes seen since the last connect, as `{code: count}`. */
function closeCounts(): Record<string, number> {
  return Object.fromEntries([...closes].map(([k, v]) => [String(k), v]));
}

/** Attempts at opening one socket whose TCP connection failed (a reset while a thousand others connect). */
const CONNECT_ATTEMPTS = 3;

/** Opens a socket, trying again when its TCP connection failed before the upgrade (not when the server refused it). */
async function openRetrying(spec: ClientSpec, waitConvs: boolean): Promise<Client> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await open(spec, waitConvs);
    } catch (err) {
      const e = err as Partial<LeanConnectError>;
      if (!e.beforeUpgrade || e.code === undefined || attempt >= CONNECT_ATTEMPTS) throw err;
      process.stderr.write(`[chat-load-worker] ${userOf(spec.token)}: ${e.code} while connecting, attempt ${attempt + 1}\n`);
      await sleep(200 * attempt);
    }
  }
}

/** The user a token names, for error messages. */
function userOf(token: string): string {
  try {
    return String((JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as { sub?: unknown }).sub);
  } catch {
    return '?';
  }
}

async function open(spec: ClientSpec, waitConvs: boolean): Promise<Client> {
  const ws = await LeanSocket.connect(`${spec.url}?token=${encodeURIComponent(spec.token)}`);
  return new Promise((resolve, reject) => {
    const c: Client = { ws, cid: Date.now() * 1000, outstanding: new Map(), received: 0, toAck: new Map(), pingAt: Date.now() + DEFAULT_HEARTBEAT_MS * Math.random() };
    let welcomed = false;
    let ready = false;
    ws.onMessage = (data) => {
      // Trusted server in a benchmark: the unvalidated decode keeps the generator's CPU for the wire.
      const f = decode(data) as ServerFrame;
      if (f.type === 'msg') {
        c.received++;
        if (counting) {
          countTotal++;
          countLast = Date.now();
        }
        const prev = c.toAck.get(f.conv) ?? 0;
        if (f.seq > prev) c.toAck.set(f.conv, f.seq);
      } else if (!ready) {
        if (f.type === 'welcome') welcomed = true;
        if ((f.type === 'welcome' && !waitConvs) || (f.type === 'convs' && f.rid === undefined && waitConvs && welcomed)) {
          ready = true;
          resolve(c);
        }
      }
      c.onFrame?.(f);
    };
    ws.onClose = (code, reason) => {
      // A socket closed before it was ready must fail the connect, not leave it waiting for ever.
      if (!ready) return reject(new Error(`${userOf(spec.token)} closed with ${code} ${reason} before ${welcomed ? 'convs' : 'welcome'}`));
      closes.set(code, (closes.get(code) ?? 0) + 1);
    };
  });
}

// Cumulative acks every 50 ms, like the SDK.
setInterval(() => {
  for (const c of clients) {
    if (c.toAck.size === 0 || !c.ws.isOpen) continue;
    for (const [conv, seq] of c.toAck) send(c, { type: 'ack', conv, seq });
    c.toAck.clear();
  }
}, 50).unref();
// Heartbeats at the SDK's default interval, so idle sockets are not closed during long runs and an idle
// server sees the ping traffic of default clients. Every client has its own phase, as the SDK's jitter gives.
setInterval(() => {
  const now = Date.now();
  for (const c of clients) {
    if (now < c.pingAt || !c.ws.isOpen) continue;
    c.pingAt = now + DEFAULT_HEARTBEAT_MS * (1 - HEARTBEAT_JITTER + 2 * HEARTBEAT_JITTER * Math.random());
    send(c, { type: 'ping' });
  }
}, 1000).unref();

async function closedLoop(pairs: Pair[], window: number, durationMs: number, warmupMs: number): Promise<Record<string, number | Record<string, number>>> {
  let acked = 0;
  let delivered = 0;
  let deliveredAll = 0;
  let measuring = false;
  let stop = false;
  const after = new Map<number, number>();
  const fire = (p: Pair): void => {
    const s = clients[p.sender]!;
    const cid = ++s.cid;
    const prev = after.get(p.sender);
    after.set(p.sender, cid);
    s.outstanding.set(cid, performance.now());
    send(s, prev === undefined ? { type: 'send', conv: p.conv, cid, body: BODY } : { type: 'send', conv: p.conv, cid, body: BODY, after: prev });
  };
  for (const p of pairs) {
    const s = clients[p.sender]!;
    const r = clients[p.receiver]!;
    s.onFrame = (f) => {
      if (f.type === 'sent') {
        s.outstanding.delete(f.cid);
        if (measuring) acked++;
        if (!stop) fire(p);
      } else if (f.type === 'error' && f.cid !== undefined) {
        s.outstanding.delete(f.cid);
        if (!stop) fire(p);
      }
    };
    r.onFrame = (f) => {
      if (f.type !== 'msg' || f.conv !== p.conv) return;
      deliveredAll++;
      if (measuring) delivered++;
    };
  }
  for (const p of pairs) for (let i = 0; i < window; i++) fire(p);
  await sleep(warmupMs);
  measuring = true;
  const t0 = performance.now();
  await sleep(durationMs);
  const seconds = (performance.now() - t0) / 1000;
  measuring = false;
  stop = true;
  await sleep(500);
  for (const c of clients) c.onFrame = undefined;
  return { acked, delivered, deliveredAll, seconds, ackedPerSec: acked / seconds, deliveredPerSec: delivered / seconds, closes: closeCounts() };
}

async function openLoop(pairs: Pair[], ratePerSec: number, durationMs: number): Promise<{ ack: number[]; deliver: number[]; sent: number; errors: number; closes: Record<string, number> }> {
  const ack: number[] = [];
  const deliver: number[] = [];
  let errors = 0;
  const after = new Map<number, number>();
  for (const p of pairs) {
    const s = clients[p.sender]!;
    const r = clients[p.receiver]!;
    s.onFrame = (f) => {
      if (f.type === 'sent') {
        const t = s.outstanding.get(f.cid);
        if (t !== undefined) ack.push(performance.now() - t);
      } else if (f.type === 'error' && f.cid !== undefined) errors++;
    };
    r.onFrame = (f) => {
      if (f.type !== 'msg' || f.conv !== p.conv) return;
      const t = s.outstanding.get(f.cid);
      if (t !== undefined) deliver.push(performance.now() - t);
    };
  }
  // Open loop: the schedule does not wait for answers. Ticks every 5 ms send what is due.
  const start = performance.now();
  let sent = 0;
  let next = 0;
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const elapsed = performance.now() - start;
      const due = Math.min(Math.floor((elapsed / 1000) * ratePerSec), Math.floor((durationMs / 1000) * ratePerSec));
      while (sent < due) {
        const p = pairs[next++ % pairs.length]!;
        const s = clients[p.sender]!;
        const cid = ++s.cid;
        const prev = after.get(p.sender);
        after.set(p.sender, cid);
        s.outstanding.set(cid, performance.now());
        send(s, prev === undefined ? { type: 'send', conv: p.conv, cid, body: BODY } : { type: 'send', conv: p.conv, cid, body: BODY, after: prev });
        sent++;
      }
      if (elapsed >= durationMs) {
        clearInterval(tick);
        resolve();
      }
    }, 5);
  });
  await sleep(1000);
  for (const c of clients) {
    c.onFrame = undefined;
    c.outstanding.clear();
  }
  return { ack, deliver, sent, errors, closes: closeCounts() };
}

async function sendBurst(client: number, conv: string, n: number, ratePerSec: number): Promise<{ sent: number; acked: number; ms: number }> {
  const c = clients[client]!;
  let acked = 0;
  let prev: number | undefined;
  c.onFrame = (f) => {
    if (f.type === 'sent') acked++;
  };
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const cid = ++c.cid;
    send(c, prev === undefined ? { type: 'send', conv, cid, body: BODY } : { type: 'send', conv, cid, body: BODY, after: prev });
    prev = cid;
    const due = t0 + ((i + 1) / ratePerSec) * 1000;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
  }
  const deadline = performance.now() + 10_000;
  while (acked < n && performance.now() < deadline) await sleep(20);
  c.onFrame = undefined;
  return { sent: n, acked, ms: performance.now() - t0 };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

type Command =
  | { cmd: 'connect'; clients: ClientSpec[]; waitConvs?: boolean; concurrency?: number }
  | { cmd: 'closed-loop'; pairs: Pair[]; window: number; durationMs: number; warmupMs: number }
  | { cmd: 'open-loop'; pairs: Pair[]; ratePerSec: number; durationMs: number }
  | { cmd: 'count-start' }
  | { cmd: 'count-report' }
  | { cmd: 'send-burst'; client: number; conv: string; n: number; ratePerSec: number }
  | { cmd: 'close' };

async function run(m: Command): Promise<unknown> {
  switch (m.cmd) {
    case 'connect': {
      const specs = m.clients;
      const conc = m.concurrency ?? 200;
      for (let i = 0; i < specs.length; i += conc) {
        const batch = await Promise.all(specs.slice(i, i + conc).map((s) => openRetrying(s, m.waitConvs ?? true)));
        clients.push(...batch);
      }
      return { connected: clients.length, rss: process.memoryUsage.rss() };
    }
    case 'closed-loop':
      return closedLoop(m.pairs, m.window, m.durationMs, m.warmupMs);
    case 'open-loop':
      return openLoop(m.pairs, m.ratePerSec, m.durationMs);
    case 'count-start':
      counting = true;
      countTotal = 0;
      countFirst = Date.now();
      countLast = countFirst;
      closes.clear();
      return { ok: true };
    case 'count-report':
      return { total: countTotal, first: countFirst, last: countLast, closes: closeCounts() };
    case 'send-burst':
      return sendBurst(m.client, m.conv, m.n, m.ratePerSec);
    case 'close':
      for (const c of clients) c.ws.terminate();
      setTimeout(() => process.exit(0), 50);
      return { ok: true };
  }
}

process.on('message', (m: Command & { id: number }) => {
  run(m).then(
    (value) => process.send?.({ id: m.id, ok: true, value }),
    (err: unknown) => process.send?.({ id: m.id, ok: false, error: (err as Error).message }),
  );
});
process.send?.({ ready: true });

// The bench process is gone (even SIGKILLed, when its own hooks cannot run): its open sockets must not keep this one up.
process.on('disconnect', () => process.exit(0));
