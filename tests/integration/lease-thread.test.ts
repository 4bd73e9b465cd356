import type { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeaseCell, monotonicMs } from '../../runtime/lease-cell.js';
import { LeaseWorker } from '../../runtime/lease-worker.js';
import { silentLogger } from '../../runtime/logger.js';
import { NodeStore } from '../../storage/node-store.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('lease thread – real Postgres', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase({ poolSize: 2 });
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('lease thread – renews while the main thread runs, is started again when it dies, and stops for good with stop(), also right after a death', async () => {
    const nodes = new NodeStore(db.sql);
    await nodes.register('lt', [], 1500, 'inc-1', 5000);
    const cell = new LeaseCell();
    cell.markAlive(monotonicMs());
    const alive = setInterval(() => cell.markAlive(monotonicMs()), 100);
    const worker = new LeaseWorker({ databaseUrl: db.url, applicationName: 'lease-thread-test', nodeId: 'lt', incarnation: 'inc-1', endpoints: [], heartbeatMs: 300, leaseMs: 1500, stallMs: 1500, cell, load: () => ({ shards: 3 }), log: silentLogger(), onReplaced: () => {} });
    const validFor = (): number => cell.validUntil() - monotonicMs();
    try {
      await worker.start();
      worker.renew();
      await sleep(1000);
      expect(validFor()).toBeGreaterThan(600);
      // The load goes along with the renewals.
      expect((await nodes.live()).find((n) => n.nodeId === 'lt')?.load).toMatchObject({ shards: 3 });

      // A thread that dies by a defect: the lease would run out for good without a new one.
      await (worker as unknown as { worker: Worker }).worker.terminate();
      await sleep(3000);
      expect(validFor()).toBeGreaterThan(600);
      // Dead again, and stopped before it is started again: stop() does not wait for an exit that has happened.
      await (worker as unknown as { worker: Worker }).worker.terminate();
      const stopped = await Promise.race([worker.stop().then(() => 'stopped'), sleep(2000).then(() => 'hung')]);
      expect(stopped).toBe('stopped');
    } finally {
      clearInterval(alive);
      await worker.stop();
    }
    const until = cell.validUntil();
    await sleep(1000);
    expect(cell.validUntil()).toBe(until);
  }, 30_000);
});
