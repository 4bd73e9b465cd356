import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GroupCommitter } from '../../actors/group-commit.js';
import { ErrorCode } from '../../protocol/errors.js';
import type { NewMessage } from '../../storage/message-store.js';
import { ShardMapStore } from '../../storage/shard-map-store.js';
import type { Fence } from '../../storage/types.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { tcpProxy, type TcpProxy } from '../../scripts/lib/tcp-proxy.js';
import { CommitConnection } from '../../storage/commit-connection.js';

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
  /** Resolves once the backend named `name` waits on a lock (the shard row another transaction holds). */
  const waitingOnLock = async (name: string) => {
    for (let i = 0; i < 200; i++) {
      if ((await db.sql`SELECT 1 FROM pg_stat_activity WHERE application_name = ${name} AND wait_event_type = 'Lock'`).length > 0) return;
      await sleep(10);
    }
    throw new Error(`${name} never waited on the lock`);
  };
  /**
   * Sends message 1 of `conv` through `committer` while another transaction holds the shard row, waits until the
   * statement waits on it, then cuts the link: the node sees the statement fail, Postgres goes on with it. Returns
   * that transaction (its COMMIT lets the statement go on, if it is still there).
   */
  const lostInFlight = async (committer: GroupCommitter, name: string, proxy: TcpProxy, conv: string) => {
    const lock = await db.sql.reserve();
    await lock`BEGIN`;
    await lock`SELECT 1 FROM shards WHERE kind = 'chatter' AND shard = 0 FOR UPDATE`;
    const sent = committer.submit(fence, msg(conv, 1));
    await waitingOnLock(name);
    proxy.cut();
    await expect(sent).rejects.toMatchObject({ code: 'unavailable' });
    return lock;
  };
  const stored = async (convId: string) => (await db.sql<{ seq: string }[]>`SELECT seq FROM messages WHERE conv_id = ${convId} ORDER BY seq`).map((r) => Number(r.seq));

  it('group commit – a lone message is written at once, not held back to gather company', { timeout: 5000 }, async () => {
    // A gather delay far past the test's timeout: the message must not wait for it.
    const committer = new GroupCommitter(db, { gatherMs: 60_000 });
    expect(await committer.submit(fence, msg('lone', 1))).toBeGreaterThan(0);
    expect(committer.stats.batches).toBe(1);
    expect(await stored('lone')).toEqual([1]);
    await committer.close();
  });

  it('group commit – the commit time a sender is told is the time history gives the message, to the millisecond', async () => {
    const committer = new GroupCommitter(db);
    const told: number[] = [];
    for (let seq = 1; seq <= 20; seq++) told.push(await committer.submit(fence, msg('when', seq)));
    const read = await db.sql<{ created_at: Date }[]>`SELECT created_at FROM messages WHERE conv_id = 'when' ORDER BY seq`;
    // Postgres keeps microseconds: rounded on one side and cut on the other, about half of them would be 1 ms apart.
    expect(read.map((r) => r.created_at.getTime())).toEqual(told);
    await committer.close();
  });

  it('group commit – messages that queue up behind a running statement go out together in the next one', async () => {
    const committer = new GroupCommitter(db, { gatherMs: 300, gatherBelow: 32 });
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
    const committer = new GroupCommitter(db, { gatherMs: 60_000, gatherBelow: 4 });
    const first = committer.submit(fence, msg('big', 1));
    await nextTurn();
    const rest = [2, 3, 4, 5].map((s) => committer.submit(fence, msg('big', s)));
    await Promise.all([first, ...rest]);
    expect(committer.stats).toMatchObject({ batches: 2, rows: 5 });
    expect(await stored('big')).toEqual([1, 2, 3, 4, 5]);
    await committer.close();
  });

  it('group commit – rows waiting on a slow Postgres past the backlog bound make it full until they are written or refused', { timeout: 10_000 }, async () => {
    // Room for three rows of a 1-byte body (each counted with its overhead).
    const committer = new GroupCommitter(db, { maxBacklogBytes: 3 * 513, gatherMs: 0 });
    const lock = await db.sql.reserve();
    await lock`BEGIN`;
    await lock`SELECT 1 FROM shards WHERE kind = 'chatter' AND shard = 0 FOR UPDATE`;
    const sent = [1, 2].map((seq) => committer.submit(fence, msg('slow', seq)));
    await sleep(100);
    expect(committer.full).toBe(false);
    sent.push(committer.submit(fence, msg('slow', 3)));
    expect(committer.full).toBe(true);
    await lock`COMMIT`;
    lock.release();
    await Promise.all(sent);
    expect(committer.full).toBe(false);
    expect(await stored('slow')).toEqual([1, 2, 3]);
    // Refused rows free their room too.
    const bad = [1, 2, 3].map((seq) => committer.submit(fence, { ...msg('slow-bad', seq), senderUid: 'u\u0000' }));
    expect(committer.full).toBe(true);
    await Promise.allSettled(bad);
    expect(committer.full).toBe(false);
    await committer.close();
  });

  it('group commit – a statement that fails is reported once, with the rows it refused, and refuses them all', { timeout: 5000 }, async () => {
    const failures: { code: string; rows: number }[] = [];
    const committer = new GroupCommitter(db, { onError: (err, rows) => failures.push({ code: err.code, rows }) });
    // Postgres text takes no NUL character: the whole statement fails.
    const bad = { ...msg('nul', 1), senderUid: 'u\u0000' };
    const outcomes = await Promise.allSettled([committer.submit(fence, bad), committer.submit(fence, msg('nul-other', 1))]);
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected']);
    expect(failures).toEqual([{ code: 'storage_error', rows: 2 }]);
    expect(await stored('nul-other')).toEqual([]);
    await committer.close();
  });

  it('group commit – a statement whose link dropped while it waited is ended on the server: it never lands after its chatter reloads', { timeout: 15_000 }, async () => {
    // The commit connection goes through a proxy whose client side can be cut while Postgres' side stays open, as a
    // link that died on the way does: the server goes on with the statement, the node hears only that it failed.
    const proxy = await tcpProxy(new URL(db.url));
    const commit = new CommitConnection(proxy.url(db.url), 'n-doubt');
    const committer = new GroupCommitter(commit);
    // Closed whatever the outcome: a failed run must not leave the proxy listening or the connection open.
    try {
      const lock = await lostInFlight(committer, commit.name, proxy, 'doubt');
      try {
        await committer.settled();
        expect(await db.sql`SELECT 1 FROM pg_stat_activity WHERE application_name = ${commit.name}`).toHaveLength(0);
        await lock`COMMIT`;
      } finally {
        lock.release();
      }
      await sleep(300);
      expect(await stored('doubt')).toEqual([]);
      // The reloaded chatter commits again, on a new connection.
      committer.reset('doubt');
      await committer.submit(fence, { ...msg('doubt', 2), prevSeq: 0 });
      expect(await stored('doubt')).toEqual([2]);
    } finally {
      await committer.close();
      await commit.close();
      proxy.close();
    }
  });

  it('group commit – while an unknown outcome cannot be settled (Postgres away), rows are refused unsent instead of held without an answer', { timeout: 15_000 }, async () => {
    const proxy = await tcpProxy(new URL(db.url));
    const commit = new CommitConnection(proxy.url(db.url), 'n-away');
    let settle!: () => void;
    // Its settling ends only when the test says so: Postgres out of reach until then.
    const target = {
      get sql() {
        return commit.sql;
      },
      ready: () => commit.ready(),
      settle: () => new Promise<void>((r) => (settle = r)),
    };
    const committer = new GroupCommitter(target, { settleWaitMs: 200 });
    // Closed whatever the outcome: a failed run must not leave the proxy listening or the connection open.
    try {
      const lock = await lostInFlight(committer, commit.name, proxy, 'away');
      try {
        // Another conversation's message while the doubt stands: refused after the wait, never sent.
        const started = Date.now();
        await expect(committer.submit(fence, msg('elsewhere', 1))).rejects.toMatchObject({ code: 'unavailable' });
        expect(Date.now() - started).toBeLessThan(5_000);
        await commit.settle();
        settle();
        await lock`COMMIT`;
      } finally {
        lock.release();
      }
      expect(await stored('elsewhere')).toEqual([]);
      expect(await stored('away')).toEqual([]);
    } finally {
      // A settle the test never let end would hold close() up.
      settle?.();
      await committer.close();
      await commit.close();
      proxy.close();
    }
  });

  it('group commit – an application_name in the database URL does not take the commit connection out of sight', async () => {
    const url = new URL(db.url);
    url.searchParams.set('application_name', 'someone-else');
    const commit = new CommitConnection(url.toString(), 'n-named');
    try {
      await commit.ready();
      const [me] = await commit.sql<{ name: string }[]>`SELECT current_setting('application_name') AS name`;
      expect(me!.name).toBe(commit.name);
    } finally {
      await commit.close();
    }
  });

  it('group commit – a commit connection whose startup outlasts the deadline is given up and opened again, not left hanging', { timeout: 30_000 }, async () => {
    const proxy = await tcpProxy(new URL(db.url));
    const commit = new CommitConnection(proxy.url(db.url), 'n-slow');
    try {
      proxy.delayNew(6_000);
      // Given up by the pool's connect timeout (3 s), before ready's own deadline (5 s) or the held answer (6 s).
      await expect(commit.ready()).rejects.toMatchObject({ code: ErrorCode.UNAVAILABLE, cause: { code: 'CONNECT_TIMEOUT' } });
      proxy.delayNew(0);
      await commit.ready();
      expect(await commit.sql`SELECT 1 AS one`).toEqual([{ one: 1 }]);
    } finally {
      await commit.close();
      proxy.close();
    }
  });
});
