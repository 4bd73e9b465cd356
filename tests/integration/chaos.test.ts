import { execFile } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');

describe('chaos (short run in CI)', () => {
  it('chaos – 50 s of steady traffic through every kind of fault: nothing lost, duplicated or out of order', async () => {
    const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts', 'chaos.ts'), '--duration', '50s', '--seed', '7'], { cwd: ROOT, timeout: 240_000, maxBuffer: 16 * 1024 * 1024 }, (err, out, errOut) =>
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout: out, stderr: errOut }),
      );
    });
    console.log(stdout);
    if (code !== 0) console.error(stderr.slice(-4000));
    // Every kind of fault was injected and recovered from.
    for (const kind of ['SIGKILL k', 'SIGSTOP', 'nats-server', 'off from NATS', 'Postgres stopped', 'imctl rebalance', 'imctl move', 'client socket', 'large-group', 'reopened app']) expect(stdout).toContain(kind);
    // The node cut off from NATS really was (its proxied links went silent) and gave its lease up.
    expect(stdout).toMatch(/^leases given up \(NATS\)\s+[1-9]/m);
    // Traffic really flowed through the faults: guarantees over no messages would hold vacuously.
    expect(stdout).toMatch(/^sent\s+[1-9]\d{2,}$/m);
    expect(stdout).toMatch(/^delivered\s+[1-9]\d{2,} /m);
    expect(stdout).toMatch(/^lost\s+0$/m);
    expect(stdout).toMatch(/^duplicated\s+0$/m);
    expect(stdout).toMatch(/^out of order\s+0$/m);
    expect(stdout).toContain('all guarantees held');
    expect(code).toBe(0);
  }, 300_000);
});
