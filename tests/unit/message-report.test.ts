import { describe, expect, it } from 'vitest';
import type { ChatServices } from '../../actors/chat-services.js';
import { ReportPacer, REPORTS_KEPT_MS, reportMessage } from '../../actors/gateway/message-report.js';
import { ErrorCode, type ImError } from '../../protocol/errors.js';
import { MAX_REPORTS_PER_MINUTE } from '../../protocol/limits.js';

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

  it('report pacer – one budget per user, whole again after a minute; a record idle past its keep time is dropped, an active one stays', () => {
    const codeOf = (f: () => void): string | undefined => {
      try {
        f();
        return undefined;
      } catch (err) {
        return (err as ImError).code;
      }
    };
    const pacer = new ReportPacer();
    const t0 = 1_000_000;
    for (let i = 0; i < MAX_REPORTS_PER_MINUTE; i++) pacer.of('ann', t0).budget.take('c', 1, t0);
    expect(codeOf(() => pacer.of('ann', t0).budget.take('c', 1, t0))).toBe(ErrorCode.RATE_LIMITED);
    // Another user is not held back by ann.
    expect(codeOf(() => pacer.of('bob', t0).budget.take('c', 1, t0))).toBeUndefined();
    const t1 = t0 + 60_000;
    expect(codeOf(() => pacer.of('ann', t1).budget.take('c', 1, t1))).toBeUndefined();
    pacer.of('ann', t1).add('c', 7);
    expect(pacer.size).toBe(2);
    // bob has been idle past the keep time, ann has not: only bob's record goes, and ann still knows her report.
    const t2 = t0 + REPORTS_KEPT_MS + 1;
    expect(pacer.of('ann', t2).has('c', 7)).toBe(true);
    expect(pacer.size).toBe(1);
    // Idle past it herself, she starts afresh.
    expect(pacer.of('ann', t2 + REPORTS_KEPT_MS + 1).has('c', 7)).toBe(false);
  });
});
