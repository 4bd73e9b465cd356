import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants, statSync } from 'node:fs';
import { mkdir, open, readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { reapOnExit } from './child-reaper.js';
import { freePort } from './free-port.js';
import { describePortHolder, readOwnClientUrls, removeStalePortsFiles } from './nats-ports-file.js';

export interface NatsServerOptions {
  /** Working dir for the ports file and the log. */
  dir: string;
  name?: string;
  /** Client port; a free one when absent. */
  port?: number;
  /** Joins a NATS cluster: this server's route port and the routes to its peers. */
  cluster?: { name: string; port: number; routes: string[]; /** Tell clients nothing of the other servers (they keep to the URLs they were given). */ noAdvertise?: boolean };
  /** A config file (e.g. the repo's nats.conf); command-line flags still win. */
  configFile?: string;
  /** Called with the pid when the process starts, so a caller can reap it after a crash. */
  onSpawn?: (pid: number) => void;
}

export interface NatsServerHandle {
  url: string;
  port: number;
  pid: number;
  process: ChildProcess;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  stop(graceMs?: number): Promise<void>;
  /** Sends a signal without waiting (SIGKILL, SIGSTOP, SIGCONT for fault injection). */
  signal(sig: NodeJS.Signals): void;
}

/** How long a nats-server may take to listen. */
const START_TIMEOUT_MS = 10_000;

/**
 * Where packages put nats-server off a non-root user's PATH: Debian's in /usr/sbin. scripts/setup.sh looks in
 * the same places.
 */
const NATS_SERVER_FALLBACKS = ['/usr/sbin/nats-server', '/usr/local/bin/nats-server'];

function isExecutableFile(p: string): boolean {
  try {
    accessSync(p, fsConstants.X_OK);
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

/** The nats-server binary to run: the first on PATH, else Debian's /usr/sbin or /usr/local/bin; the bare name when none is found. */
export function natsServerBin(): string {
  const onPath = (process.env['PATH'] ?? '').split(path.delimiter).filter(Boolean).map((d) => path.resolve(d, 'nats-server'));
  return [...onPath, ...NATS_SERVER_FALLBACKS].find(isExecutableFile) ?? 'nats-server';
}

/** Starts a real nats-server bound to 127.0.0.1 and resolves once it accepts clients. */
export async function startNatsServer(options: NatsServerOptions): Promise<NatsServerHandle> {
  await mkdir(options.dir, { recursive: true });
  const port = options.port ?? (await freePort());
  const name = options.name ?? `nats-${port}`;
  const args = ['-a', '127.0.0.1', '-p', String(port), '-n', name];
  if (options.configFile) args.unshift('-c', options.configFile);
  if (options.cluster) {
    args.push('--cluster_name', options.cluster.name, '--cluster', `nats://127.0.0.1:${options.cluster.port}`);
    if (options.cluster.routes.length > 0) args.push('--routes', options.cluster.routes.join(','));
    if (options.cluster.noAdvertise) args.push('--no_advertise');
  }
  args.push('--ports_file_dir', path.resolve(options.dir));
  await removeStalePortsFiles(options.dir);
  const logPath = path.join(options.dir, `${name}.log`);
  const logFile = await open(logPath, 'a');
  const bin = natsServerBin();
  // A process group of its own: a terminal's Ctrl-C reaches the whole foreground group, and nats-server would quit at
  // once while the nodes it serves begin their drain, which needs it. Whoever started it stops it (stop(), the reaper).
  const child = spawn(bin, args, { stdio: ['ignore', logFile.fd, logFile.fd], detached: true });
  await logFile.close();
  reapOnExit(child, 'SIGTERM');
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let spawnError: Error | undefined;
  child.once('error', (e) => void (spawnError = e));
  if (child.pid !== undefined) options.onSpawn?.(child.pid);
  await waitForOwnListener(child, { bin, dir: options.dir, port, logPath, spawnError: () => spawnError });
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    pid: child.pid!,
    process: child,
    signal: (sig) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(sig);
    },
    async stop(graceMs = 3000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGCONT');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * Resolves once this child listens on `port`, proven by its own ports file: something else on the port (a system
 * nats-server) makes the child exit "address in use", which fails here with what holds the port.
 */
async function waitForOwnListener(
  child: ChildProcess,
  o: { bin: string; dir: string; port: number; logPath: string; spawnError: () => Error | undefined },
): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    // The spawn error first: a binary that cannot run also leaves an ended child, and the error says more.
    await new Promise((r) => setTimeout(r, 50));
    const spawnError = o.spawnError();
    if (spawnError) throw new Error(`cannot run ${o.bin}: run scripts/setup.sh`, { cause: spawnError });
    if (child.exitCode !== null || child.signalCode !== null) throw await startFailure(o.port, o.logPath);
    const urls = child.pid === undefined ? undefined : await readOwnClientUrls(o.dir, child.pid);
    if (urls !== undefined) {
      if (urls.some((u) => u.endsWith(`:${o.port}`))) return;
      child.kill('SIGKILL');
      throw new Error(`nats-server listens on ${urls.join(', ') || 'no client port'}, not 127.0.0.1:${o.port}; see ${o.logPath}`);
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`nats-server did not listen on 127.0.0.1:${o.port} within ${START_TIMEOUT_MS} ms; see ${o.logPath}`);
    }
  }
}

/** The error for a nats-server that exited while starting: its last log lines, and who holds the port when that was why. */
async function startFailure(port: number, logPath: string): Promise<Error> {
  const tail = (await readFile(logPath, 'utf8').catch(() => '')).trimEnd().split('\n').slice(-5).join('\n');
  if (/address already in use/i.test(tail)) {
    return new Error(`nats-server could not listen on 127.0.0.1:${port}: the port is held by ${await describePortHolder(port)}`);
  }
  return new Error(`nats-server exited at start; see ${logPath}:\n${tail}`);
}

/** Reads the last lines of every nats-server log in `dir` (for failure messages). */
export async function tailNatsLogs(dir: string, lines = 20): Promise<string> {
  const files = (await readdir(dir).catch(() => [])).filter((f) => f.endsWith('.log'));
  const parts = await Promise.all(
    files.map(async (f) => `${f}:\n${(await readFile(path.join(dir, f), 'utf8')).split('\n').slice(-lines).join('\n')}`),
  );
  return parts.join('\n');
}
