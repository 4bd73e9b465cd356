import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect as natsConnect, StringCodec } from 'nats';
import { startTestNats, type TestNats } from '../helpers/nats.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { loadUws } from '../../runtime/uws.js';

describe('harness – real servers', () => {
  let nats: TestNats;
  let db: TestDatabase;

  beforeAll(async () => {
    [nats, db] = await Promise.all([startTestNats(), createTestDatabase()]);
  });
  afterAll(async () => {
    await Promise.all([nats?.stop(), db?.drop()]);
  });

  it('harness – nats-server relays a message on a random loopback port', async () => {
    expect(nats.url).toMatch(/^nats:\/\/127\.0\.0\.1:\d+$/);
    const nc = await natsConnect({ servers: nats.url });
    try {
      const sc = StringCodec();
      // Ends after one message; a message that never comes ends it with a timeout error after 5 s instead of hanging.
      const sub = nc.subscribe('harness.echo', { max: 1, timeout: 5_000 });
      nc.publish('harness.echo', sc.encode('hello'));
      const got: string[] = [];
      for await (const m of sub) got.push(sc.decode(m.data));
      expect(got).toEqual(['hello']);
    } finally {
      await nc.close();
    }
  });

  it('harness – a fresh database has every table of the schema', async () => {
    const rows = await db.sql<{ table_name: string }[]>`
      SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`;
    expect(rows.map((r) => r.table_name)).toEqual(
      expect.arrayContaining(['conversations', 'members', 'messages', 'seq_segments', 'shards', 'nodes', 'leases']),
    );
  });

  it('harness – uWebSockets.js loads its native binary, not the JS fallback', () => {
    expect(() => loadUws()).not.toThrow();
  });
});
