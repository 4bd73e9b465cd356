import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../protocol/errors.js';
import { ConversationStore } from '../../storage/conversation-store.js';
import { HiddenMessageStore } from '../../storage/hidden-message-store.js';
import { MessageStore, type NewMessage } from '../../storage/message-store.js';
import { resumeOrdinals } from '../../storage/message-ordinals.js';
import { appendAcrossShards } from '../../storage/shard-batch-append.js';
import { ShardMapStore } from '../../storage/shard-map-store.js';
import { readUnreadCount, readUserConversations } from '../../storage/user-conversations.js';
import type { Fence } from '../../storage/types.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';

type Kind = 'plain' | 'recall' | 'edit' | 'react';

/**
 * A stint of one owner of the conversation: an up-to-date chatter (it reads the chain head and numbers its rows, as
 * ChatterActor does) or a node that predates migration 450 (no ordinals, and, as chatters then did, seqs with holes).
 */
interface Stint {
  numbered: boolean;
  writes: { kind: Kind; skip: number }[];
}

const stint = fc.record({
  numbered: fc.boolean(),
  writes: fc.array(fc.record({ kind: fc.constantFrom<Kind>('plain', 'plain', 'plain', 'recall', 'edit', 'react'), skip: fc.constantFrom(0, 0, 0, 1, 4) }), { maxLength: 12 }),
});

/** A plain message of `conv` following the seq before it, numbered when `ordinal` is given. */
const rowOf = (conv: string, seq: number, ordinal?: number): NewMessage => ({ convId: conv, seq, prevSeq: seq - 1, senderUid: 'w', senderDid: 'd', clientMsgId: seq, body: Buffer.from('x'), ...(ordinal !== undefined && { ordinal }) });

