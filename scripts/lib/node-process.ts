import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, open, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { reapOnExit } from './child-reaper.js';

/**
 * How long a node may take to report ready. A node starts in seconds, but once, with the whole suite running on
 * this 2-core box, one had not written its first log line 30 s after its spawn (the rerun passed): a slow start
 * should not read as a failed one.
 */
export const DEFAULT_NODE_READY_TIMEOUT_MS = 60_000;

const NODE_ENTRY = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'node.ts');

export interface NodeProcessOptions {
  nodeId: string;
  natsUrl: string;
  databaseUrl: string;
  kinds?: string[];
  /** More `--flag value` arguments for scripts/node.ts. */
  args?: string[];
  /** Where the node's JSON log lines go. */
  logDir: string;
  /** How long to wait for the node to report ready (DEFAULT_NODE_READY_TIMEOUT_MS). */
  readyTimeoutMs?: number;
  onSpawn?: (pid: number) => void;
  /** Node.js flags for the process (`--cpu-prof`, say). */
  execArgv?: string[];
  /** Environment variables on top of this process's own (secrets, which take no flag). */
  env?: Record<string, string>;
}

export interface NodeProcess {
  nodeId: string;
  pid: number;
  child: ChildProcess;
  logFile: string;
  /** Resolves with the exit code (or signal name) when the process ends. */
  exited: Promise<number | string>;
  /** Sends a signal (SIGKILL, SIGSTOP, SIGCONT, SIGTERM). */
  signal(sig: NodeJS.Signals): void;
  /** SIGTERM (drain), then SIGKILL after `graceMs`; resolves when it is gone. */
  stop(graceMs?: number): Promise<void>;
}

/** Starts one node process (scripts/node.ts under tsx) and resolves once it has joined the cluster. */
export async function spawnNodeProcess(opts: NodeProcessOptions): Promise<NodeProcess> {
  await mkdir(opts.logDir, { recursive: true });
  const logFile = path.join(opts.logDir, `${opts.nodeId}.log`);
  const fh = await open(logFile, 'a');
  const args = [...(opts.execArgv ?? []), '--import', 'tsx', NODE_ENTRY, '--node-id', opts.nodeId];
  if (opts.kinds) args.push('--kinds', opts.kinds.join(','));
  args.push(...(opts.args ?? []));
  // The Postgres and NATS URLs in the environment, not flags: any local user reads a command line (ps), password and all.
  const env = { ...process.env, ...opts.env, DATABASE_URL: opts.databaseUrl, NATS_URL: opts.natsUrl };
  const child = spawn(process.execPath, args, { stdio: ['ignore', fh.fd, fh.fd, 'ipc'], env });
  await fh.close();
  reapOnExit(child, 'SIGKILL');
  if (child.pid !== undefined) opts.onSpawn?.(child.pid);
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, sig) => resolve(code ?? sig ?? -1)));
  await new Promise<void>((resolve, reject) => {
    const readyMs = opts.readyTimeoutMs ?? DEFAULT_NODE_READY_TIMEOUT_MS;
    const timer = setTimeout(() => {
      // The caller gets no handle to stop it with: a node left running would hold its id and shards.
      child.kill('SIGKILL');
      reject(new Error(`node ${opts.nodeId} not ready after ${readyMs} ms; see ${logFile}`));
    }, readyMs);
    child.on('message', (m: { type?: string }) => {
      if (m?.type === 'ready') {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then(async (code) => {
      clearTimeout(timer);
      // The log may be gone by the time anyone looks (test clusters remove theirs): the reason goes in the error.
      reject(new Error(`node ${opts.nodeId} exited (${code}) before it was ready; see ${logFile}; its last warnings: ${await lastWarnings(logFile)}`));
    });
  });
  child.disconnect?.();
  const alive = (): boolean => child.exitCode === null && child.signalCode === null;
  return {
    nodeId: opts.nodeId,
    pid: child.pid!,
    child,
    logFile,
    exited,
    signal: (sig) => {
      if (alive()) child.kill(sig);
    },
    async stop(graceMs = 10_000) {
      if (!alive()) return;
      child.kill('SIGCONT');
      child.kill('SIGTERM');
      const t = setTimeout(() => alive() && child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(t);
    },
  };
}

/** The last few warning-or-worse lines of a node's log (and lines that are not JSON: Node's own errors). */
async function lastWarnings(logFile: string, max = 5): Promise<string> {
  const text = await readFile(logFile, 'utf8').catch(() => '');
  const lines = text.split('\n').filter((l) => l !== '' && (!l.startsWith('{') || /"level":[456]0/.test(l)));
  return lines.slice(-max).map((l) => l.slice(0, 300)).join(' | ') || '(none)';
}
