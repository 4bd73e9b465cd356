/**
 * `npm run chaos -- --duration 60s --seed N`: a 3-server NATS cluster (nats.conf), Postgres, three node
 * processes and SDK clients sending to direct and group conversations at a steady rate, while a seeded
 * schedule injects faults (node SIGKILL, node SIGSTOP past its lease, nats-server kill and restart, a node cut off from NATS, Postgres
 * restart, imctl rebalance and move, a live large-group change, client socket drops). Then a verifier reads
 * Postgres and every client's log and prints what it found. Exit code 0 when G1–G6 held, 1 when one broke, 2 on bad usage.
 * `DATABASE_URL` runs against an external Postgres (the Postgres restart fault is skipped then).
 */
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { externalDatabaseUrl } from '../runtime/config-scripts.js';
import { connect } from '../storage/db.js';
import { FaultKind, planFaults, seeded, type PlannedFault } from './chaos/faults.js';
import { CHAOS_NATS_CUT_GRACE_MS, startChaosInfra, type ChaosInfra } from './chaos/infra.js';
import { startTraffic, utcClock, type ChaosTraffic } from './chaos/traffic.js';
import { stopChildrenOnSignal } from './lib/child-reaper.js';
import type { NodeProcess } from './lib/node-process.js';
import { allHeld, checkGuarantees } from './lib/guarantee-check.js';

function parseDuration(v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(v.trim());
  if (!m) throw new Error(`--duration must look like 60s, 5m or 90000ms, got "${v}"`);
  const n = Number(m[1]);
  return m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : n * 1000;
}

/** Thresholds the large-group fault switches between. */
const LARGE_GROUP_CHOICES = ['3', '6', '100'];
/** One send in this many is a recall or an edit, in turn (of the device's latest message, once acked). */
const AMEND_EVERY = 20;
const AMEND_KINDS = ['recall', 'edit', 'react'] as const;
/** One step in this many (offset from the amendments) hides a device's latest message for its user. */
const HIDE_EVERY = 50;

const say = (m: string): void => void process.stderr.write(`[chaos ${utcClock(Date.now(), 0)}] ${m}\n`);

/** The first line imctl printed on stderr when it did not succeed. */
function why(r: { code: number; stderr: string }): string {
  const line = r.code === 0 ? '' : r.stderr.split('\n').find((l) => l.trim().length > 0);
  return line ? `: ${line.trim().slice(0, 120)}` : '';
}

/** Node processes that exited without the harness signalling them: a crash, which the faults must not hide. */
const crashed: string[] = [];

/** Whether the node process runs (a frozen one does); if not, it is recorded as crashed. */
function running(node: string, p: NodeProcess, when: string): boolean {
  if (p.child.exitCode === null && p.child.signalCode === null) return true;
  crashed.push(`${node} had exited (${p.child.exitCode ?? p.child.signalCode}) on its own, found ${when}`);
  return false;
}

