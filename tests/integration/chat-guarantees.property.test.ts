import fc from 'fast-check';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Msg } from '../../protocol/frames.js';
import { ImClient, type SendResult } from '../../protocol/sdk/index.js';
import { startChatCluster, type ChatCluster } from '../helpers/chat-cluster.js';
import { waitUntil } from '../helpers/wait.js';
import { allHeld, amendBody, checkGuarantees, sendAmendment, type AmendKind, type DeviceLog } from '../../scripts/lib/guarantee-check.js';
import { ReopenableSends } from '../../scripts/lib/reopenable-sends.js';

/**
 * G1–G5 under random schedules against the real cluster: two node processes, nats-server, Postgres, SDK
 * clients over real WebSockets. Each run gets fresh users and conversations (two direct, one group), then
 * fast-check drives sends interleaved with duplicate frames, socket drops, node SIGKILL + restart, shard moves
 * and app restarts (a device's client closed with sends unanswered, and a new one opened on its outbox), and hides
 * ("delete for me"), whose stubs an app restart's pulls take in again in their place in the chain.
 */

type Action =
  | { t: 'send'; device: number; conv: number; n: number }
  | { t: 'drop'; device: number }
  | { t: 'dup'; device: number; frames: number }
  | { t: 'restart'; victim: 'n1' | 'n2' }
  | { t: 'move'; kind: 'chatter' | 'connector'; shard: number }
  | { t: 'pause'; ms: number }
  | { t: 'amend'; device: number; kind: AmendKind }
  | { t: 'reopen'; device: number; conv: number; n: number }
  | { t: 'hide'; device: number; conv: number };

const SHARDS = 16;
const DEVICES = [
  { user: 0, dev: 'a' },
  { user: 0, dev: 'b' },
  { user: 1, dev: 'a' },
  { user: 2, dev: 'a' },
  { user: 3, dev: 'a' },
];
// conv 0: direct u0–u1; conv 1: direct u2–u3; conv 2: group of all four.
const CONV_MEMBERS = [[0, 1], [2, 3], [0, 1, 2, 3]];

const actionArb: fc.Arbitrary<Action> = fc.oneof(
  { weight: 10, arbitrary: fc.record({ t: fc.constant('send' as const), device: fc.nat(DEVICES.length - 1), conv: fc.nat(2), n: fc.integer({ min: 1, max: 8 }) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('drop' as const), device: fc.nat(DEVICES.length - 1) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('dup' as const), device: fc.nat(DEVICES.length - 1), frames: fc.integer({ min: 1, max: 20 }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('restart' as const), victim: fc.constantFrom('n1' as const, 'n2' as const) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('move' as const), kind: fc.constantFrom('chatter' as const, 'connector' as const), shard: fc.nat(SHARDS - 1) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('pause' as const), ms: fc.integer({ min: 10, max: 300 }) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('amend' as const), device: fc.nat(DEVICES.length - 1), kind: fc.constantFrom<AmendKind>('recall', 'edit', 'react') }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('reopen' as const), device: fc.nat(DEVICES.length - 1), conv: fc.nat(2), n: fc.integer({ min: 0, max: 4 }) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('hide' as const), device: fc.nat(DEVICES.length - 1), conv: fc.nat(2) }) },
);

/** Where device `device`'s choice of conversation `conv` lands: the conversation itself when its user is in it, else the group. */
const convFor = (device: number, conv: number): number => (CONV_MEMBERS[conv]!.includes(DEVICES[device]!.user) ? conv : 2);

/**
 * How many of the schedule's hides have a message to hide: the same bookkeeping of own sends the run does (sends and
 * reopens add, recalls take the latest of the first device that has any), which depends on the actions alone.
 */
function hidesWithTarget(actions: readonly Action[]): number {
  const own = DEVICES.map(() => [] as number[]);
  let hides = 0;
  for (const a of actions) {
    if ((a.t === 'send' || a.t === 'reopen') && a.n > 0) for (let k = 0; k < a.n; k++) own[a.device]!.push(convFor(a.device, a.conv));
    else if (a.t === 'amend' && a.kind === 'recall') {
      const d = DEVICES.map((_, k) => (a.device + k) % DEVICES.length).find((x) => own[x]!.length > 0);
      if (d !== undefined) own[d]!.pop();
    } else if (a.t === 'hide' && own.some((l) => l.includes(convFor(a.device, a.conv)))) hides++;
  }
  return hides;
}

