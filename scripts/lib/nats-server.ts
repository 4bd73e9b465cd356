import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, open, readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { reapOnExit } from './child-reaper.js';
import { freePort, waitForPort } from './free-port.js';

export interface NatsServerOptions {
  /** Working dir for the ports file and the log. */
  dir: string;
  name?: string;
  /** Client port; a free one when absent. */
  port?: number;
  /** Joins a NATS cluster: this server's route port and the routes to its peers. */
  cluster?: { name: string; port: number; routes: string[] };
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

export const NATS_SERVER_BIN = 'nats-server';

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
  }
  const logFile = await open(path.join(options.dir, `${name}.log`), 'a');
  const child = spawn(NATS_SERVER_BIN, args, { stdio: ['ignore', logFile.fd, logFile.fd] });
  await logFile.close();
  reapOnExit(child, 'SIGTERM');
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const failed = new Promise<never>((_, reject) => {
    child.once('error', (e) => reject(new Error(`cannot run ${NATS_SERVER_BIN}: run scripts/setup.sh`, { cause: e })));
    void exited.then(() => reject(new Error(`nats-server exited at start; see ${options.dir}/${name}.log`)));
  });
  if (child.pid !== undefined) options.onSpawn?.(child.pid);
  await Promise.race([waitForPort(port), failed]);
  failed.catch(() => {});
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

/** Reads the last lines of every nats-server log in `dir` (for failure messages). */
export async function tailNatsLogs(dir: string, lines = 20): Promise<string> {
  const files = (await readdir(dir).catch(() => [])).filter((f) => f.endsWith('.log'));
  const parts = await Promise.all(
    files.map(async (f) => `${f}:\n${(await readFile(path.join(dir, f), 'utf8')).split('\n').slice(-lines).join('\n')}`),
  );
  return parts.join('\n');
}
