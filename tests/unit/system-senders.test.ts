import { describe, expect, it } from 'vitest';
import { SystemSenders } from '../../actors/system-senders.js';
import { ErrorCode } from '../../protocol/errors.js';
import type { StoredMessage } from '../../storage/message-store.js';

const notice = { seq: 57, body: new Uint8Array() } as unknown as StoredMessage;

describe('system senders – a key answers only what it was first used for', () => {
  it('system senders – a key forgotten after many others (five senders) is checked against its row, and a recall under a notice\'s key is still refused', async () => {
    const keys = new SystemSenders();
    keys.remember('mod', 42, undefined);
    for (let i = 0; i < 1024; i++) keys.remember(`bot${i % 4}`, 1_000 + i, undefined);
    let reads = 0;
    const row = async () => (reads++, notice);
    await expect(keys.check('mod', 42, 50, row)).rejects.toMatchObject({ code: ErrorCode.CONFLICT });
    await expect(keys.check('mod', 42, undefined, row)).resolves.toBeUndefined();
    expect(reads).toBe(2);
    // Remembered ones need no read; one still in the group commit (no row yet) was asked too lately to be forgotten.
    await expect(keys.check('bot3', 2_023, 9, row)).rejects.toMatchObject({ code: ErrorCode.CONFLICT });
    expect(reads).toBe(2);
    await expect(keys.check('mod', 43, 9, async () => undefined)).resolves.toBeUndefined();
  });
});