/** A WebSocket that sends its next `dup.left` frames twice (sends, acks, pulls, reads alike): duplicate frames on the wire. */
function duplicatingSocket(dup: { left: number; doubled: number }): typeof WebSocket {
  return class extends WebSocket {
    override send(data: Parameters<WebSocket['send']>[0], ...rest: unknown[]): void {
      (super.send as (...a: unknown[]) => void)(data, ...rest);
      if (dup.left > 0 && this.readyState === WebSocket.OPEN) {
        dup.left--;
        dup.doubled++;
        (super.send as (...a: unknown[]) => void)(data);
      }
    }
  } as unknown as typeof WebSocket;
}

describe('chat guarantees (property)', () => {
  let c: ChatCluster;
  let run = 0;
  /** Across all runs: hides sent, and seqs the server said it hid (a hide lost to a fault promises nothing, but not all may be). */
  const hideTally = { tried: 0, hidden: 0 };
  /** Across all runs: shard moves asked of imctl, and those it refused as conflicting with another move. */
  const moveTally = { tried: 0, conflicts: 0 };

  beforeAll(async () => {
    // Recall and edit windows no run outlives: each amendment the schedule makes is of the device's own acked message, so
    // each must be stored, whatever faults delay it.
    c = await startChatCluster({ nodes: ['n1', 'n2'], shards: SHARDS, args: ['--rate', '5000', '--rate-burst', '5000', '--recall-window', '3600', '--edit-window', '3600'] });
  }, 60_000);
  afterAll(async () => {
    await c?.stop();
  }, 30_000);

  it('guarantees – every acked message is stored once, chains hold, sender order holds, every device gets every message once in order', async () => {
    await fc.assert(
      // Only schedules with a hide that has a message to hide: the check that acked hides are stored then always has hides to hold against.
      fc.asyncProperty(fc.array(actionArb, { minLength: 8, maxLength: 30 }).filter((actions) => hidesWithTarget(actions) > 0), async (actions) => {
        const r = ++run;
        const uids = [0, 1, 2, 3].map((u) => `r${r}u${u}`);
        const convs: string[] = [];
        for (const m of CONV_MEMBERS) {
          const body = m.length === 2 ? { kind: 'direct', members: m.map((i) => uids[i]) } : { kind: 'group', conv: `r${r}group`, owner: uids[0], members: uids.slice(1) };
          const res = await c.api('POST', '/v1/conversations', body);
          expect(res.status).toBe(201);
          convs.push(res.body['conv'] as string);
        }
        const endpoints = [...c.gateways.values()];
        const logs: DeviceLog[] = [];
        const clients: ImClient[] = [];
        const dups = DEVICES.map(() => ({ left: 0, doubled: 0 }));
        /** Per device: its outbox and each send's answer, across the app restarts of `reopen`. */
        const deviceSends = DEVICES.map(() => new ReopenableSends());
        const open = (i: number): ImClient => {
          const d = DEVICES[i]!;
          const uid = uids[d.user]!;
          const did = `${uid}-${d.dev}`;
          const log = logs[i] ?? (logs[i] = { uid, did, delivered: new Map(), acked: new Map(), attempted: new Map(), amends: new Map(), hides: new Map() });
          // Spread devices over both gateways; each falls back to the other when its node is down.
          const client = new ImClient({ endpoints: i % 2 ? endpoints : [...endpoints].reverse(), token: c.token(uid, did), WebSocket: duplicatingSocket(dups[i]!) as never, history: 'all', reconnect: { baseMs: 50, capMs: 500 }, sendRetryMs: 2000, outbox: deviceSends[i]!.outbox() });
          client.on('message', (m: Msg) => {
            let l = log.delivered.get(m.conv);
            if (!l) log.delivered.set(m.conv, (l = []));
            l.push(m);
          });
          deviceSends[i]!.watch(client);
          clients[i] = client;
          return client;
        };
        /** Sends through the device's current client; resolves once durable, whichever client of the device hears it. */
        const tracked = (i: number, conv: string, body: string, send: (client: ImClient) => Promise<SendResult>): Promise<SendResult> => {
          const log = logs[i]!;
          let l = log.attempted.get(conv);
          if (!l) log.attempted.set(conv, (l = []));
          l.push(body);
          // A reopen closes the client with this send unanswered: its outbox holds it, and the next client answers it.
          return deviceSends[i]!.send(clients[i]!, body, send).then((s) => (log.acked.set(body, { conv, seq: s.seq, cid: s.cid }), s));
        };
        for (const i of DEVICES.keys()) open(i);
        await Promise.all(clients.map((x) => x.connect()));
        const sends: Promise<unknown>[] = [];
        /** Each device's sends not recalled yet (an amendment takes the latest one). */
        const ownSends = DEVICES.map(() => [] as { conv: string; sent: Promise<{ seq: number }> }[]);
        let counter = 0;
        const sendSome = (device: number, convNo: number, n: number): void => {
          const conv = convs[convFor(device, convNo)]!;
          for (let k = 0; k < n; k++) {
            const body = `${logs[device]!.did}#${++counter}`;
            const sent = tracked(device, conv, body, (client) => client.send(conv, body));
            sends.push(sent);
            ownSends[device]!.push({ conv, sent });
          }
        };
        for (const a of actions) {
          switch (a.t) {
            case 'send':
              sendSome(a.device, a.conv, a.n);
              break;
            case 'drop':
              clients[a.device]!.reconnect();
              break;
            case 'dup':
              dups[a.device]!.left += a.frames;
              break;
            case 'restart': {
              // The victim comes from the schedule, so a failing seed replays the same kills.
              c.nodes.get(a.victim)!.signal('SIGKILL');
              await c.nodes.get(a.victim)!.exited;
              await c.respawn(a.victim);
              break;
            }
            case 'move': {
              const rows = await c.db.sql<{ owner: string | null; state: string }[]>`SELECT owner, state FROM shards WHERE kind = ${a.kind} AND shard = ${a.shard}`;
              const owner = rows[0]?.owner;
              if (owner && rows[0]!.state === 'active') {
                moveTally.tried++;
                const moved = await c.imctl('move', a.kind, String(a.shard), owner === 'n1' ? 'n2' : 'n1');
                // The coordinator may move the same shard meanwhile (after a restart it rebalances): imctl then exits 1
                // naming the conflict. Any other failure (usage, unreachable cluster, an error on the way) is a broken move.
                const conflict = moved.code === 1 && moved.stderr.includes('[conflict]');
                if (conflict) moveTally.conflicts++;
                // Moved, but the new owner did not confirm at once (its lease blipped under this load): it takes the
                // shard at its next poll, a move as good as any for what this test checks.
                const unconfirmed = moved.code === 1 && moved.stdout.includes('new owner did not confirm');
                expect(moved.code === 0 || conflict || unconfirmed, `imctl move ${a.kind} ${a.shard}: exit ${moved.code}\n${moved.stdout}${moved.stderr}`).toBe(true);
              }
              break;
            }
            case 'pause':
              await new Promise((res) => setTimeout(res, a.ms));
              break;
            case 'amend': {
              // The latest message not recalled yet of this device (or the next one that sent any), recalled once acked:
              // the recall then joins the queue behind whatever the device sent meanwhile.
              const device = DEVICES.map((_, k) => (a.device + k) % DEVICES.length).find((d) => ownSends[d]!.length > 0);
              if (device === undefined) break;
              const log = logs[device]!;
              // An edited (or reacted to) message may be edited again and recalled later; a recalled one is done with.
              const own = ownSends[device]!;
              const target = a.kind === 'recall' ? own.pop()! : own[own.length - 1]!;
              const body = amendBody(log.did, ++counter, a.kind);
              sends.push(
                target.sent.then(({ seq }) => {
                  log.amends!.set(body, { kind: a.kind, target: seq });
                  return tracked(device, target.conv, body, (client) => sendAmendment(client, a.kind, target.conv, seq, body));
                }),
              );
              break;
            }
            case 'hide': {
              // The latest message sent to the conversation so far, hidden for this device's user once acked; a hide lost to a
              // fault promises nothing (it may be stored all the same: the check reads what is).
              const conv = convs[convFor(a.device, a.conv)]!;
              const target = ownSends.flat().filter((s) => s.conv === conv).at(-1);
              if (target === undefined) break;
              const log = logs[a.device]!;
              const record = (seqs: number[]): void => {
                hideTally.hidden += seqs.length;
                log.hides!.set(conv, [...(log.hides!.get(conv) ?? []), ...seqs]);
              };
              hideTally.tried++;
              sends.push(target.sent.then(({ seq }) => clients[a.device]!.hide(conv, [seq]).then(record, () => undefined)));
              break;
            }
            case 'reopen': {
              // The app exits right after sending (so with sends unanswered, some already stored) and starts again: the
              // new client sends the outbox at its welcome and, with no state of the old one, takes in the whole history again.
              sendSome(a.device, a.conv, a.n);
              deviceSends[a.device]!.closeAsApp(clients[a.device]!);
              logs[a.device]!.delivered = new Map();
              open(a.device).connect().catch(() => {});
              break;
            }
          }
        }
        // Every send resolves (retries ride out the faults); then every device catches up.
        await withDeadline(Promise.all(sends), 60_000, 'sends did not all become durable').catch(async (err: unknown) => {
          console.log(`node warnings:\n${await c.warnings()}`);
          throw err;
        });
        const lastSeqs = await c.db.sql<{ conv_id: string; last: number }[]>`SELECT conv_id, max(seq)::int8 AS last FROM messages WHERE conv_id = ANY(${convs}) GROUP BY conv_id`;
        // A poll with its own deadline (not one raced against a timer): it stops polling when it gives up.
        await waitUntil(
          () =>
            !logs.some((log) =>
              lastSeqs.some((row) => {
                const convIdx = convs.indexOf(row.conv_id);
                if (!CONV_MEMBERS[convIdx]!.includes(DEVICES[logs.indexOf(log)]!.user)) return false;
                const got = log.delivered.get(row.conv_id) ?? [];
                return (got[got.length - 1]?.seq ?? 0) < row.last;
              }),
            ),
          'devices catching up',
          30_000,
        ).catch(async (err: unknown) => {
          const behind = logs.map((log) => `${log.did}: ${[...log.delivered].map(([conv, l]) => `${conv}@${l.at(-1)?.seq}`).join(' ')}`);
          console.log(`stored: ${lastSeqs.map((r) => `${r.conv_id}@${r.last}`).join(' ')}\ndevices: ${behind.join('; ')}\nnode warnings:\n${await c.warnings()}`);
          throw err;
        });
        // Devices that start from nothing after all of it take in every conversation's whole chain, the messages their
        // user hid as stubs in their place.
        const late = [0, 1, 2, 3].map((u) => {
          const uid = uids[u]!;
          const log: DeviceLog = { uid, did: `${uid}-late`, delivered: new Map(), acked: new Map(), attempted: new Map() };
          const client = new ImClient({ endpoints, token: c.token(uid, log.did), WebSocket: WebSocket as never, history: 'all' });
          client.on('message', (m: Msg) => void (log.delivered.get(m.conv) ?? log.delivered.set(m.conv, []).get(m.conv)!).push(m));
          return { u, log, client };
        });
        await Promise.all(late.map((l) => l.client.connect()));
        const caughtUp = (l: (typeof late)[number]): boolean =>
          lastSeqs.every((row) => !CONV_MEMBERS[convs.indexOf(row.conv_id)]!.includes(l.u) || (l.log.delivered.get(row.conv_id)?.at(-1)?.seq ?? 0) >= row.last);
        await waitUntil(() => late.every(caughtUp), 'late devices catching up', 30_000);
        const members = new Map(convs.map((conv, i) => [conv, CONV_MEMBERS[i]!.map((u) => uids[u]!)]));
        const report = await checkGuarantees(c.db.sql, convs, members, [...logs, ...late.map((l) => l.log)]);
        for (const x of [...clients, ...late.map((l) => l.client)]) x.close();
        const kinds = actions.reduce<Record<string, number>>((acc, a) => ((acc[a.t] = (acc[a.t] ?? 0) + 1), acc), {});
        const amends = logs.reduce((n, l) => n + l.amends!.size, 0);
        console.log(`guarantees run ${r}: ${JSON.stringify(kinds)}; sent ${report.sent} (${amends} recalls, edits and reactions, ${deviceSends.reduce((n, x) => n + x.restoredCount, 0)} from outboxes), acked ${report.acked}, persisted ${report.persisted}, delivery marks ${report.marks}, hides ${logs.reduce((n, l) => n + [...l.hides!.values()].flat().length, 0)} (stubs delivered ${report.stubs}), frames sent twice ${dups.reduce((n, d) => n + d.doubled, 0)}`);
        if (!allHeld(report)) throw new Error(`guarantees broken: ${JSON.stringify(report, null, 1)}`);
        // And what they hid is hidden: every acked hide of a user's devices reached that user's late device as a stub.
        for (const [i, log] of logs.entries()) {
          const got = late[DEVICES[i]!.user]!.log.delivered;
          for (const [conv, seqs] of log.hides!) for (const seq of seqs) expect(got.get(conv)?.find((m) => m.seq === seq)?.hidden, `${log.did}'s hide of ${conv}/${seq}`).toBe(true);
        }
        expect(report.acked).toBe(report.sent);
      }),
      // A run the time limit cuts is a failure: it may be one whose send never settled. (Six runs take about 20 s.)
      { numRuns: 6, endOnFailure: true, interruptAfterTimeLimit: 200_000, markInterruptAsFailure: true },
    );
    console.log(`guarantees: hides ${hideTally.hidden} stored of ${hideTally.tried} sent; moves ${moveTally.tried} asked, ${moveTally.conflicts} conflicting`);
    // Faults may cost any one hide its answer, but not every hide of six runs: if none was ever answered, the check
    // above that acked hides are stored held against nothing.
    expect(hideTally.tried, 'every run has a hide with a target').toBeGreaterThanOrEqual(6);
    expect(hideTally.hidden, 'hides the server answered, over all runs').toBeGreaterThan(0);
  }, 300_000);
});

function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([p, new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms)))]).finally(() => clearTimeout(t));
}
