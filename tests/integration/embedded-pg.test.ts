import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { reachableDataDir, startEmbeddedPostgres } from '../../scripts/lib/embedded-pg.js';

describe('embedded Postgres', () => {
  const made: string[] = [];
  afterAll(async () => {
    for (const dir of made) await rm(dir, { recursive: true, force: true });
  });

  it('embedded Postgres – a clone under a private directory (as /root is) still starts, its data where Postgres\' user can reach it, the same each run', async () => {
    const home = await mkdtemp(path.join(os.tmpdir(), 'private-home-'));
    made.push(home);
    await chmod(home, 0o700);
    const asked = path.join(home, 'app', '.data', 'pg');
    // As root Postgres runs as `postgres`, which cannot pass through the private directory; another user owns it.
    const forRoot = await reachableDataDir(asked, 0);
    expect(forRoot).toMatch(/^\/var\/lib\/natsim\/pg-[0-9a-f]{16}\/pg$/);
    expect(await reachableDataDir(asked, 0)).toBe(forRoot);
    expect(await reachableDataDir(asked, 1000)).toBe(asked);
    expect(await reachableDataDir(path.join(os.tmpdir(), 'open', '.data', 'pg'), 0)).toBe(path.join(os.tmpdir(), 'open', '.data', 'pg'));

    // A cluster made there before (reachable then, through an ACL or a group) stays where it is.
    const made0 = path.join(home, 'acl', 'pg');
    await mkdir(made0, { recursive: true });
    await writeFile(path.join(made0, 'PG_VERSION'), '15\n');
    expect(await reachableDataDir(made0, 0)).toBe(made0);

    const pg = await startEmbeddedPostgres({ dataDir: asked });
    made.push(path.dirname(pg.dataDir));
    try {
      expect(pg.dataDir).toBe(await reachableDataDir(asked));
      const sql = postgres(pg.url, { max: 1 });
      expect((await sql<{ one: number }[]>`SELECT 1 AS one`)[0]!.one).toBe(1);
      await sql.end();
    } finally {
      await pg.stop();
    }
  }, 60_000);
});
