import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../storage/db.js';
import { bounded } from '../../storage/pg-errors.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';

/** A TCP relay to Postgres that holds each connection's first bytes (its startup) back for `delayMs`: a slow handshake. */
async function slowHandshakeRelay(target: URL, delayMs: number): Promise<{ url: string; close: () => void }> {
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    const held: Buffer[] = [];
    let open = false;
    client.on('data', (b: Buffer) => (open ? upstream.write(b) : held.push(b)));
    setTimeout(() => {
      open = true;
      for (const b of held) upstream.write(b);
    }, delayMs).unref();
    upstream.pipe(client);
    const end = (): void => void (client.destroy(), upstream.destroy());
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = new URL(target);
  url.hostname = '127.0.0.1';
  url.port = String((server.address() as net.AddressInfo).port);
  return { url: url.toString(), close: () => server.close() };
}

/**
 * postgres.js' Query.cancel() returned null instead of the promise of the cancel it starts, so a failed cancel (its
 * own connection refused: Postgres' host down while a statement waits) was an unhandled rejection, which ends a
 * Node process. scripts/patch-deps.mjs makes it return the promise; storage/pg-errors.ts `bounded` catches it.
 */
describe('postgres.js – cancelling a statement', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase({ migrate: false, poolSize: 2 });
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('postgres.js – cancel() hands back its promise, which settles, and the statement fails as cancelled', async () => {
    const q = db.sql`SELECT pg_sleep(10)`;
    const outcome = q.then(
      () => 'done',
      (err: { code?: string }) => err.code,
    );
    await new Promise((r) => setTimeout(r, 200));
    const cancelled = q.cancel() as unknown;
    expect(cancelled).toBeInstanceOf(Promise);
    await cancelled;
    expect(await outcome).toBe('57014');
  });

  it('postgres.js – a statement past its deadline while its connection is still opening leaves the connection usable', async () => {
    // The lease thread's pool: one connection. A handshake slower than a renew's deadline used to leave it
    // "connecting" for good (scripts/patch-deps.mjs), and every later statement timed out.
    const relay = await slowHandshakeRelay(new URL(db.url), 1_500);
    const sql = connect(relay.url, { max: 1 });
    try {
      await expect(bounded('first', sql`SELECT 1 AS x`, 300)).rejects.toMatchObject({ code: 'timeout' });
      await new Promise((r) => setTimeout(r, 2_000));
      expect(await bounded('second', sql<{ x: number }[]>`SELECT 2 AS x`, 5_000)).toEqual([{ x: 2 }]);
    } finally {
      await sql.end({ timeout: 1 });
      relay.close();
    }
  }, 20_000);
});

