import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnNodeProcess, type NodeProcess } from '../../scripts/lib/node-process.js';
import { registerPid, startTestNats, type TestNats } from '../helpers/nats.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const USER = 'natsim';
const PASSWORD = 'p@ss:w/rd-0123456789';

/**
 * A NATS server that asks its clients to log in (nats.conf's advice once machines are separate): the nodes and imctl
 * log in with NATS_USER / NATS_PASSWORD or with the credentials written in the URL, and one without them is refused.
 */
describe('NATS login – a server with authorization', () => {
  let nats: TestNats;
  let db: TestDatabase;
  let dir: string;
  const nodes: NodeProcess[] = [];

  const spawn = async (nodeId: string, natsUrl: string, env: Record<string, string> = {}): Promise<NodeProcess> => {
    const p = await spawnNodeProcess({ nodeId, natsUrl, databaseUrl: db.url, kinds: ['counter'], args: ['--shards', '4'], logDir: dir, readyTimeoutMs: 30_000, env, onSpawn: (pid) => void registerPid(pid) });
    nodes.push(p);
    return p;
  };
  const imctl = (env: Record<string, string>, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      execFile('sh', [path.join(ROOT, 'scripts', 'imctl.sh'), '--database-url', db.url, '--nats', nats.url, ...args], { timeout: 60_000, env: { ...process.env, ...env } }, (err, stdout, stderr) => {
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      });
    });

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'natsim-nats-auth-'));
    const conf = path.join(dir, 'auth.conf');
    await writeFile(conf, `authorization { user: ${USER}, password: ${JSON.stringify(PASSWORD)} }\n`);
    [nats, db] = await Promise.all([startTestNats({ configFile: conf }), createTestDatabase()]);
  });

  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await Promise.all([nats?.stop(), db?.drop()]);
    await rm(dir, { recursive: true, force: true });
  });

  it('NATS login – nodes log in with NATS_USER/NATS_PASSWORD or URL credentials and answer imctl over NATS; without them a node stops at start naming the refusal', async () => {
    await spawn('a1', nats.url, { NATS_USER: USER, NATS_PASSWORD: PASSWORD });
    const inUrl = nats.url.replace('nats://', `nats://${encodeURIComponent(USER)}:${encodeURIComponent(PASSWORD)}@`);
    await spawn('a2', inUrl);

    // Both reached NATS: each answers its own status report, which imctl asks over NATS with the same login.
    const status = await imctl({ NATS_USER: USER, NATS_PASSWORD: PASSWORD }, 'status', '--json');
    expect(status.code, status.stderr).toBe(0);
    const reports = (JSON.parse(status.stdout) as { reports: { type: string; nodeId?: string }[] }).reports;
    expect(reports.filter((r) => r.type === 'status').map((r) => r.nodeId).sort()).toEqual(['a1', 'a2']);

    // Without a login, imctl cannot reach NATS (exit 3) and says why.
    const anonymous = await imctl({}, 'status');
    expect(anonymous.code).toBe(3);
    expect(anonymous.stderr).toMatch(/cannot reach NATS.*Authorization Violation/i);

    // A node without credentials, or with a wrong password, does not start; its error names NATS's refusal.
    await expect(spawn('a3', nats.url)).rejects.toThrow(/exited \(1\) before it was ready.*node: failed to start: cannot reach NATS at nats:\/\/127\.0\.0\.1:\d+: 'Authorization Violation' \(unavailable\)/is);
    await expect(spawn('a4', nats.url, { NATS_USER: USER, NATS_PASSWORD: 'wrong' })).rejects.toThrow(/Authorization Violation/i);
  });
});
