import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitUntil } from '../helpers/wait.js';

const LIB = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../scripts/lib');

/** True while a process with this pid exists (and is not a zombie of ours). */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * A bench or chaos run that dies — Ctrl-C, SIGTERM, an uncaught error, EPIPE on its piped output — must take
 * the servers it started with it: orphans kept ports and CPU and skewed every later run on the box.
 */
describe('child reaper – scripts take their servers with them (real nats-server)', () => {
  let dir = '';
  let script = '';
  const natsPids: number[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'natsim-reaper-'));
    script = path.join(dir, 'owner.mts'); // .mts: an ES module wherever the temp dir is, for top-level await
    // Starts a real nats-server the way bench and chaos do, reports its pid, then does what argv[2] says.
    await writeFile(
      script,
      [
        `import { stopChildrenOnSignal } from ${JSON.stringify(path.join(LIB, 'child-reaper.js'))};`,
        `import { startNatsServer } from ${JSON.stringify(path.join(LIB, 'nats-server.js'))};`,
        `stopChildrenOnSignal();`,
        `const nats = await startNatsServer({ dir: ${JSON.stringify(dir)} });`,
        `process.stdout.write(String(nats.pid) + '\\n');`,
        `if (process.argv[2] === 'throw') setTimeout(() => { throw new Error('boom'); }, 50);`,
        `else setInterval(() => {}, 1000);`,
      ].join('\n'),
    );
  });

  afterAll(async () => {
    // When the reaper fails, its servers must not outlive the test either.
    for (const pid of natsPids) if (running(pid)) process.kill(pid, 'SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  async function startOwner(mode: string): Promise<{ owner: ReturnType<typeof spawn>; natsPid: number; exit: Promise<number | null> }> {
    const owner = spawn(process.execPath, ['--import', 'tsx', script, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exit = new Promise<number | null>((r) => owner.once('exit', (code) => r(code)));
    const natsPid = await new Promise<number>((resolve, reject) => {
      let out = '';
      let err = '';
      owner.stderr!.on('data', (b: Buffer) => void (err += b.toString()));
      owner.stdout!.on('data', (b: Buffer) => {
        out += b.toString();
        if (out.includes('\n')) resolve(Number(out.trim()));
      });
      void exit.then((code) => reject(new Error(`owner exited (${code}) before starting nats-server: ${err.slice(-500)}`)));
    });
    natsPids.push(natsPid);
    expect(running(natsPid)).toBe(true);
    return { owner, natsPid, exit };
  }

  it('child reaper – SIGTERM to the script stops its nats-server and exits 143', async () => {
    const { owner, natsPid, exit } = await startOwner('wait');
    owner.kill('SIGTERM');
    expect(await exit).toBe(143);
    await waitUntil(() => !running(natsPid), 'nats-server gone after the owner was signalled', 5000);
  });

  it('child reaper – a script that dies of an uncaught error still stops its nats-server', async () => {
    const { natsPid, exit } = await startOwner('throw');
    expect(await exit).toBe(1);
    await waitUntil(() => !running(natsPid), 'nats-server gone after the owner crashed', 5000);
  });
});
