import type { ClientFrameOf } from '../../protocol/frames.js';
import { ErrorCode, ImError } from '../../protocol/errors.js';
import { MAX_REPORTS_PER_MINUTE } from '../../protocol/limits.js';
import type { ChatServices } from '../chat-services.js';
import { SendBudget } from '../send-budget.js';
import type { Session } from './session.js';

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

/** What a session has reported: its budget (MAX_REPORTS_PER_MINUTE) and the messages it reported lately. */
class SessionReports {
  readonly budget = new SendBudget(MAX_REPORTS_PER_MINUTE, 60_000, () => `a session may report ${MAX_REPORTS_PER_MINUTE} messages a minute`);
  private readonly recent: string[] = [];

  /** True when this session reported message `seq` of `conv` lately. */
  has(conv: string, seq: number): boolean {
    return this.recent.includes(`${conv} ${seq}`);
  }

  /** Remembers a report made, forgetting the oldest past REMEMBERED_REPORTS. */
  add(conv: string, seq: number): void {
    if (this.recent.push(`${conv} ${seq}`) > REMEMBERED_REPORTS) this.recent.shift();
  }
}

/** Each session's reports, kept apart from the session: most never report, and a field would cost every connection. */
const reportsOf = new WeakMap<Session, SessionReports>();

/**
 * A session's `report`: a message it reported lately is answered again without another event (a double tap, a
 * resend after a lost answer), and past MAX_REPORTS_PER_MINUTE a report is RATE_LIMITED before it costs a read, so a
 * client cannot flood the moderators. Refused reports count too.
 */
export async function reportFromSession(svc: ChatServices, s: Session, f: ClientFrameOf<'report'>): Promise<void> {
  let reports = reportsOf.get(s);
  if (reports === undefined) reportsOf.set(s, (reports = new SessionReports()));
  if (reports.has(f.conv, f.seq)) return;
  reports.budget.take(f.conv, 1);
  await reportMessage(svc, s.uid, s.did, f);
  reports.add(f.conv, f.seq);
}
