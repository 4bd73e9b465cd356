/**
 * Soak load generator (a child process of scripts/bench/soak.ts), speaking `{id, cmd…}` → `{id, ok, value}`
 * over IPC. One command, `round`: the given devices connect through the SDK (where the dispatcher sends them),
 * every device sends to each of its conversations, every member device must receive every message once, read
 * marks are moved, and everything disconnects. Real SDK clients, so reconnects, acks and sync are the ones a
 * user runs.
 */
import WebSocket from 'ws';
import type { Msg } from '../../protocol/frames.js';
import { ImClient } from '../../protocol/sdk/index.js';

interface DeviceSpec {
  uid: string;
  did: string;
  token: string;
}
interface ConvSpec {
  conv: string;
  members: string[];
}
interface RoundCommand {
  cmd: 'round';
  dispatcherUrl: string;
  devices: DeviceSpec[];
  convs: ConvSpec[];
  messagesPerConv: number;
  deadlineMs: number;
}
/** What one round saw. */
export interface RoundResult {
  sessions: number;
  sent: number;
  acked: number;
  expected: number;
  delivered: number;
  duplicates: number;
  failures: string[];
  ms: number;
}

async function round(m: RoundCommand): Promise<RoundResult> {
  const t0 = performance.now();
  const failures: string[] = [];
  const devicesOf = new Map<string, DeviceSpec[]>();
  for (const d of m.devices) devicesOf.set(d.uid, [...(devicesOf.get(d.uid) ?? []), d]);
  let delivered = 0;
  let duplicates = 0;
  const stateLog: string[] = [];
  const clients = m.devices.map((d) => {
    const c = new ImClient({ dispatcherUrl: m.dispatcherUrl, uid: d.uid, token: d.token, WebSocket: WebSocket as never, reconnect: { baseMs: 100, capMs: 2000 } });
    const seen = new Set<string>();
    const trace: string[] = [];
    c.on('convs', (list) => trace.push(`convs[${list.map((r) => `${r.conv}:${r.lastSeq}`).join(' ')}]`));
    c.on('message', (msg: Msg) => {
      trace.push(`${msg.conv}#${msg.seq}<${msg.prev}`);
      const k = `${msg.conv}:${msg.seq}`;
      if (seen.has(k)) duplicates++;
      else {
        seen.add(k);
        delivered++;
      }
    });
    c.on('state', (st) => st.code !== undefined && stateLog.push(`${performance.now().toFixed(0)} ${d.did} ${st.state} (${st.code})`));
    c.on('sendFailed', (f) => failures.push(`${d.did}: send to ${f.conv} failed: ${f.error.code} ${f.error.message}`));
    return { spec: d, client: c, seen, trace };
  });
  try {
    // A device's history starts at its first conversation list ("from now"), which connect() waits for: nobody
    // sends before every device has it.
    await Promise.all(clients.map((c) => c.client.connect()));
    // Every member device gets each message, the sending one too (its chain has no gap where its own messages are).
    let expected = 0;
    const sends: Promise<unknown>[] = [];
    const ackedSeqs = new Map<string, number[]>();
    let acked = 0;
    for (const conv of m.convs) {
      const seqs: number[] = [];
      ackedSeqs.set(conv.conv, seqs);
      const memberDevices = conv.members.reduce((n, u) => n + (devicesOf.get(u)?.length ?? 0), 0);
      for (const c of clients) {
        if (!conv.members.includes(c.spec.uid)) continue;
        for (let i = 0; i < m.messagesPerConv; i++) {
          expected += memberDevices;
          sends.push(
            c.client.send(conv.conv, `${c.spec.did}#${i}`).then((r) => {
              acked++;
              seqs.push(r.seq);
            }),
          );
        }
      }
    }
    const deadline = t0 + m.deadlineMs;
    await Promise.race([Promise.allSettled(sends), sleep(m.deadlineMs)]);
    while (delivered < expected && performance.now() < deadline) await sleep(20);
    if (delivered < expected) {
      // Who missed what, for whoever looks into a failed round.
      const bad = new Set<(typeof clients)[number]>();
      for (const c of clients) {
        for (const conv of m.convs) {
          if (!conv.members.includes(c.spec.uid)) continue;
          const missed = ackedSeqs.get(conv.conv)!.filter((q) => !c.seen.has(`${conv.conv}:${q}`));
          if (missed.length === 0) continue;
          bad.add(c);
          failures.push(`${c.spec.did} (${c.client.state}, welcome from ${c.client.welcome?.node}) missed ${conv.conv} seqs ${missed.sort((a, b) => a - b).join(',')}`);
        }
      }
      failures.push(...stateLog.slice(0, 20));
      for (const c of [...bad].slice(0, 2)) failures.push(`${c.spec.did} saw: ${c.trace.join(' ')}`);
    }
    for (const conv of m.convs) {
      const seqs = ackedSeqs.get(conv.conv)!;
      if (seqs.length === 0) continue;
      const last = Math.max(...seqs);
      for (const c of clients) if (conv.members.includes(c.spec.uid)) c.client.read(conv.conv, last);
    }
    // Long enough for the SDK's cumulative acks and the read marks to go out before the sockets close.
    await sleep(200);
    return { sessions: clients.length, sent: sends.length, acked, expected, delivered, duplicates, failures, ms: performance.now() - t0 };
  } finally {
    for (const c of clients) c.client.close();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

type Command = RoundCommand | { cmd: 'close' };

process.on('message', (m: Command & { id: number }) => {
  const run = async (): Promise<unknown> => {
    if (m.cmd === 'round') return round(m);
    setTimeout(() => process.exit(0), 50);
    return { ok: true };
  };
  run().then(
    (value) => process.send?.({ id: m.id, ok: true, value }),
    (err: unknown) => process.send?.({ id: m.id, ok: false, error: (err as Error).message }),
  );
});
process.send?.({ ready: true });

// The bench process is gone (even SIGKILLed, when its own hooks cannot run): its open sockets must not keep this one up.
process.on('disconnect', () => process.exit(0));
