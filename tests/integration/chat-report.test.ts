import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReportEvent } from '../../protocol/chat-ops.js';
import { ErrorCode } from '../../protocol/errors.js';
import { MAX_REPORTS_PER_MINUTE } from '../../protocol/limits.js';
import { EventSubject } from '../../protocol/subjects.js';
import { startChatCluster, type ChatCluster } from '../helpers/chat-cluster.js';
import { rawConnect } from '../helpers/raw-client.js';
import { codeOf, waitUntil } from '../helpers/wait.js';

/** Reports: a member flags a message for the app's moderators, who get it as a business event. */
describe('chat – reporting messages', () => {
  let c: ChatCluster;
  let reports: ReportEvent[];
  beforeAll(async () => {
    c = await startChatCluster({ nodes: ['rp1', 'rp2'] });
    reports = await c.collect<ReportEvent>(EventSubject.REPORT);
  }, 60_000);
  afterAll(async () => {
    await c.stop();
  }, 30_000);

  it('report – a member reports a message: the business server gets it with the text as it was then, whatever happens to the message after; refusals are coded', async () => {
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'rp-room', owner: 'ann', members: ['bob'] });
    const ann = await c.online('ann', 'a1', 'rp1', []);
    const bob = await c.online('bob', 'b1', 'rp2', []);
    const spam = (await bob.client.send('rp-room', 'buy cheap watches')).seq;
    await ann.client.report('rp-room', spam, 'spam');
    await waitUntil(() => reports.length === 1, 'the report reaching the business server');
    expect(reports[0]).toEqual({ type: 'report', uid: 'ann', did: 'a1', conv: 'rp-room', seq: spam, from: 'bob', body: 'buy cheap watches', reason: 'spam', ts: expect.any(Number) });
    // Recalled afterwards: the report still holds what ann saw. A report needs no reason.
    await bob.client.recall('rp-room', spam);
    const greet = (await bob.client.send('rp-room', 'hello')).seq;
    await ann.client.report('rp-room', greet);
    await waitUntil(() => reports.length === 2, 'the second report');
    expect(reports[1]).toEqual({ type: 'report', uid: 'ann', did: 'a1', conv: 'rp-room', seq: greet, from: 'bob', body: 'hello', ts: expect.any(Number) });
    expect(reports[0]!.body).toBe('buy cheap watches');

    expect(await codeOf(ann.client.report('rp-room', 999))).toBe(ErrorCode.NOT_FOUND);
    const eve = await c.online('eve', 'e1', 'rp1', []);
    expect(await codeOf(eve.client.report('rp-room', greet))).toBe(ErrorCode.NOT_MEMBER);
    // Cleared for ann: not hers to report any more.
    const later = (await bob.client.send('rp-room', 'later')).seq;
    await ann.client.clear('rp-room', later);
    expect(await codeOf(ann.client.report('rp-room', later))).toBe(ErrorCode.NOT_FOUND);

    // A raw client's bad report is an error frame with its rid; nothing reaches the business server.
    const raw = await rawConnect(c.gateways.get('rp2')!, c.token('bob', 'b2'));
    raw.send({ type: 'report', rid: 7, conv: 'rp-room', seq: greet, reason: 'x'.repeat(1025) });
    expect(await raw.waitFor((f) => f.type === 'error')).toMatchObject({ rid: 7, code: ErrorCode.FRAME_TOO_LARGE });
    raw.send({ type: 'report', rid: 8, conv: 'rp-room', seq: 0 });
    expect(await raw.waitFor((f) => f.type === 'error' && (f as { rid?: number }).rid === 8)).toMatchObject({ code: ErrorCode.INVALID_FIELD });
    raw.send({ type: 'report', rid: 9, conv: 'rp-room', seq: greet });
    expect(await raw.waitFor((f) => f.type === 'reported')).toEqual({ type: 'reported', rid: 9, conv: 'rp-room', seq: greet });
    await waitUntil(() => reports.length === 3, 'the raw client’s report');
    expect(reports.map((r) => `${r.uid}/${r.did}:${r.seq}`)).toEqual([`ann/a1:${spam}`, `ann/a1:${greet}`, `bob/b2:${greet}`]);
    raw.close();
  }, 30_000);

  it('report – a message reported again by the same user is answered without another event; past 20 reports a minute the user is rate_limited on every device and after a reconnect, and the reports stop there; their chat goes on', async () => {
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'rp-flood', owner: 'cara', members: ['dan'] });
    const dan = await c.online('dan', 'd1', 'rp1', []);
    const seqs: number[] = [];
    for (let i = 0; i < MAX_REPORTS_PER_MINUTE + 1; i++) seqs.push((await dan.client.send('rp-flood', `m${i}`)).seq);
    const cara = await c.online('cara', 'c1', 'rp2', []);
    const before = reports.length;
    const mine = (): ReportEvent[] => reports.slice(before).filter((r) => r.uid === 'cara');

    await cara.client.report('rp-flood', seqs[0]!, 'spam');
    await cara.client.report('rp-flood', seqs[0]!, 'spam');
    for (const seq of seqs.slice(1, MAX_REPORTS_PER_MINUTE)) await cara.client.report('rp-flood', seq);
    await waitUntil(() => mine().length === MAX_REPORTS_PER_MINUTE, 'every report but the repeat reaching the business server');
    expect(mine().map((r) => r.seq)).toEqual(seqs.slice(0, MAX_REPORTS_PER_MINUTE));

    expect(await codeOf(cara.client.report('rp-flood', seqs[MAX_REPORTS_PER_MINUTE]!))).toBe(ErrorCode.RATE_LIMITED);
    // Neither a second device nor a new connection starts a fresh budget.
    const tablet = await c.online('cara', 'c2', 'rp2', []);
    expect(await codeOf(tablet.client.report('rp-flood', seqs[MAX_REPORTS_PER_MINUTE]!))).toBe(ErrorCode.RATE_LIMITED);
    cara.client.close();
    const again = await c.online('cara', 'c1', 'rp2', []);
    expect(await codeOf(again.client.report('rp-flood', seqs[MAX_REPORTS_PER_MINUTE]!))).toBe(ErrorCode.RATE_LIMITED);
    // A repeat is still answered (nothing new to tell), from any of her devices, and she chats on.
    await tablet.client.report('rp-flood', seqs[1]!);
    await again.client.report('rp-flood', seqs[0]!, 'spam');
    expect((await again.client.send('rp-flood', 'still here')).seq).toBeGreaterThan(seqs.at(-1)!);
    await new Promise((r) => setTimeout(r, 300));
    expect(mine()).toHaveLength(MAX_REPORTS_PER_MINUTE);
    tablet.client.close();
    again.client.close();
  }, 30_000);
});
