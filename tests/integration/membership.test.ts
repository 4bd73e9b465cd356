import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../protocol/errors.js';
import { silentLogger } from '../../runtime/logger.js';
import { Membership } from '../../runtime/membership.js';
import { NodeStore } from '../../storage/node-store.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';

describe('membership – real Postgres', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase({ poolSize: 2 });
  });
  afterAll(async () => {
    await db?.drop();
  });

  const membership = (nodes: NodeStore, registerTimeoutMs: number) =>
    new Membership({ nodeId: 'held', nodes, endpoints: [], heartbeatMs: 100, leaseMs: 400, log: silentLogger(), onLost: () => {}, onRegained: () => {}, onReplaced: () => {}, registerTimeoutMs });

  it('membership – a start whose registration is stuck on a lock fails with timeout instead of hanging, and works once the lock is gone', async () => {
    const nodes = new NodeStore(db.sql);
    await nodes.register('held', [], 400, 'someone-else');
    await nodes.setState('held', 'left', 'someone-else');
    // Another session keeps the node's row locked, as a process stuck in the middle of registering the id would.
    const blocker = postgres(db.url, { max: 1, onnotice: () => {} });
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let locked!: () => void;
    const isLocked = new Promise<void>((r) => (locked = r));
    const tx = blocker.begin(async (t) => {
      await t`SELECT 1 FROM nodes WHERE node_id = 'held' FOR UPDATE`;
      locked();
      await held;
    });
    try {
      await isLocked;
      const t0 = Date.now();
      await expect(membership(nodes, 500).start()).rejects.toMatchObject({ code: ErrorCode.TIMEOUT });
      expect(Date.now() - t0).toBeLessThan(5000);
    } finally {
      release();
      await tx;
      await blocker.end();
    }
    const m = membership(nodes, 500);
    await m.start();
    expect(m.isValid()).toBe(true);
    await m.leave();
  });
});
