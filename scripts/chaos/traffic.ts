import WebSocket from 'ws';
import type { Msg } from '../../protocol/frames.js';
import { ImClient, type SendResult } from '../../protocol/sdk/index.js';
import type { BenchCluster } from '../bench/chat-harness.js';
import { amendBody, sendAmendment, type AmendKind, type DeviceLog } from '../lib/guarantee-check.js';
import { ReopenableSends } from '../lib/reopenable-sends.js';

/** One client device of the run and everything it saw. */
export interface ChaosDevice {
  client: ImClient;
  log: DeviceLog;
  convs: string[];
  /** This device's sends not recalled yet, latest last. */
  own: { conv: string; sent: Promise<{ seq: number }> }[];
}

/** The run's users, conversations and devices. */
export interface ChaosTraffic {
  devices: ChaosDevice[];
  convs: string[];
  members: Map<string, string[]>;
  /** Sends one message from a device (picked by `pick` in [0,1)) to one of its conversations. */
  sendOne(pickDevice: number, pickConv: number): void;
  /** Recalls, edits or reacts to the latest message not recalled yet of a device (or of the next one that sent any), once it is acked. */
  amendOne(pickDevice: number, kind: AmendKind): void;
  /** Hides ("delete for me") a device's latest message, once acked, for that device's user; a reopened device of theirs gets it as a stub. */
  hideOne(pickDevice: number): void;
  /** An app restart: the device sends `sendFirst` messages, its client closes at once, a new one opens on its outbox. */
  reopenOne(pickDevice: number, sendFirst: number): { did: string; restored: number };
  /** Resolves once every send settled (acked or failed for good); false at the deadline. */
  settle(deadlineMs: number): Promise<boolean>;
  /** The sends still waiting, described. */
  unsettled(): string[];
  /** Resolves once every member device holds each conversation up to its last stored seq; false at the deadline. */
  catchUp(lastSeqs: Map<string, number>, deadlineMs: number): Promise<boolean>;
  failures: string[];
  close(): void;
}

const USERS = 8;
/** One send in this many mentions members. */
const MENTION_EVERY = 7;
/** One send in this many (offset from the mentions) replies to the device's latest message in its conversation. */
const REPLY_EVERY = 5;

/**
 * Eight users: four direct conversations (pairs), a group of four and a group of all eight; two users have a
 * second device. Every device connects through the SDK with every gateway in its list (rotated), takes the
 * whole history, and logs what it delivers.
 */
/** Wall-clock time as HH:MM:SS with `decimals` digits of the second (UTC), the clock the node logs use. */
export const utcClock = (ms: number = Date.now(), decimals = 3): string => new Date(ms).toISOString().slice(11, decimals > 0 ? 20 + decimals : 19);

/**
 * `clientLog` gets one line per client event that explains a wait (state changes with close codes, sends met by
 * a retryable error, client errors), timestamped, so a long unavailability can be read against the node logs.
 */