describe('unread counts – real Postgres', () => {
  let db: TestDatabase;
  let messages: MessageStore;
  let convs: ConversationStore;
  let hidden: HiddenMessageStore;
  let fence: Fence;
  let run = 0;

  beforeAll(async () => {
    db = await createTestDatabase({ poolSize: 6 });
    messages = new MessageStore(db.sql);
    convs = new ConversationStore(db.sql);
    hidden = new HiddenMessageStore(db.sql);
    const shards = new ShardMapStore(db.sql);
    await shards.ensureKind('chatter', 4);
    fence = { kind: 'chatter', shard: 0, epoch: (await shards.assign('chatter', 0, 0, 'n1'))!.epoch };
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('unread – exact from every read mark, across rows numbered by chatters, rows of older nodes, hides, reactions, edits and recalls', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stint, { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 4 }), async (stints, hideAt) => {
        const conv = `u-${run++}`;
        await convs.createGroup({ convId: conv, owner: 'w', members: ['r'] });
        /** What was stored, for the count a reader expects. */
        const stored: { seq: number; counts: boolean }[] = [];
        let lastSeq = 0;
        for (const s of stints) {
          let ordinal: number | undefined;
          if (s.numbered) {
            // A chatter's activation: where the chain stands, and the ordinals started again if they cannot go on.
            const head = await messages.chainHead(conv);
            expect(head.lastSeq).toBe(lastSeq);
            const resume = resumeOrdinals(head);
            if (resume.restartFrom !== undefined) await messages.restartOrdinals(fence, conv, resume.restartFrom);
            ordinal = resume.ordinal;
          }
          const rows: NewMessage[] = [];
          for (const w of s.writes) {
            const plain = stored.filter((m) => m.counts);
            const target = plain.length > 0 ? plain[plain.length - 1]!.seq : undefined;
            const kind = target === undefined ? 'plain' : w.kind;
            const seq = lastSeq + 1 + (s.numbered ? 0 : w.skip);
            const row: NewMessage = { convId: conv, seq, prevSeq: lastSeq, senderUid: 'w', senderDid: 'd', clientMsgId: seq, body: Buffer.from(kind === 'react' ? '👍' : 'x') };
            if (kind === 'recall') row.recalls = target;
            if (kind === 'edit') row.edits = target;
            if (kind === 'react') row.reacts = target;
            if (ordinal !== undefined) row.ordinal = ordinal += kind === 'plain' ? 1 : 0;
            rows.push(row);
            stored.push({ seq, counts: kind === 'plain' });
            lastSeq = seq;
          }
          // One statement per stint, as a group commit would write them.
          if (rows.length > 0) expect((await appendAcrossShards(db.sql, [{ fence, rows }]))[0]!.ok).toBe(true);
        }
        const plainSeqs = stored.filter((m) => m.counts).map((m) => m.seq);
        const toHide = [...new Set(hideAt.filter(() => plainSeqs.length > 0).map((i) => plainSeqs[i % plainSeqs.length]!))];
        if (toHide.length > 0) await hidden.hide('r', conv, toHide);
        const expected = (mark: number) => stored.filter((m) => m.counts && m.seq > mark && !toHide.includes(m.seq)).length;
        // Every mark from 0 up, as the reader's read mark moves (it only moves forward).
        for (let mark = 0; mark <= lastSeq; mark++) {
          const set = await convs.setReadMark('r', conv, mark);
          expect({ mark, unread: set.unread }).toEqual({ mark, unread: expected(mark) });
          expect({ mark, unread: (await readUnreadCount(db.sql, 'r', conv))?.unread }).toEqual({ mark, unread: expected(mark) });
          const listed = (await readUserConversations(db.sql, 'r')).find((c) => c.convId === conv);
          expect({ mark, unread: listed?.unread }).toEqual({ mark, unread: expected(mark) });
        }
      }),
      { numRuns: 40 },
    );
  });

  it('unread – a chatter resumes the ordinals of a numbered chain and starts them again after an older node wrote', async () => {
    const conv = 'resume';
    await convs.createGroup({ convId: conv, owner: 'w', members: ['r'] });
    // A new conversation's ordinals start at its first seq: its first chatter has nothing to restart.
    expect(resumeOrdinals(await messages.chainHead(conv))).toEqual({ ordinal: 0 });
    const row = (seq: number, ordinal?: number) => rowOf(conv, seq, ordinal);
    await appendAcrossShards(db.sql, [{ fence, rows: [row(1, 1), row(2, 2)] }]);
    expect(resumeOrdinals(await messages.chainHead(conv))).toEqual({ ordinal: 2 });
    // An older node's row: the next chatter numbers from its own next seq.
    await appendAcrossShards(db.sql, [{ fence, rows: [row(3)] }]);
    expect(resumeOrdinals(await messages.chainHead(conv))).toEqual({ ordinal: 0, restartFrom: 4 });
    await messages.restartOrdinals(fence, conv, 4);
    expect(await messages.chainHead(conv)).toEqual({ lastSeq: 3, ordinal: null, ordinalsFrom: 4 });
    // A chatter that restarted and wrote nothing leaves a chain the next one resumes without writing.
    expect(resumeOrdinals(await messages.chainHead(conv))).toEqual({ ordinal: 0 });
    // The restart is fenced like every chatter write.
    await expect(messages.restartOrdinals({ ...fence, epoch: fence.epoch + 1 }, conv, 9)).rejects.toMatchObject({ code: ErrorCode.FENCED });
    expect((await messages.chainHead(conv)).ordinalsFrom).toBe(4);
  });

  it('unread – numbered messages are counted from their ordinals, not row by row, also behind a mark from before them', async () => {
    const conv = 'by-ordinals';
    await convs.createGroup({ convId: conv, owner: 'w', members: ['r'] });
    const row = (seq: number, ordinal?: number) => rowOf(conv, seq, ordinal);
    // Three rows of an older node, then a chatter's two numbered ones.
    await appendAcrossShards(db.sql, [{ fence, rows: [row(1), row(2), row(3)] }]);
    await messages.restartOrdinals(fence, conv, 4);
    await appendAcrossShards(db.sql, [{ fence, rows: [row(4, 1), row(5, 2)] }]);
    expect((await readUnreadCount(db.sql, 'r', conv))?.unread).toBe(5);
    // A last ordinal made 10 too high shows which way each count went (row by row, it would still be 5 and 2).
    await db.sql`UPDATE messages SET ordinal = 12 WHERE conv_id = ${conv} AND seq = 5`;
    expect((await readUnreadCount(db.sql, 'r', conv))?.unread).toBe(15);
    await convs.setReadMark('r', conv, 3);
    expect((await readUnreadCount(db.sql, 'r', conv))?.unread).toBe(12);
  });
});
