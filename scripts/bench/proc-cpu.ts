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

/** Named groups of processes whose CPU use is measured over a window. */
export type ProcessGroups = Record<string, () => number[]>;

/**
 * Measures CPU seconds per group over `fn`, divided by the messages `fn` reports: the cost of one message in
 * each process group. Groups are re-listed at both ends (Postgres starts backends as it goes).
 */
export async function cpuPerMessage<T extends { messages: number }>(groups: ProcessGroups, fn: () => Promise<T>): Promise<{ result: T; usPerMsg: Record<string, number> }> {
  const before = new Map<number, number>();
  for (const pids of Object.values(groups)) for (const p of pids()) before.set(p, cpuSeconds(p));
  const result = await fn();
  const usPerMsg: Record<string, number> = {};
  for (const [name, pids] of Object.entries(groups)) {
    let s = 0;
    for (const p of pids()) s += cpuSeconds(p) - (before.get(p) ?? 0);
    usPerMsg[name] = result.messages > 0 ? (s * 1e6) / result.messages : Number.NaN;
  }
  return { result, usPerMsg };
}
