import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Msg } from '../../protocol/frames.js';
import { allHeld, checkGuarantees, type DeviceLog } from '../../scripts/lib/guarantee-check.js';
import { ConversationStore } from '../../storage/conversation-store.js';
import { MessageStore } from '../../storage/message-store.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';

/** The checker the property test and chaos runs rely on must fail when a guarantee is broken, not only pass. */
describe('guarantee check – against a real Postgres', () => {
  let db: TestDatabase;
  const members = new Map([['gc', ['ann', 'bob']], ['other', ['cat', 'dan']]]);
  beforeAll(async () => {
    db = await createTestDatabase();
    const convs = new ConversationStore(db.sql);
    await convs.createGroup({ convId: 'gc', owner: 'ann', members: ['bob'] });
    await convs.createGroup({ convId: 'other', owner: 'cat', members: ['dan'] });
    const msgs = new MessageStore(db.sql);
    await msgs.appendBatch([
      { convId: 'gc', seq: 1, prevSeq: 0, senderUid: 'ann', senderDid: 'a1', clientMsgId: 7, body: Buffer.from('hello') },
      { convId: 'other', seq: 1, prevSeq: 0, senderUid: 'cat', senderDid: 'c1', clientMsgId: 1, body: Buffer.from('private') },
    ]);
    // Numbered as a chatter numbers them (appendBatch writes no ordinals).
    await db.sql`UPDATE messages SET ordinal = 1`;
  });
  afterAll(async () => {
    await db?.drop();
  });

  const msg = (conv: string, seq: number, from: string, did: string, cid: number, body: string): Msg => ({ conv, seq, prev: seq - 1, from, did, cid, ts: 1, body });
  const device = (uid: string, did: string, acked: DeviceLog['acked'], delivered: [string, Msg[]][]): DeviceLog => ({ uid, did, acked, attempted: new Map([...acked].map(([body, a]) => [a.conv, [body]])), delivered: new Map(delivered) });
  const ann = (acked: DeviceLog['acked']) => device('ann', 'a1', acked, [['gc', [msg('gc', 1, 'ann', 'a1', 7, 'hello')]]]);
  const bob = (extra: [string, Msg[]][] = []) => device('bob', 'b1', new Map(), [['gc', [msg('gc', 1, 'ann', 'a1', 7, 'hello')]], ...extra]);

  it('guarantee check – what was acked, stored and delivered to its members holds', async () => {
    const r = await checkGuarantees(db.sql, ['gc'], members, [ann(new Map([['hello', { conv: 'gc', seq: 1, cid: 7 }]])), bob()]);
    expect(allHeld(r)).toBe(true);
  });

  it('guarantee check – a send acked with a seq whose row is another send’s is lost, even with the same body', async () => {
    const r = await checkGuarantees(db.sql, ['gc'], members, [ann(new Map([['hello', { conv: 'gc', seq: 1, cid: 8 }]])), bob()]);
    expect(r.lost).toEqual(['a1: acked "hello" (cid 8) at gc/1 is not stored there as its own']);
    expect(allHeld(r)).toBe(false);
  });

  it('guarantee check – a message of a conversation the device’s user is not in is a leak', async () => {
    const r = await checkGuarantees(db.sql, ['gc'], members, [ann(new Map([['hello', { conv: 'gc', seq: 1, cid: 7 }]])), bob([['other', [msg('other', 1, 'cat', 'c1', 1, 'private')]]])]);
    expect(r.foreign).toEqual(['b1 got messages of other, which bob is not in']);
    expect(allHeld(r)).toBe(false);
  });

  it('guarantee check – an ordinal that does not count the plain messages before it is a break', async () => {
    await db.sql`UPDATE messages SET ordinal = 2 WHERE conv_id = 'gc'`;
    try {
      const r = await checkGuarantees(db.sql, ['gc'], members, [ann(new Map([['hello', { conv: 'gc', seq: 1, cid: 7 }]])), bob()]);
      expect(r.ordinalBreaks).toEqual(['gc: seq 1 has ordinal 2, expected 1']);
      expect(allHeld(r)).toBe(false);
    } finally {
      await db.sql`UPDATE messages SET ordinal = 1 WHERE conv_id = 'gc'`;
    }
  });
});