export async function startTraffic(cluster: BenchCluster, runId: string, clientLog: (line: string) => void = () => {}): Promise<ChaosTraffic> {
  const uids = Array.from({ length: USERS }, (_, i) => `${runId}u${i}`);
  const convs: string[] = [];
  const members = new Map<string, string[]>();
  const create = async (body: Record<string, unknown>, who: string[]): Promise<void> => {
    const r = await cluster.api('POST', '/v1/conversations', body);
    if (r.status !== 201) throw new Error(`create conversation failed: ${JSON.stringify(r.body)}`);
    convs.push(r.body['conv'] as string);
    members.set(r.body['conv'] as string, who);
  };
  for (let i = 0; i < USERS; i += 2) await create({ kind: 'direct', members: [uids[i], uids[i + 1]] }, [uids[i]!, uids[i + 1]!]);
  await create({ kind: 'group', conv: `${runId}-g4`, owner: uids[0], members: uids.slice(1, 4) }, uids.slice(0, 4));
  await create({ kind: 'group', conv: `${runId}-g8`, owner: uids[0], members: uids.slice(1) }, [...uids]);
  const gateways = [...cluster.ws.values()];
  const devices: ChaosDevice[] = [];
  const failures: string[] = [];
  let closing = false;
  const deviceSpecs = uids.map((uid) => ({ uid, did: `${uid}-a` })).concat([{ uid: uids[0]!, did: `${uids[0]}-b` }, { uid: uids[5]!, did: `${uids[5]}-b` }]);
  /** Per device: its outbox and each send's answer, across the app restarts of `reopenOne`. */
  const sends = deviceSpecs.map(() => new ReopenableSends());
  const open = (i: number): ImClient => {
    const { uid, did } = deviceSpecs[i]!;
    const endpoints = gateways.map((_, k) => gateways[(i + k) % gateways.length]!);
    const client = new ImClient({ endpoints, token: cluster.token(uid, did), WebSocket: WebSocket as never, history: 'all', reconnect: { baseMs: 100, capMs: 2000 }, sendRetryMs: 3000, outbox: sends[i]!.outbox() });
    const log = devices[i]?.log ?? { uid, did, delivered: new Map(), acked: new Map(), attempted: new Map(), amends: new Map(), mentioned: new Map(), mentionedAll: new Set(), replies: new Map(), hides: new Map() };
    client.on('message', (m: Msg) => {
      let l = log.delivered.get(m.conv);
      if (!l) log.delivered.set(m.conv, (l = []));
      l.push(m);
    });
    sends[i]!.watch(client);
    client.on('sendFailed', (f) => failures.push(`${did}: send ${f.cid} to ${f.conv} failed for good: ${f.error.code} ${f.error.message}`));
    // Only the harness closes its clients: a client that stops on its own (4012 replaced, ...) is a failure.
    client.on('state', (st) => {
      if (st.state === 'closed' && !closing && !sends[i]!.wasClosedAsApp(client)) failures.push(`${did}: the client stopped for good (close ${st.code ?? '?'} ${st.reason ?? ''})`);
      clientLog(`${utcClock()} ${did} state ${st.state}${st.code === undefined ? '' : ` (close ${st.code} ${st.reason ?? ''})`}`);
    });
    client.on('welcome', (w) => clientLog(`${utcClock()} ${did} welcome from ${w.node}`));
    client.on('sendRetry', (f) => clientLog(`${utcClock()} ${did} send ${f.cid} to ${f.conv} will be retried: ${f.error.code} ${f.error.message}`));
    client.on('error', (e) => clientLog(`${utcClock()} ${did} error ${e.code} ${e.message}`));
    if (devices[i]) devices[i]!.client = client;
    else devices.push({ client, log, convs: convs.filter((c) => members.get(c)!.includes(uid)), own: [] });
    return client;
  };
  for (const i of deviceSpecs.keys()) open(i);
  await Promise.all(devices.map((d) => d.client.connect()));
  /** Sends not settled yet: what they are, for the report when some never settle. */
  const pending = new Map<Promise<unknown>, string>();
  let n = 0;
  /** Sends through the device's current client; resolves once durable, whichever client of the device hears it. */
  const tracked = (i: number, body: string, send: (client: ImClient) => Promise<SendResult>): Promise<SendResult> => sends[i]!.send(devices[i]!.client, body, send);
  const sendFrom = (i: number, pickConv: number): void => {
    const d = devices[i]!;
    const conv = d.convs[Math.floor(pickConv * d.convs.length)]!;
    const body = `${d.log.did}#${++n}`;
    let l = d.log.attempted.get(conv);
    if (!l) d.log.attempted.set(conv, (l = []));
    l.push(body);
    const t0 = Date.now();
    // One in MENTION_EVERY names the other members of its conversation (some of them), checked with the rest.
    const named = n % MENTION_EVERY === 0 ? members.get(conv)!.filter((u) => u !== d.log.uid).slice(0, 3) : [];
    // Every other one of those mentions all instead, where the sender may: the groups' owner, either member of a pair.
    const all = named.length > 0 && (n / MENTION_EVERY) % 2 === 1 && (members.get(conv)!.length === 2 || d.log.uid === uids[0]);
    if (all) {
      d.log.mentioned!.set(body, members.get(conv)!.filter((u) => u !== d.log.uid));
      d.log.mentionedAll!.add(body);
    } else if (named.length > 0) d.log.mentioned!.set(body, named);
    // One in REPLY_EVERY answers this device's latest message there, once that is durable: the device's own later
    // recall of it can only follow the reply (sender order), so the reply is never refused.
    const answered = n % REPLY_EVERY === 3 ? d.own.findLast((o) => o.conv === conv) : undefined;
    const extras = (seq?: number) => ({ ...(all ? { mentionAll: true } : named.length > 0 && { mentions: named }), ...(seq !== undefined && { reply: seq }) });
    const sent =
      answered === undefined
        ? tracked(i, body, (c) => c.send(conv, body, extras()))
        : answered.sent.then(({ seq }) => (d.log.replies!.set(body, seq), tracked(i, body, (c) => c.send(conv, body, extras(seq)))));
    d.own.push({ conv, sent });
    const p = sent
      .then((s) => void d.log.acked.set(body, { conv, seq: s.seq, cid: s.cid, waitedMs: Date.now() - t0, sentAt: t0 }))
      .catch(() => undefined)
      .finally(() => pending.delete(p));
    pending.set(p, `${d.log.did} → ${conv} (${body}, sent ${utcClock(t0, 0)}, ${d.client.state}, ${d.client.queuedSends} queued)`);
  };
  return {
    devices,
    convs,
    members,
    failures,
    sendOne(pickDevice, pickConv) {
      sendFrom(Math.floor(pickDevice * devices.length), pickConv);
    },
    amendOne(pickDevice, kind) {
      const first = Math.floor(pickDevice * devices.length);
      const i = devices.map((_, k) => (first + k) % devices.length).find((k) => devices[k]!.own.length > 0);
      if (i === undefined) return;
      const d = devices[i]!;
      // An edited (or reacted to) message may be edited again and recalled later; a recalled one is done with.
      const { conv, sent } = kind === 'recall' ? d.own.pop()! : d.own[d.own.length - 1]!;
      const body = amendBody(d.log.did, ++n, kind);
      d.log.attempted.get(conv)!.push(body);
      const t0 = Date.now();
      const p = sent
        .then(({ seq }) => {
          d.log.amends!.set(body, { kind, target: seq });
          return tracked(i, body, (c) => sendAmendment(c, kind, conv, seq, body));
        })
        .then((s) => void d.log.acked.set(body, { conv, seq: s.seq, cid: s.cid, waitedMs: Date.now() - t0, sentAt: t0 }))
        .catch(() => undefined)
        .finally(() => pending.delete(p));
      pending.set(p, `${d.log.did} ${kind} in ${conv} (${body}, asked ${utcClock(t0, 0)}, ${d.client.state}, ${d.client.queuedSends} queued)`);
    },
    hideOne(pickDevice) {
      const i = Math.floor(pickDevice * devices.length);
      const d = devices[i]!;
      const target = d.own.at(-1);
      if (target === undefined) return;
      const t0 = Date.now();
      // A hide lost to a fault promises nothing (it may be stored all the same: the check reads what is).
      const p = target.sent
        .then(({ seq }) => devices[i]!.client.hide(target.conv, [seq]))
        .then((seqs) => void d.log.hides!.set(target.conv, [...(d.log.hides!.get(target.conv) ?? []), ...seqs]))
        .catch(() => undefined)
        .finally(() => pending.delete(p));
      pending.set(p, `${d.log.did} hide in ${target.conv} (asked ${utcClock(t0, 0)}, ${d.client.state})`);
    },
    reopenOne(pickDevice, sendFirst) {
      const i = Math.floor(pickDevice * devices.length);
      const d = devices[i]!;
      for (let k = 0; k < sendFirst; k++) sendFrom(i, (k + 0.5) / sendFirst);
      const restored = sends[i]!.closeAsApp(d.client);
      // A new run of the app holds nothing of the old one: it takes the whole history in again.
      d.log.delivered = new Map();
      open(i).connect().catch(() => undefined);
      return { did: d.log.did, restored };
    },
    async settle(deadlineMs) {
      const end = Date.now() + deadlineMs;
      while (pending.size > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
      return pending.size === 0;
    },
    unsettled() {
      return [...pending.values()];
    },
    async catchUp(lastSeqs, deadlineMs) {
      const end = Date.now() + deadlineMs;
      const behind = (): boolean =>
        devices.some((d) =>
          d.convs.some((conv) => {
            const got = d.log.delivered.get(conv) ?? [];
            return (got[got.length - 1]?.seq ?? 0) < (lastSeqs.get(conv) ?? 0);
          }),
        );
      while (behind() && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
      return !behind();
    },
    close() {
      closing = true;
      for (const d of devices) d.client.close();
    },
  };
}
