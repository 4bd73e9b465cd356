import { describe, expect, it } from 'vitest';
import type { ChatServices } from '../../actors/chat-services.js';
import { reportMessage } from '../../actors/gateway/message-report.js';
import { ErrorCode } from '../../protocol/errors.js';

describe('message reports', () => {
  it('report – where business events are off, a report is refused (forbidden) before anything is read: it would reach nobody', async () => {
    let reads = 0;
    const read = async (): Promise<never> => {
      reads++;
      throw new Error('read');
    };
    const svc = { settings: { events: false }, convs: { isMember: read }, messages: { readAfter: read }, event: () => undefined } as unknown as ChatServices;
    await expect(reportMessage(svc, 'ann', 'a1', { type: 'report', rid: 1, conv: 'c', seq: 1 })).rejects.toMatchObject({ code: ErrorCode.FORBIDDEN });
    expect(reads).toBe(0);
  });
});
