import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** Clock ticks per second of /proc's utime and stime (USER_HZ, 100 on Linux). */
const TICKS_PER_SEC = 100;

/** CPU seconds (user + system) a process has used so far, from /proc; 0 once it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which may itself hold spaces and parentheses.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / TICKS_PER_SEC;
  } catch {
    return 0;
  }
}

/** Postgres' processes for a data directory: the postmaster (from postmaster.pid) and its children. */
export function postgresPids(dataDir: string): number[] {
  let master: number;
  try {
    master = Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  } catch {
    return [];
  }
  const out = [master];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === master) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** The whole box's CPU time so far, from /proc/stat's first line (ticks, all cores): busy and all. */
function boxTicks(): { busy: number; all: number } {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
    const all = f.reduce((a, b) => a + b, 0);
    // idle and iowait are time no process wanted a core; steal is time the hypervisor gave it to someone else.
    return { busy: all - f[3]! - f[4]! - f[7]!, all };
  } catch {
    return { busy: 0, all: 0 };
  }
}

/** Named groups of processes whose CPU use is measured over a window. */
export type ProcessGroups = Record<string, () => number[]>;

/**
 * Measures CPU seconds per group over `fn`, divided by the messages `fn` reports: the cost of one message in
 * each process group. Groups are re-listed at both ends (Postgres starts backends as it goes). `boxBusyPct`: how
 * busy the box's cores were over the window, whoever used them (100: every core all the time).
 */
export async function cpuPerMessage<T extends { messages: number }>(groups: ProcessGroups, fn: () => Promise<T>): Promise<{ result: T; usPerMsg: Record<string, number>; boxBusyPct: number }> {
  const before = new Map<number, number>();
  for (const pids of Object.values(groups)) for (const p of pids()) before.set(p, cpuSeconds(p));
  const box0 = boxTicks();
  const result = await fn();
  const box1 = boxTicks();
  const boxBusyPct = box1.all > box0.all ? (100 * (box1.busy - box0.busy)) / (box1.all - box0.all) : Number.NaN;
  const usPerMsg: Record<string, number> = {};
  for (const [name, pids] of Object.entries(groups)) {
    let s = 0;
    for (const p of pids()) s += cpuSeconds(p) - (before.get(p) ?? 0);
    usPerMsg[name] = result.messages > 0 ? (s * 1e6) / result.messages : Number.NaN;
  }
  return { result, usPerMsg, boxBusyPct };
}
