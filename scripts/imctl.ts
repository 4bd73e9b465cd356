/**
 * imctl — the cluster's admin CLI.
 *   imctl nodes | shards [--kind K] | status | rebalance [--dry-run] [--max-moves N] [--wave N]
 *   imctl move <kind> <shard> <node> | drain <node> | undrain <node> | pin|unpin <kind> <shard>
 *   imctl settings [set <name> <value>] | locate conv|user <id>
 * Connection: --database-url / DATABASE_URL, --nats / NATS_URL (NATS_USER + NATS_PASSWORD or NATS_TOKEN to log in);
 * --json for machine-readable output.
 */
import { connect as natsConnect, type NatsConnection } from 'nats';
import { parseArgs } from 'node:util';
import { CLUSTER_SETTING_MIN, clusterSettingValue } from '../protocol/control.js';
import { ErrorCode, ImError } from '../protocol/errors.js';
import { Admin, type PlannedMove, type ProgressEvent } from '../runtime/admin.js';
import { ConfigError } from '../runtime/config.js';
import { parseAdminConfig } from '../runtime/config-scripts.js';
import { silentLogger } from '../runtime/logger.js';
import { shardOf } from '../protocol/shard-hash.js';
import { ClusterSettingsStore } from '../storage/cluster-settings-store.js';
import { ConversationStore } from '../storage/conversation-store.js';
import { MessageStore } from '../storage/message-store.js';
import { connect } from '../storage/db.js';
import { bounded } from '../storage/pg-errors.js';
import { deferringSignals } from './lib/deferred-signals.js';
import { table } from './lib/table.js';

const USAGE = `usage: imctl <command> [options]
commands:
  nodes                                  registered nodes, lease, state, shards owned, NATS link, load (clients, CPU, sends, send p99)
  shards [--kind K]                      shard map: counts per node, then every shard (owner, epoch, state)
  status                                 cluster summary and each node's own report
  rebalance [--kind K] [--dry-run] [--max-moves N] [--wave N]
                                         plan balanced placement, then move in waves
  move <kind> <shard> <node>             move one shard (planned handoff)
  drain <node> [--dry-run] [--wave N]    move every shard off a node (it stays up, serving nothing, and out of
                                         placement across restarts until undrain); a dry run lists the moves and
                                         leaves the node in placement
  undrain <node>                         put a drained node back into placement (rebalancing refills it)
  forget <node>                          remove a dead node (lease run out, no shards) from the registry
  pin <kind> <shard> | unpin <kind> <shard>
                                         keep a shard on its current owner (rebalancing leaves it), or release it
  settings                               settings every node must share (large-group, max-token-lifetime, recall-window, edit-window, message-retention)
  settings set <name> <value>            change one; running nodes apply it at once (waits for them)
  locate conv <id> | locate user <id>    which shard and node serve a conversation's chatter (with its kind, members
                                         and last seq) or a user's connector (with how many conversations they are in)
options: --database-url URL  --nats URL  --timeout MS  --json
environment: DATABASE_URL, NATS_URL, and NATS_USER + NATS_PASSWORD or NATS_TOKEN for a NATS server that asks for them`;

/** Exit codes: 0 ok, 1 some moves failed (or were not started: interrupted, nowhere to go), 2 bad usage / unknown node or shard, 3 cluster unreachable. */
const EXIT = { ok: 0, partial: 1, usage: 2, unreachable: 3 } as const;
/** Error codes that say the request itself was wrong. */
const USAGE_CODES: ReadonlySet<string> = new Set([ErrorCode.INVALID_FIELD, ErrorCode.NOT_FOUND, ErrorCode.UNKNOWN_TYPE, ErrorCode.BAD_FRAME]);

class UsageError extends Error {}

/** Options every command takes. */
const COMMON_FLAGS: readonly string[] = ['database-url', 'nats', 'timeout', 'json', 'help'];

/**
 * What each command takes besides COMMON_FLAGS: its options, how many arguments, and whether it talks to the nodes
 * (NATS). Anything else is refused: an ignored `--dry-run` on `move` would move the shard.
 */
