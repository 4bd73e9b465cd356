import { mkdtemp, readdir, rm, mkdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres, type EmbeddedPgHandle } from '../../scripts/lib/embedded-pg.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Superuser URL of the suite's Postgres; test files create their own database on it. */
    pgAdminUrl: string;
    /** Where helpers record the pids of servers they spawn, so teardown can reap them after a crash. */
    pidDir: string;
  }
}

/** Kills every process a worker recorded and did not stop itself (a worker that crashed mid-test). */
async function reapPids(pidDir: string): Promise<void> {
  for (const file of await readdir(pidDir).catch(() => [] as string[])) {
    const pid = Number(await readFile(path.join(pidDir, file), 'utf8').catch(() => 'NaN'));
    if (!Number.isInteger(pid)) continue;
    try {
      process.kill(pid, 'SIGCONT');
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** Starts one Postgres for the whole run (or uses DATABASE_URL) and stops everything afterwards. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const runDir = await mkdtemp(path.join(os.tmpdir(), 'natsim-test-'));
  const pidDir = path.join(runDir, 'pids');
  await mkdir(pidDir, { recursive: true });
  let pg: EmbeddedPgHandle | undefined;
  // The one place tests read the environment: an external Postgres instead of the embedded one.
  const external = process.env['DATABASE_URL'];
  if (external) {
    project.provide('pgAdminUrl', external);
  } else {
    pg = await startEmbeddedPostgres({ dataDir: path.join(runDir, 'pg') });
    project.provide('pgAdminUrl', pg.url);
  }
  project.provide('pidDir', pidDir);
  return async () => {
    await reapPids(pidDir);
    await pg?.stop();
    await rm(runDir, { recursive: true, force: true });
  };
}