async function inject(f: PlannedFault, infra: ChaosInfra, traffic: ChaosTraffic, rnd: () => number): Promise<string> {
  const { cluster, nodeIds } = infra;
  const node = nodeIds[Math.floor(f.pick * nodeIds.length)]!;
  switch (f.kind) {
    case FaultKind.KILL_NODE: {
      const p = cluster.nodes.get(node)!;
      if (!running(node, p, 'before a SIGKILL')) return `SIGKILL ${node} NOT APPLIED: it had exited on its own`;
      p.signal('SIGKILL');
      await p.exited;
      await new Promise((r) => setTimeout(r, 1000));
      await cluster.spawn(node);
      return `SIGKILL ${node}, restarted`;
    }
    case FaultKind.FREEZE_NODE: {
      const p = cluster.nodes.get(node)!;
      if (!running(node, p, 'before a SIGSTOP')) return `SIGSTOP ${node} NOT APPLIED: it had exited on its own`;
      p.signal('SIGSTOP');
      await new Promise((r) => setTimeout(r, 3500)); // past the 1.5 s lease: its shards go elsewhere
      p.signal('SIGCONT');
      return `SIGSTOP ${node} for 3.5 s, then SIGCONT`;
    }
    case FaultKind.KILL_NATS: {
      const i = Math.floor(f.pick * infra.natsUrls.length);
      await infra.bounceNats(i, 1500);
      return `SIGKILL nats-server ${i + 1}, restarted after 1.5 s`;
    }
    case FaultKind.CUT_NATS: {
      // Past the grace and the lease: its shards go to the others and its clients are redirected; then it comes back.
      const ms = CHAOS_NATS_CUT_GRACE_MS + 4000;
      await infra.cutNats(node, ms);
      return `cut ${node} off from NATS for ${ms / 1000} s, then back`;
    }
    case FaultKind.RESTART_POSTGRES:
      return (await infra.restartPostgres(1000)) ? 'Postgres stopped (fast shutdown), down 1 s, started again' : 'Postgres restart skipped (external DATABASE_URL)';
    case FaultKind.REBALANCE: {
      const r = await infra.imctl('rebalance');
      return `imctl rebalance (exit ${r.code}${why(r)})`;
    }
    case FaultKind.MOVE: {
      const kind = rnd() < 0.5 ? 'chatter' : 'connector';
      const shard = Math.floor(rnd() * 32);
      const to = nodeIds[(nodeIds.indexOf(node) + 1) % nodeIds.length]!;
      const r = await infra.imctl('move', kind, String(shard), to);
      return `imctl move ${kind} ${shard} ${to} (exit ${r.code}${why(r)})`;
    }
    case FaultKind.SET_LARGE_GROUP: {
      // The groups have 4 and 8 members: both large, only the bigger one, or neither.
      const shown = await infra.imctl('settings', '--json');
      const current = (JSON.parse(shown.stdout || '{"settings":[]}') as { settings: { name: string; value: string }[] }).settings.find((s) => s.name === 'large-group')?.value;
      const choices = LARGE_GROUP_CHOICES.filter((v) => v !== current);
      const value = choices[Math.floor(f.pick * choices.length)]!;
      const r = await infra.imctl('settings', 'set', 'large-group', value);
      return `imctl settings set large-group ${value}, was ${current ?? '?'} (exit ${r.code}${why(r)})`;
    }
    case FaultKind.DROP_SOCKETS: {
      const n = 1 + Math.floor(f.pick * 4);
      for (let i = 0; i < n; i++) traffic.devices[Math.floor(rnd() * traffic.devices.length)]!.client.reconnect();
      return `dropped ${n} client socket(s)`;
    }
    case FaultKind.REOPEN_APP: {
      const r = traffic.reopenOne(f.pick, 3);
      return `reopened app ${r.did} right after 3 sends, ${r.restored} restored from its outbox`;
    }
  }
}