const COMMANDS: Record<string, { flags: readonly string[]; args: readonly number[]; nats: boolean }> = {
  nodes: { flags: [], args: [0], nats: false },
  shards: { flags: ['kind'], args: [0], nats: false },
  status: { flags: [], args: [0], nats: true },
  rebalance: { flags: ['kind', 'dry-run', 'max-moves', 'wave'], args: [0], nats: true },
  move: { flags: [], args: [3], nats: true },
  drain: { flags: ['dry-run', 'wave'], args: [1], nats: true },
  undrain: { flags: [], args: [1], nats: true },
  forget: { flags: [], args: [1], nats: false },
  pin: { flags: [], args: [2], nats: false },
  unpin: { flags: [], args: [2], nats: false },
  settings: { flags: [], args: [0, 3], nats: false },
  locate: { flags: [], args: [2], nats: false },
};

/** Refuses what `command` does not take (exit 2), before anything is connected to. */
function checkUsage(command: string, args: readonly string[], given: readonly string[]): void {
  const spec = COMMANDS[command];
  if (spec === undefined) throw new UsageError(`unknown command "${command}"`);
  const stray = given.filter((f) => !COMMON_FLAGS.includes(f) && !spec.flags.includes(f));
  if (stray.length > 0) throw new UsageError(`${command} takes no ${stray.map((f) => `--${f}`).join(', ')}`);
  if (!spec.args.includes(args.length)) throw new UsageError(`${command} takes ${spec.args.join(' or ')} argument(s), got ${args.length}${args.length ? `: ${args.join(' ')}` : ''}`);
}

function fail(code: number, message: string): never {
  console.error(`imctl: ${message}`);
  process.exit(code);
}

function ago(ms: number): string {
  const s = Math.round(ms / 100) / 10;
  return ms >= 0 ? `in ${s}s` : `${-s}s ago`;
}

