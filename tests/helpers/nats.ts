import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { inject } from 'vitest';
import { startNatsServer, type NatsServerHandle, type NatsServerOptions } from '../../scripts/lib/nats-server.js';

/** Records a spawned pid so the global teardown can kill it if this worker dies before stopping it. */
export async function registerPid(pid: number): Promise<void> {
  await writeFile(path.join(inject('pidDir'), String(pid)), String(pid));
}

/** Removes a pid from the registry once its process was stopped normally. */
export async function unregisterPid(pid: number): Promise<void> {
  await rm(path.join(inject('pidDir'), String(pid)), { force: true });
}

export interface TestNats extends NatsServerHandle {
  dir: string;
}

/** Starts a real nats-server on a random loopback port in its own temp dir. */
export async function startTestNats(options: Partial<NatsServerOptions> = {}): Promise<TestNats> {
  const dir = options.dir ?? (await mkdtemp(path.join(os.tmpdir(), 'natsim-nats-')));
  const server = await startNatsServer({ ...options, dir, onSpawn: (pid) => void registerPid(pid) });
  const stop = server.stop;
  return {
    ...server,
    dir,
    async stop(graceMs?: number) {
      await stop(graceMs);
      await unregisterPid(server.pid);
      if (!options.dir) await rm(dir, { recursive: true, force: true });
    },
  };
}
