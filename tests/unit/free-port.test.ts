import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { freePort, RESERVATIONS_DIR } from '../../scripts/lib/free-port.js';

const FREE_PORT_MODULE = fileURLToPath(new URL('../../scripts/lib/free-port.ts', import.meta.url));

/** Another process (a second test worker, say) that picks a port, prints it and holds on until its stdin ends. */
async function otherProcessPick(): Promise<{ port: number; exit: () => Promise<void> }> {
  const code = `import { freePort } from ${JSON.stringify(FREE_PORT_MODULE)};
    process.stdout.write(String(await freePort()) + '\\n');
    process.stdin.resume();
    process.stdin.on('end', () => process.exit(0));`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['pipe', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    child.once('exit', (c) => reject(new Error(`picker exited ${c}`)));
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { port, exit: () => (child.stdin.end(), exited) };
}

describe('free port', () => {
  it('free port – a port another live process picked is not handed out, and is again once that process exits', async () => {
    const other = await otherProcessPick();
    try {
      let offered = 0;
      const port = await freePort('127.0.0.1', () => (offered++ === 0 ? other.port : 20_000 + ((other.port + 7_919 * offered) % 12_768)));
      expect(offered).toBeGreaterThan(1);
      expect(port).not.toBe(other.port);
    } finally {
      // Ended whatever the checks say: a picker left running would hold its port for the rest of the run.
      await other.exit();
    }
    expect(fs.existsSync(path.join(RESERVATIONS_DIR, String(other.port)))).toBe(false);
    expect(await freePort('127.0.0.1', () => other.port)).toBe(other.port);
  }, 30_000);

  it('free port – a pick left behind by a killed process is taken over once it is old', async () => {
    const other = await otherProcessPick();
    await other.exit();
    // What a SIGKILL'd picker leaves: its file, aged past any listen.
    const file = path.join(RESERVATIONS_DIR, String(other.port));
    fs.writeFileSync(file, '1');
    const old = new Date(Date.now() - 11 * 60_000);
    fs.utimesSync(file, old, old);
    expect(await freePort('127.0.0.1', () => other.port)).toBe(other.port);
    expect(fs.readFileSync(file, 'utf8')).toBe(String(process.pid));
  }, 30_000);
});