async function main(): Promise<void> {
  const { values, positionals, tokens } = parseArgs({
    args: process.argv.slice(2),
    allowPositionals: true,
    strict: true,
    tokens: true,
    options: {
      'database-url': { type: 'string' },
      nats: { type: 'string' },
      timeout: { type: 'string' },
      kind: { type: 'string' },
      'dry-run': { type: 'boolean' },
      'max-moves': { type: 'string' },
      wave: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, ...args] = positionals;
  if (values.help || !command) {
    console.log(USAGE);
    return;
  }
  checkUsage(command, args, Object.keys(values));
  const flags = checkValues(values, tokens);
  const cfg = parseAdminConfig(values);
  const json = values.json === true;
  const needsNats = COMMANDS[command]!.nats || (command === 'settings' && args[0] === 'set');

  const sql = connect(cfg.databaseUrl, { max: 2, connectTimeoutSec: Math.ceil(cfg.timeoutMs / 1000), applicationName: 'imctl' });
  try {
    await bounded('reach the cluster', sql`SELECT 1 FROM shards LIMIT 1`, cfg.timeoutMs);
  } catch (err) {
    await sql.end({ timeout: 1 }).catch(() => undefined);
    fail(EXIT.unreachable, `cannot reach the cluster's Postgres (${new URL(cfg.databaseUrl).host}): ${(err as Error).message}`);
  }
  let nc: NatsConnection | undefined;
  if (needsNats) {
    try {
      nc = await natsConnect({ servers: cfg.natsServers, ...cfg.natsAuth, name: 'imctl', timeout: cfg.timeoutMs, maxReconnectAttempts: 3 });
    } catch (err) {
      await sql.end({ timeout: 1 });
      fail(EXIT.unreachable, `cannot reach NATS at ${cfg.natsServers.join(',')}: ${(err as Error).message}`);
    }
  }
  const admin = new Admin(sql, nc, silentLogger(), cfg.timeoutMs);
  let exit: number = EXIT.ok;
  try {
    exit = await run(admin, command, args, flags, json);
  } finally {
    await nc?.close();
    await sql.end({ timeout: 2 });
  }
  process.exitCode = exit;
}

/** The command's own options, checked: numbers parsed, nothing empty. */
interface Flags {
  kind?: string;
  dryRun: boolean;
  maxMoves: number;
  wave: number;
}

/** The moves one wave runs at once unless --wave says otherwise. */
const DEFAULT_WAVE = 8;

/**
 * Refuses option values a command would misread (exit 2), before anything is connected to or changed: an empty
 * `--max-moves=` would mean "no limit" and an empty `--kind=` "every kind", and a repeated option would keep only
 * its last value. Checked first so that `drain n2 --wave 0` fails before n2 leaves placement.
 */
function checkValues(values: Record<string, string | boolean | undefined>, tokens: readonly { kind: string; name?: string }[]): Flags {
  const seen = new Set<string>();
  for (const t of tokens) {
    if (t.kind !== 'option' || t.name === undefined) continue;
    if (seen.has(t.name)) throw new UsageError(`--${t.name} given more than once`);
    seen.add(t.name);
  }
  for (const [name, v] of Object.entries(values)) if (v === '') throw new UsageError(`--${name} needs a value`);
  const str = (name: string): string | undefined => (typeof values[name] === 'string' ? (values[name] as string) : undefined);
  const maxMoves = str('max-moves');
  const wave = str('wave');
  return {
    kind: str('kind'),
    dryRun: values['dry-run'] === true,
    maxMoves: maxMoves === undefined ? Infinity : positiveInt('--max-moves', maxMoves),
    wave: wave === undefined ? DEFAULT_WAVE : positiveInt('--wave', wave),
  };
}

async function run(admin: Admin, command: string, args: string[], flags: Flags, json: boolean): Promise<number> {
  switch (command) {
    case 'nodes': {
      const [nodes, shards, now] = await Promise.all([admin.listNodes(), admin.shardMap.list(), admin.nodes.now()]);
      const owned = new Map<string, number>();
      for (const s of shards) if (s.owner) owned.set(s.owner, (owned.get(s.owner) ?? 0) + 1);
      if (json) return print({ nodes: nodes.map((n) => ({ ...n, shards: owned.get(n.nodeId) ?? 0 })) });
      // The load each node's last heartbeat reported (its last second): clients, CPU, sends and their latency.
      const load = (n: { load: Record<string, unknown> }, k: string, unit = ''): string => (typeof n.load[k] === 'number' ? `${n.load[k] as number}${unit}` : '-');
      // Its NATS link as its last heartbeat said: a node cut off gives its lease up (--nats-cut-grace-ms) and shows DOWN.
      const natsOf = (n: { load: Record<string, unknown> }): string => (n.load['nats'] === false ? 'DOWN' : n.load['nats'] === true ? 'up' : '-');
      console.log(
        table(
          ['node', 'state', 'live', 'lease', 'shards', 'nats', 'conns', 'cpu', 'sends/s', 'send p99', 'endpoints'],
          nodes.map((n) => [n.nodeId, n.heldOut && n.state !== 'left' ? 'drained' : n.state, n.live ? 'yes' : 'NO', ago(n.leaseUntil - now), String(owned.get(n.nodeId) ?? 0), natsOf(n), load(n, 'connections'), load(n, 'cpu', '%'), load(n, 'sendsPerSec'), load(n, 'sendP99Ms', ' ms'), n.endpoints.join(' ')]),
        ),
      );
      return EXIT.ok;
    }
    case 'shards': {
      const rows = await admin.shardMap.list(flags.kind);
      if (flags.kind !== undefined && rows.length === 0) throw new UsageError(`unknown kind "${flags.kind}"`);
      if (json) return print({ shards: rows });
      const per = new Map<string, { active: number; moving: number; kinds: Set<string> }>();
      for (const r of rows) {
        const k = r.owner ?? '(none)';
        const e = per.get(k) ?? { active: 0, moving: 0, kinds: new Set() };
        if (r.state === 'moving') e.moving++;
        else e.active++;
        e.kinds.add(r.kind);
        per.set(k, e);
      }
      console.log(table(['owner', 'shards', 'moving', 'kinds'], [...per].sort().map(([o, e]) => [o, String(e.active + e.moving), String(e.moving), [...e.kinds].join(',')])));
      console.log('');
      console.log(table(['kind', 'shard', 'owner', 'epoch', 'state', 'target', 'pinned'], rows.map((r) => [r.kind, String(r.shard), r.owner ?? '-', String(r.epoch), r.state, r.target ?? '', r.pinned ? 'yes' : ''])));
      return EXIT.ok;
    }
    case 'status': {
      const [nodes, shards, coordinator] = await Promise.all([admin.listNodes(), admin.shardMap.list(), admin.coordinator()]);
      const reports = await Promise.all(nodes.filter((n) => n.live).map((n) => admin.nodeStatus(n.nodeId).catch((e: Error) => ({ type: 'error' as const, code: 'timeout', message: `${n.nodeId}: ${e.message}` }))));
      const byState: Record<string, number> = {};
      for (const s of shards) byState[s.state] = (byState[s.state] ?? 0) + 1;
      const orphans = shards.filter((s) => s.owner && !nodes.find((n) => n.nodeId === s.owner && n.live)).length;
      if (json) return print({ coordinator, nodes, shardStates: byState, orphans, reports });
      console.log(`coordinator: ${coordinator ?? '(none)'}`);
      console.log(`nodes: ${nodes.filter((n) => n.live).length} live of ${nodes.length} registered`);
      console.log(`shards: ${shards.length} (${Object.entries(byState).map(([k, v]) => `${v} ${k}`).join(', ')}), ${orphans} owned by dead nodes`);
      console.log(table(['node', 'serving', 'actors', 'rss MB', 'up s', 'lease'], reports.map((r) => (r.type === 'status' ? [r.nodeId, String(r.shards.length), Object.entries(r.actors).map(([k, v]) => `${k}:${v}`).join(' ') || '0', (r.rssBytes / 1048576).toFixed(0), String(r.uptimeSec), r.leaseValid ? 'ok' : 'LOST'] : [r.type === 'error' ? r.message : r.type, '', '', '', '', '']))));
      return EXIT.ok;
    }
    case 'locate': {
      const [what, key] = args;
      const kind = what === 'conv' ? 'chatter' : what === 'user' ? 'connector' : undefined;
      if (kind === undefined || key === undefined || args.length !== 2) throw new UsageError('locate takes conv <id> or user <id>');
      const rows = await admin.shardMap.list(kind);
      if (rows.length === 0) throw new UsageError(`this cluster has no ${kind} shards`);
      const at = rows.find((r) => r.shard === shardOf(key, rows.length))!;
      const convs = new ConversationStore(admin.sql);
      let facts: Record<string, unknown>;
      if (what === 'user') facts = { conversations: (await convs.conversationIdsOf(key)).length };
      else {
        const conv = await convs.get(key);
        facts = conv === undefined ? { exists: false } : { exists: true, kind: conv.kind, title: conv.title, members: (await convs.members(key)).length, lastSeq: await new MessageStore(admin.sql).lastSeq(key) };
      }
      const found = { [what as string]: key, actor: kind, shard: at.shard, owner: at.owner, epoch: at.epoch, state: at.state, ...facts };
      if (json) return print(found);
      console.log(table(['actor', 'shard', 'owner', 'epoch', 'state'], [[`${kind} ${key}`, String(at.shard), at.owner ?? '(none)', String(at.epoch), at.state]]));
      const said = Object.entries(facts).filter(([, v]) => v !== null).map(([k, v]) => `${k} ${String(v)}`);
      console.log(said.join(', '));
      return EXIT.ok;
    }
    case 'rebalance': {
      const moves = (await admin.plan(flags.kind !== undefined ? [flags.kind] : undefined)).slice(0, flags.maxMoves);
      return planned(admin, moves, flags.wave, flags.dryRun, json, 'rebalance');
    }
    case 'move': {
      const [kind, shardRaw, to] = args;
      if (!kind || shardRaw === undefined || !to) throw new UsageError('move needs <kind> <shard> <node>');
      if (!/^\d+$/.test(shardRaw)) throw new UsageError(`bad shard number "${shardRaw}"`);
      const what = `move ${kind}/${shardRaw} → ${to}`;
      // Cut off after the old owner released, the shard would be served by nobody for ~10 s: it finishes first.
      const o = await deferringSignals(what, 'finishing the move', () => {
        process.stderr.write(`${what}: moving\n`);
        return admin.move(kind, Number(shardRaw), to);
      });
      // The map says it moved, but nobody may serve it until that node polls: a script must not take it as done.
      const code = o.noop || o.acquiredCleanly ? EXIT.ok : EXIT.partial;
      if (json) return print(o, code);
      console.log(o.noop ? `${kind}/${o.shard} is already on ${to} (epoch ${o.epoch})` : `moved ${kind}/${o.shard} ${o.from ?? '(none)'} → ${o.to}, epoch ${o.epoch}, pause ${o.pauseMs.toFixed(1)} ms${o.releasedCleanly ? '' : ' (old owner did not confirm; fenced)'}${o.acquiredCleanly ? '' : ' (new owner did not confirm serving it: it takes it at its next poll, or the coordinator reassigns it once that node leaves)'}`);
      return code;
    }
    case 'drain': {
      const [node] = args;
      if (!node) throw new UsageError('drain needs <node>');
      const moves = await admin.planDrain(node, flags.dryRun);
      // An operator powers the host off next: what is still there (given to it meanwhile, say) must not go unsaid.
      return planned(admin, moves, flags.wave, flags.dryRun, json, `drain ${node}`, () => admin.stillOn(node));
    }
    case 'pin':
    case 'unpin': {
      const [kind, shardRaw] = args;
      if (!kind || shardRaw === undefined) throw new UsageError(`${command} needs <kind> <shard>`);
      if (!/^\d+$/.test(shardRaw)) throw new UsageError(`bad shard number "${shardRaw}"`);
      await admin.pin(kind, Number(shardRaw), command === 'pin');
      if (json) return print({ kind, shard: Number(shardRaw), pinned: command === 'pin' });
      console.log(`${kind}/${shardRaw} ${command === 'pin' ? 'pinned to its current owner' : 'unpinned'}`);
      return EXIT.ok;
    }
    case 'settings': {
      const store = new ClusterSettingsStore(admin.sql);
      if (args[0] === 'set') {
        const [, name, value] = args;
        if (!name || !value || args.length !== 3) throw new UsageError('settings set needs <name> <value>');
        // A value a node could never be started with is refused here, before it is recorded.
        const min = (CLUSTER_SETTING_MIN as Record<string, number>)[name];
        if (min !== undefined && clusterSettingValue(name, value) === undefined) throw new UsageError(`${name}: the value must be an integer ≥ ${min}`);
        const { applied, pending } = await admin.changeSetting(name, value);
        if (json) print({ name, value, applied, pending });
        else {
          console.log(`${name} = ${value} recorded; every node applies it now (no restart; nodes started later use it whatever their --${name} says)`);
          console.log(`applied by ${applied.length} of ${applied.length + pending.length} live node(s)${applied.length ? `: ${applied.join(', ')}` : ''}`);
          if (pending.length) console.error(`imctl: not yet reported by ${pending.join(', ')} (they re-read the settings within a minute; see \`imctl settings\`)`);
        }
        return pending.length ? EXIT.partial : EXIT.ok;
      }
      if (args.length) throw new UsageError('settings takes no arguments, or set <name> <value>');
      // What each live node runs with, from its last heartbeat: a change shows here as nodes apply it.
      const [all, running] = await Promise.all([store.list(), admin.runningSettings()]);
      if (json) return print({ settings: all, nodes: running });
      console.log(all.length ? table(['setting', 'value', 'recorded', 'changeable'], all.map((s) => [s.name, s.value, new Date(s.setAt).toISOString(), s.changeable ? 'yes' : 'no'])) : 'no settings recorded yet (the first node records them)');
      const flags = all.filter((s) => s.changeable);
      if (flags.length && running.length) {
        console.log('');
        const cell = (mine: string | undefined, s: { value: string }): string => (mine === undefined ? '?' : mine === s.value ? mine : `${mine} (applying)`);
        console.log(table(['node', ...flags.map((s) => s.name)], running.map((n) => [n.nodeId, ...flags.map((s) => cell(n.settings[s.name], s))])));
      }
      return EXIT.ok;
    }
    case 'undrain': {
      const [node] = args;
      if (!node) throw new UsageError('undrain needs <node>');
      await admin.undrain(node);
      if (json) return print({ node, state: 'alive' });
      console.log(`${node} is back in placement; run \`imctl rebalance\` (or let the coordinator) to give it shards`);
      return EXIT.ok;
    }
    case 'forget': {
      const [node] = args;
      if (!node) throw new UsageError('forget needs <node>');
      await admin.forget(node);
      if (json) return print({ node, forgotten: true });
      console.log(`${node} forgotten: \`imctl nodes\` lists it no more (started again under that id, it joins as a new node)`);
      return EXIT.ok;
    }
  }
  throw new UsageError(`unknown command "${command}"`);
}

/** Carries out `moves` and reports them; `left` (a drain): how many shards are still on the node after. */
async function planned(admin: Admin, moves: PlannedMove[], wave: number, dryRun: boolean, json: boolean, what: string, left?: () => Promise<number>): Promise<number> {
  if (dryRun || moves.length === 0) {
    if (json) return print({ moves, dryRun });
    console.log(moves.length === 0 ? `${what}: nothing to move` : `${what}: ${moves.length} move(s) planned (dry run)`);
    if (moves.length) console.log(table(['kind', 'shard', 'from', 'to'], moves.map((m) => [m.kind, String(m.shard), m.from ?? '-', m.to])));
    return EXIT.ok;
  }
  const tty = process.stderr.isTTY === true;
  const progress = (e: ProgressEvent): void => {
    const line = `${what}: ${e.done}/${e.total} moved, wave ${e.wave}/${e.waves}${e.failed ? `, ${e.failed} failed` : ''}${e.last ? `, last ${e.last.kind}/${e.last.shard} → ${e.last.to} in ${e.last.pauseMs.toFixed(0)} ms` : ''}`;
    process.stderr.write(tty ? `\r\x1b[2K${line}` : `${line}\n`);
  };
  // Ctrl-C (or a lost terminal) between waves: the moves in flight finish and no more start. Said once that holds.
  const result = await deferringSignals(what, 'finishing the moves in flight, starting no more', (interrupted) => {
    process.stderr.write(`${what}: ${moves.length} move(s) planned, in waves of up to ${wave}\n`);
    return admin.execute(moves, wave, progress, interrupted);
  });
  const { outcomes, failures, notStarted } = result;
  if (tty) process.stderr.write('\n');
  // A shard the coordinator (or another operator) had put there already is no move: neither counted nor in the p99.
  const moved = outcomes.filter((o) => !o.noop);
  const already = outcomes.length - moved.length;
  const pauses = moved.map((o) => o.pauseMs).sort((a, b) => a - b);
  const p99 = pauses.length ? pauses[Math.min(pauses.length - 1, Math.ceil(pauses.length * 0.99) - 1)]! : 0;
  const unconfirmed = moved.filter((o) => !o.acquiredCleanly).map((o) => ({ kind: o.kind, shard: o.shard, to: o.to }));
  const remaining = left === undefined ? undefined : await left();
  const code = failures.length || notStarted || unconfirmed.length || remaining ? EXIT.partial : EXIT.ok;
  if (json) return print({ moved: moved.length, alreadyInPlace: already, failures, notStarted, unconfirmed, pauseMsP99: p99, ...(remaining !== undefined && { left: remaining }) }, code);
  console.log(`${what}: ${moved.length} moved${already ? `, ${already} already in place` : ''}, ${failures.length} failed${notStarted ? `, ${notStarted} not started (interrupted)` : ''}${unconfirmed.length ? `, ${unconfirmed.length} not confirmed by their new owner` : ''}, pause p99 ${p99.toFixed(1)} ms`);
  for (const f of failures) console.log(`  failed ${f.move.kind}/${f.move.shard} → ${f.move.to}: ${f.error}`);
  for (const u of unconfirmed) console.log(`  not confirmed ${u.kind}/${u.shard} → ${u.to}: it takes it at its next poll, or the coordinator reassigns it once that node leaves`);
  if (remaining) console.error(`imctl: ${what}: the node still owns or is being given ${remaining} shard(s) (placed there while it ran): run it again`);
  return code;
}

function positiveInt(name: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${name} must be a positive integer`);
  return n;
}

function print(v: unknown, code: number = EXIT.ok): number {
  console.log(JSON.stringify(v, null, 2));
  return code;
}

main().catch((err: unknown) => {
  if (err instanceof UsageError || err instanceof ConfigError || (err instanceof Error && err.name === 'TypeError' && 'code' in err && String((err as { code: unknown }).code).startsWith('ERR_PARSE_ARGS'))) {
    fail(EXIT.usage, `${err.message}\n${USAGE}`);
  }
  // Documented exits: 2 for what was asked wrongly (an unknown node, kind or shard), 3 for a cluster out of reach,
  // 1 for an operation that failed on the way (a move that conflicted or timed out).
  if (err instanceof ImError) fail(err.code === 'unavailable' ? EXIT.unreachable : USAGE_CODES.has(err.code) ? EXIT.usage : EXIT.partial, `${err.message} [${err.code}]`);
  fail(EXIT.partial, (err as Error).stack ?? String(err));
});
