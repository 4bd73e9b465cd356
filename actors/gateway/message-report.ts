import type { ClientFrameOf } from '../../protocol/frames.js';
import { ErrorCode, ImError } from '../../protocol/errors.js';
import type { ChatServices } from '../chat-services.js';

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
