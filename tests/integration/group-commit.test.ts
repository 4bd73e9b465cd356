import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GroupCommitter } from '../../actors/group-commit.js';
import type { NewMessage } from '../../storage/message-store.js';
import { ShardMapStore } from '../../storage/shard-map-store.js';
import type { Fence } from '../../storage/types.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const nextTurn = () => new Promise((r) => setImmediate(r));

describe('group commit – real Postgres', () => {
  let db: TestDatabase;
  let fence: Fence;

  beforeAll(async () => {
    db = await createTestDatabase({ poolSize: 4 });
    const shards = new ShardMapStore(db.sql);
    await shards.ensureKind('chatter', 8);
    const row = (await shards.assign('chatter', 0, 0, 'n1'))!;
    fence = { kind: 'chatter', shard: 0, epoch: row.epoch };
  });
  afterAll(async () => {
    await db?.drop();
  });

  const msg = (convId: string, seq: number): NewMessage => ({ convId, seq, prevSeq: seq - 1, senderUid: 'u', senderDid: 'd', clientMsgId: seq, body: Buffer.from('x') });
  const stored = async (convId: string) => (await db.sql<{ seq: string }[]>`SELECT seq FROM messages WHERE conv_id = ${convId} ORDER BY seq`).map((r) => Number(r.seq));

  it('group commit – a lone message is written at once, not held back to gather company', { timeout: 5000 }, async () => {
    // A gather delay far past the test's timeout: the message must not wait for it.
    const committer = new GroupCommitter(db.sql, { gatherMs: 60_000 });
    expect(await committer.submit(fence, msg('lone', 1))).toBeGreaterThan(0);
    expect(committer.stats.batches).toBe(1);
    expect(await stored('lone')).toEqual([1]);
    await committer.close();
  });

  it('group commit – messages that queue up behind a running statement go out together in the next one', async () => {
    const committer = new GroupCommitter(db.sql, { gatherMs: 300, gatherBelow: 32 });
    const first = committer.submit(fence, msg('busy', 1));
    // The first statement is under way after this turn; the next rows arrive while it runs and just after.
    await nextTurn();
    const second = committer.submit(fence, msg('busy', 2));
    await sleep(50);
    const third = committer.submit(fence, msg('busy', 3));
    await Promise.all([first, second, third]);
    expect(committer.stats).toMatchObject({ batches: 2, rows: 3, failedRows: 0 });
    expect(await stored('busy')).toEqual([1, 2, 3]);
    await committer.close();
  });

  it('group commit – a batch big enough does not wait', { timeout: 5000 }, async () => {
    const committer = new GroupCommitter(db.sql, { gatherMs: 60_000, gatherBelow: 4 });
    const first = committer.submit(fence, msg('big', 1));
    await nextTurn();
    const rest = [2, 3, 4, 5].map((s) => committer.submit(fence, msg('big', s)));
    await Promise.all([first, ...rest]);
    expect(committer.stats).toMatchObject({ batches: 2, rows: 5 });
    expect(await stored('big')).toEqual([1, 2, 3, 4, 5]);
    await committer.close();
  });

  it('group commit – a statement that fails is reported once, with the rows it refused, and refuses them all', { timeout: 5000 }, async () => {
    const failures: { code: string; rows: number }[] = [];
    const committer = new GroupCommitter(db.sql, { onError: (err, rows) => failures.push({ code: err.code, rows }) });
    // Postgres text takes no NUL character: the whole statement fails.
    const bad = { ...msg('nul', 1), senderUid: 'u\u0000' };
    const outcomes = await Promise.allSettled([committer.submit(fence, bad), committer.submit(fence, msg('nul-other', 1))]);
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected']);
    expect(failures).toEqual([{ code: 'storage_error', rows: 2 }]);
    expect(await stored('nul-other')).toEqual([]);
    await committer.close();
  });

  it('group commit – a row whose commit outcome was still unknown is never forked by the next message', { timeout: 10_000 }, async () => {
    const committer = new GroupCommitter(db.sql);
    await committer.submit(fence, msg('doubt', 1));
    // Another connection stands in for a statement the node gave up on (deadline, dropped link) that still commits:
    // seq 2 after seq 1, not yet committed when the reloaded chatter sends seq 3 after seq 1 as well.
    let commitLate!: () => void;
    const late = new Promise<void>((r) => (commitLate = r));
    const inDoubt = db.sql.begin(async (tx) => {
      await tx`INSERT INTO messages (conv_id, seq, prev_seq, sender_uid, sender_did, client_msg_id, body) VALUES ('doubt', 2, 1, 'u', 'other', 2, '\\x78'::bytea)`;
      await late;
    });
    await sleep(100);
    const forked = committer.submit(fence, { ...msg('doubt', 3), prevSeq: 1 });
    await sleep(200);
    commitLate();
    await inDoubt;
    await expect(forked).rejects.toMatchObject({ code: 'unavailable' });
    expect(await stored('doubt')).toEqual([1, 2]);
    // Reloaded, the chatter follows the row that landed.
    committer.reset('doubt');
    await committer.submit(fence, { ...msg('doubt', 4), prevSeq: 2 });
    expect(await stored('doubt')).toEqual([1, 2, 4]);
    await committer.close();
  });
});
