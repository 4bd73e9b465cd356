import type { ClientFrameOf } from '../../protocol/frames.js';
import { ErrorCode, ImError } from '../../protocol/errors.js';
import { MAX_REPORTS_PER_MINUTE } from '../../protocol/limits.js';
import type { ChatServices } from '../chat-services.js';
import { SendBudget } from '../send-budget.js';

/** Messages a session remembers having reported: reporting one again is answered without another event. */
const REMEMBERED_REPORTS = 64;

const utf8 = new TextDecoder();

/**
 * A member's report of a message to the app's moderators (abuse, spam): the business server gets a `report` event
 * with the message as the reporter is served it now, so what they saw stays on record whatever happens to it later.
 * NOT_MEMBER for someone not in the conversation, NOT_FOUND for a message not served to them (none, cleared or
 * expired), FORBIDDEN where business events are off (`--no-events`): a report would reach nobody.
 */
export async function reportMessage(svc: ChatServices, uid: string, did: string, f: ClientFrameOf<'report'>): Promise<void> {
  if (!svc.settings.events) throw new ImError(ErrorCode.FORBIDDEN, 'this server takes no reports: its business events are off');
  const [member, rows] = await Promise.all([svc.convs.isMember(f.conv, uid), svc.messages.readAfter(f.conv, f.seq - 1, 1, uid)]);
  if (!member) throw new ImError(ErrorCode.NOT_MEMBER, `${uid} is not a member of ${f.conv}`);
  const m = rows[0];
  if (m === undefined || m.seq !== f.seq) throw new ImError(ErrorCode.NOT_FOUND, `no message ${f.seq} in ${f.conv}`);
  svc.event({ type: 'report', uid, did, conv: f.conv, seq: f.seq, from: m.senderUid, body: utf8.decode(m.body), ...(f.reason !== undefined && { reason: f.reason }), ts: Date.now() });
}

/** How long a user's record of reports is kept after their last one: their budget and their repeats live that long. */
export const REPORTS_KEPT_MS = 10 * 60_000;

/** What a user has reported on this gateway: their budget (MAX_REPORTS_PER_MINUTE) and the messages they reported lately. */
class UserReports {
  readonly budget: SendBudget;
  private readonly recent: string[] = [];

  constructor(
    /** When they last reported (or tried to). */
    public last: number,
  ) {
    this.budget = new SendBudget(MAX_REPORTS_PER_MINUTE, 60_000, () => `a user may report ${MAX_REPORTS_PER_MINUTE} messages a minute`, last);
  }

  /** True when the user reported message `seq` of `conv` lately. */
  has(conv: string, seq: number): boolean {
    return this.recent.includes(`${conv} ${seq}`);
  }

  /** Remembers a report made, forgetting the oldest past REMEMBERED_REPORTS. */
  add(conv: string, seq: number): void {
    if (this.recent.push(`${conv} ${seq}`) > REMEMBERED_REPORTS) this.recent.shift();
  }
}

/**
 * Each user's reports on one gateway, by uid. Kept per connection, a reconnect or a second device would start a fresh
 * budget, and a client could flood the moderators by reconnecting every 20 reports. A user's devices connect to
 * the gateway of their connector's node (the dispatcher's choice), so this is per user in practice. Records idle
 * past REPORTS_KEPT_MS are dropped as reports come in: no timer, and a gateway nobody reports on keeps nothing.
 */
export class ReportPacer {
  private readonly users = new Map<string, UserReports>();
  private sweptAt = 0;

  /** The record of `uid`'s reports, made on their first. */
  of(uid: string, now = Date.now()): UserReports {
    if (now - this.sweptAt > REPORTS_KEPT_MS) {
      this.sweptAt = now;
      for (const [u, r] of this.users) if (now - r.last > REPORTS_KEPT_MS) this.users.delete(u);
    }
    let r = this.users.get(uid);
    if (r === undefined) this.users.set(uid, (r = new UserReports(now)));
    else r.last = now;
    return r;
  }

  /** Users with a record. */
  get size(): number {
    return this.users.size;
  }
}

/**
 * A device's `report`: a message its user reported lately is answered again without another event (a double tap, a
 * resend after a lost answer, the same report from another device), and past MAX_REPORTS_PER_MINUTE a user's
 * report is RATE_LIMITED before it costs a read, so a client cannot flood the moderators. Refused reports count too.
 */
export async function reportPaced(svc: ChatServices, pacer: ReportPacer, uid: string, did: string, f: ClientFrameOf<'report'>): Promise<void> {
  const reports = pacer.of(uid);
  if (reports.has(f.conv, f.seq)) return;
  reports.budget.take(f.conv, 1);
  await reportMessage(svc, uid, did, f);
  reports.add(f.conv, f.seq);
}
