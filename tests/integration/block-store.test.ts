import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../protocol/errors.js';
import { BlockStore } from '../../storage/block-store.js';
import { ConversationStore } from '../../storage/conversation-store.js';
import { UserSettingsStore } from '../../storage/user-settings-store.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { codeOf } from '../helpers/wait.js';

describe('block store – real Postgres', () => {
  let db: TestDatabase;
  let blocks: BlockStore;
  let convs: ConversationStore;
  let settings: UserSettingsStore;
  beforeAll(async () => {
    db = await createTestDatabase({ poolSize: 4 });
    blocks = new BlockStore(db.sql, 5_000, 3);
    convs = new ConversationStore(db.sql);
    settings = new UserSettingsStore(db.sql);
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('block store – adds and removes in one change, answers both directions, and refuses a change past the limit whole', async () => {
    expect(await blocks.change('ann', ['bob', 'cat', 'bob'], [])).toEqual(['bob', 'cat']);
    expect(await blocks.change('ann', ['dan'], ['cat'])).toEqual(['bob', 'dan']);
    expect(await blocks.blockedBy('ann')).toEqual(['bob', 'dan']);
    expect(await settings.privacy('bob')).toEqual({ related: ['ann'], readReceipts: true, lastSeen: true });
    await settings.set('bob', { readReceipts: false });
    expect(await settings.privacy('bob')).toEqual({ related: ['ann'], readReceipts: false, lastSeen: true });
    // Each setting changes alone: the other keeps its value.
    expect(await settings.set('bob', { lastSeen: false })).toEqual({ readReceipts: false, lastSeen: false });
    expect(await settings.set('bob', { readReceipts: true })).toEqual({ readReceipts: true, lastSeen: false });
    expect(await settings.privacy('bob')).toEqual({ related: ['ann'], readReceipts: true, lastSeen: false });
    expect(await settings.get('bob')).toEqual({ readReceipts: true, lastSeen: false });
    expect(await settings.privacy('nobody')).toEqual({ related: [], readReceipts: true, lastSeen: true });
    expect((await settings.privacy('ann')).related.sort()).toEqual(['bob', 'dan']);
    expect(await blocks.between('bob', 'ann')).toBe(true);
    expect(await blocks.between('bob', 'cat')).toBe(false);
    // Three is the limit here: a change that would make four is refused, and changes nothing.
    expect(await codeOf(blocks.change('ann', ['eve', 'fay'], []))).toBe(ErrorCode.LIMIT_REACHED);
    expect(await blocks.blockedBy('ann')).toEqual(['bob', 'dan']);
    // Nothing means nothing: the unblock it also asked for is not made either.
    expect(await codeOf(blocks.change('ann', ['eve', 'fay', 'gus'], ['dan']))).toBe(ErrorCode.LIMIT_REACHED);
    expect(await blocks.blockedBy('ann')).toEqual(['bob', 'dan']);
    // Removing one makes room in the same change.
    expect(await blocks.change('ann', ['eve', 'fay'], ['dan'])).toEqual(['bob', 'eve', 'fay']);
    expect(await codeOf(blocks.change('ann', ['ann'], []))).toBe(ErrorCode.INVALID_FIELD);
    expect(await codeOf(blocks.change('ann', ['gus'], ['gus']))).toBe(ErrorCode.INVALID_FIELD);
  });

  it('block store – a direct conversation is blocked when either member blocks the other; a group never asks', async () => {
    const conv = await convs.createDirect('hal', 'ida');
    expect(await blocks.blockedIn(conv.convId)).toBe(false);
    await blocks.change('ida', ['hal'], []);
    expect(await blocks.blockedIn(conv.convId)).toBe(true);
    await blocks.change('ida', [], ['hal']);
    await blocks.change('hal', ['ida'], []);
    expect(await blocks.blockedIn(conv.convId)).toBe(true);
    expect(await blocks.blockedIn('no-such-conv')).toBe(false);
  });
});
