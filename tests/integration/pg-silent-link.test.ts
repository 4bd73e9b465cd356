import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../protocol/errors.js';
import { connect, type Sql } from '../../storage/db.js';
import { withFence } from '../../storage/fence.js';
import { MessageRetentionStore } from '../../storage/message-retention-store.js';
import { TX_DEADLINE_FACTOR } from '../../storage/pg-errors.js';
import { ShardMapStore } from '../../storage/shard-map-store.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { tcpProxy, type TcpProxy } from '../../scripts/lib/tcp-proxy.js';

const DEADLINE_MS = 300;

/**
 * A link to Postgres that goes silent (a partition, a frozen switch) answers nothing and closes nothing: without a
 * client-side deadline a transaction's caller waits until TCP gives up, minutes later, and the rows it locked stay
 * locked as long.
 */
describe('storage – transactions on a link gone silent', () => {
  let db: TestDatabase;
  let proxy: TcpProxy;
  let cut: Sql;

  beforeAll(async () => {
    db = await createTestDatabase({ poolSize: 2 });
    await new ShardMapStore(db.sql).ensureKind('chatter', 4);
    await new ShardMapStore(db.sql).assign('chatter', 1, 0, 'n1');
  });
  afterAll(async () => {
    await cut?.end({ timeout: 0 }).catch(() => undefined);
    proxy?.close();
    await db?.drop();
  });

  it('storage – a fenced transaction whose link goes silent answers timeout in time, and Postgres lets go of the shard row', async () => {
    proxy = await tcpProxy(new URL(db.url));
    cut = connect(proxy.url(db.url), { max: 1 });
    const [row] = await db.sql<{ epoch: number }[]>`SELECT epoch FROM shards WHERE kind = 'chatter' AND shard = 1`;
    const fence = { kind: 'chatter', shard: 1, epoch: row!.epoch };
    let locked!: () => void;
    const holding = new Promise<void>((r) => (locked = r));
    const started = Date.now();
    const write = withFence(
      cut,
      fence,
      'silent write',
      async (tx) => {
        locked();
        // The link goes silent between the fence's statement and this one.
        await new Promise((r) => setTimeout(r, 50));
        await tx`SELECT 1`;
      },
      DEADLINE_MS,
    );
    await holding;
    proxy.freeze();
    await expect(write).rejects.toMatchObject({ code: ErrorCode.TIMEOUT });
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(DEADLINE_MS * TX_DEADLINE_FACTOR - 20);
    expect(took).toBeLessThan(DEADLINE_MS * TX_DEADLINE_FACTOR + 2_000);
    // The coordinator's epoch bump (a shard move) waits for the FOR SHARE lock; Postgres ends the idle transaction.
    const bumped = await db.sql`UPDATE shards SET epoch = epoch + 1 WHERE kind = 'chatter' AND shard = 1 AND epoch = ${fence.epoch} RETURNING 1`;
    expect(bumped).toHaveLength(1);
    expect(Date.now() - started).toBeLessThan(5_000);
  }, 15_000);

  it('storage – a retention sweep whose link goes silent answers timeout in time', async () => {
    const p = await tcpProxy(new URL(db.url));
    const sql = connect(p.url(db.url), { max: 1 });
    try {
      const store = new MessageRetentionStore(sql, DEADLINE_MS);
      await store.sweep('', 0);
      p.freeze();
      const started = Date.now();
      await expect(store.sweep('', 0)).rejects.toMatchObject({ code: ErrorCode.TIMEOUT });
      expect(Date.now() - started).toBeLessThan(DEADLINE_MS * TX_DEADLINE_FACTOR + 2_000);
    } finally {
      await sql.end({ timeout: 0 }).catch(() => undefined);
      p.close();
    }
  }, 15_000);
});