async function main(): Promise<number> {
  stopChildrenOnSignal();
  let durationMs: number;
  let seed: number;
  let rate: number;
  let keepLogs = false;
  /** The nodes' --large-group: lower than the traffic's groups, their messages go by the large-group path. */
  let largeGroup: string | undefined;
  try {
    const { values } = parseArgs({ options: { duration: { type: 'string' }, seed: { type: 'string' }, rate: { type: 'string' }, 'large-group': { type: 'string' }, 'keep-logs': { type: 'boolean' } }, strict: true });
    durationMs = parseDuration(values.duration ?? '60s');
    seed = values.seed === undefined ? Math.floor(Math.random() * 1e6) : Number(values.seed);
    rate = values.rate === undefined ? 40 : Number(values.rate);
    keepLogs = values['keep-logs'] === true;
    if (values['large-group'] !== undefined) {
      if (!/^[1-9]\d*$/.test(values['large-group'])) throw new Error('--large-group must be a positive integer');
      largeGroup = values['large-group'];
    }
    if (!Number.isInteger(seed) || !(rate > 0) || durationMs < 10_000) throw new Error('--seed must be an integer, --rate > 0, --duration ≥ 10s');
  } catch (err) {
    console.error(`chaos: ${(err as Error).message}\nusage: npm run chaos -- [--duration 60s] [--seed N] [--rate msgs/s] [--large-group N] [--keep-logs]`);
    return 2;
  }
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'natsim-chaos-'));
  const externalDb = externalDatabaseUrl();
  const kinds = Object.values(FaultKind).filter((k) => !(externalDb && k === FaultKind.RESTART_POSTGRES));
  const plan = planFaults(durationMs, seed, kinds);
  say(`seed ${seed}, ${durationMs / 1000} s, ${rate} msgs/s${largeGroup ? `, groups over ${largeGroup} members large` : ''}, ${plan.length} faults: ${plan.map((f) => f.kind).join(', ')}`);
  // Recall and edit windows no run outlives: every one is of the device's own acked message, so each must be stored.
  const nodeArgs = ['--recall-window', '86400', '--edit-window', '86400', ...(largeGroup ? ['--large-group', largeGroup] : [])];
  const infra = await startChaosInfra({ workDir, nodes: 3, externalDb, log: say, nodeArgs });
  let traffic: ChaosTraffic | undefined;
  const clientLog = createWriteStream(path.join(workDir, 'clients.log'));
  try {
    traffic = await startTraffic(infra.cluster, `s${seed}t${Date.now() % 100_000}`, (line) => void clientLog.write(`${line}\n`));
    const t = traffic;
    const rnd = seeded(seed ^ 0x9e3779b9);
    const t0 = Date.now();
    let sent = 0;
    const sender = setInterval(() => {
      const due = Math.floor(((Date.now() - t0) / 1000) * rate);
      while (sent < due) {
        // One in AMEND_EVERY recalls, edits or reacts to a device's latest message, made once that message is acked.
        if (sent % AMEND_EVERY === AMEND_EVERY - 1) t.amendOne(rnd(), AMEND_KINDS[Math.floor(sent / AMEND_EVERY) % AMEND_KINDS.length]!);
        else if (sent % HIDE_EVERY === HIDE_EVERY - 2) t.hideOne(rnd());
        else t.sendOne(rnd(), rnd());
        sent++;
      }
    }, 20);
    const injected: string[] = [];
    for (const f of plan) {
      const wait = t0 + f.at - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const began = Date.now();
      const what = await inject(f, infra, t, rnd).catch((err: unknown) => `${f.kind} FAILED to inject: ${(err as Error).message}`);
      // When a fault began and how long injecting it took, to line a long unavailability up with the logs: a
      // Postgres stop, say, lasts as long as Postgres waits for its clients, not just the second of downtime.
      const timed = `${what} (began ${utcClock(began, 1)}, took ${((Date.now() - began) / 1000).toFixed(1)} s)`;
      injected.push(timed);
      say(timed);
    }
    const left = t0 + durationMs - Date.now();
    if (left > 0) await new Promise((r) => setTimeout(r, left));
    clearInterval(sender);
    say(`sending stopped after ${sent} messages; waiting for every send to settle`);
    const settled = await t.settle(60_000);
    const sql = connect(infra.databaseUrl, { max: 2 });
    const lastSeqs = new Map<string, number>();
    for (const r of await sql<{ conv_id: string; last: number }[]>`SELECT conv_id, max(seq) AS last FROM messages WHERE conv_id = ANY(${t.convs}) GROUP BY conv_id`) lastSeqs.set(r.conv_id, r.last);
    let caughtUp = await t.catchUp(lastSeqs, 20_000);
    let neededReconnect = 0;
    if (!caughtUp) {
      // G4 promises catch-up to a device that reconnects; count the ones that needed it.
      for (const d of t.devices) {
        const behind = d.convs.some((c) => ((d.log.delivered.get(c) ?? []).at(-1)?.seq ?? 0) < (lastSeqs.get(c) ?? 0));
        if (behind) {
          neededReconnect++;
          d.client.reconnect();
        }
      }
      caughtUp = await t.catchUp(lastSeqs, 30_000);
    }
    for (const [node, p] of infra.cluster.nodes) running(node, p, 'at the end');
    const report = await checkGuarantees(sql, t.convs, t.members, t.devices.map((d) => d.log));
    await sql.end();
    const fenced = await infra.countLogLines('write fenced');
    const gaveWay = await infra.countLogLines('cut off from NATS while other nodes reach it');
    const waits = new Map<string, { ms: number; from: number }>();
    for (const d of t.devices) {
      for (const a of d.log.acked.values()) if ((a.waitedMs ?? 0) > (waits.get(a.conv)?.ms ?? -1)) waits.set(a.conv, { ms: a.waitedMs ?? 0, from: a.sentAt ?? 0 });
    }
    const longest = [...waits].sort((a, b) => b[1].ms - a[1].ms);
    const delivered = t.devices.reduce((n, d) => n + [...d.log.delivered.values()].reduce((k, l) => k + l.length, 0), 0);
    const amends = t.devices.reduce((k, d) => k + (d.log.amends?.size ?? 0), 0);
    const hides = t.devices.reduce((k, d) => k + [...(d.log.hides?.values() ?? [])].flat().length, 0);
    // A run that sent nothing, or delivered nothing, proves nothing: it holds no guarantee.
    const held = allHeld(report) && settled && caughtUp && t.failures.length === 0 && report.sent > 0 && delivered > 0 && report.acked === report.sent && crashed.length === 0;
    console.log(`
chaos run: seed ${seed}, ${durationMs / 1000} s, ${injected.length} faults
${injected.map((x) => `  - ${x}`).join('\n')}
sent                      ${report.sent}
acked                     ${report.acked}${settled ? '' : '  (some sends never settled)'}
persisted                 ${report.persisted}
delivered                 ${delivered} (to ${t.devices.length} devices)
lost                      ${report.lost.length}
duplicated                ${report.duplicated.length}
out of order              ${report.outOfOrder.length}
chain breaks (G2)         ${report.chainBreaks.length}
seqs after a hole         ${report.seqHoles.length}
ordinal breaks            ${report.ordinalBreaks.length}
sender order broken (G5)  ${report.senderOrder.length}
messages to non-members   ${report.foreign.length}
devices missing messages  ${report.deliveryGaps.length}${neededReconnect ? ` (${neededReconnect} device(s) needed a reconnect to catch up)` : ''}
recalls, edits, reactions ${amends} asked, ${report.amendBreaks.length} broken (stored without their effect or link, or delivered without it)
delivery marks            ${report.marks} stored, ${report.receiptBreaks.length} beyond what the member's devices got
mentions                  ${report.mentions} rows as wanted, ${report.mentionBreaks.length} broken (an acked mention stored without its list or a member's row)
replies                   ${report.replies} acked, ${report.replyBreaks.length} broken (stored or delivered without the message they answer)
hides                     ${hides} acked, ${report.stubs} stubs delivered, ${report.hideBreaks.length} broken (an acked hide not stored, a stub for a message not hidden)
sends failed for good     ${t.failures.length}
nodes crashed             ${crashed.length}
fenced writes refused     ${fenced}
leases given up (NATS)    ${gaveWay}
longest unavailability    ${longest.slice(0, 3).map(([c, w]) => `${c}: ${(w.ms / 1000).toFixed(1)} s from ${utcClock(w.from, 0)}`).join(', ')}
result                    ${held ? 'all guarantees held' : 'GUARANTEE BROKEN'}`);
    if (!held) {
      keepLogs = true;
      const unsettled = settled ? [] : t.unsettled().map((u) => `never settled: ${u}`);
      for (const line of [...report.lost, ...report.duplicated, ...report.outOfOrder, ...report.chainBreaks, ...report.seqHoles, ...report.ordinalBreaks, ...report.senderOrder, ...report.deliveryGaps, ...report.foreign, ...report.amendBreaks, ...report.receiptBreaks, ...report.mentionBreaks, ...report.replyBreaks, ...report.hideBreaks, ...t.failures, ...crashed, ...unsettled].slice(0, 30)) console.log(`  ${line}`);
    }
    if (keepLogs) console.log(`logs kept in ${workDir}`);
    return held ? 0 : 1;
  } finally {
    traffic?.close();
    clientLog.end();
    await infra.stop();
    if (!keepLogs) await rm(workDir, { recursive: true, force: true }).catch(() => undefined);
  }
}

main().then(
  (code) => {
    process.exitCode = code;
    setTimeout(() => process.exit(code), 200).unref();
  },
  (err: unknown) => {
    console.error('chaos: failed:', err);
    process.exit(1);
  },
);
