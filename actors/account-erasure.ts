import { ChatKind, ChatterOp, ConnectorOp, type ChatterMembers, type ConnectorDisconnect, type DisconnectReply } from '../protocol/chat-ops.js';
import { isDirectConvId } from '../protocol/conv-id.js';
import type { ActorSender } from '../runtime/actor-host.js';
import { blankMessagesOf, deleteUserRows } from '../storage/user-erasure.js';
import type { ChatServices } from './chat-services.js';

/** What an account's erasure did. */
export interface ErasureReport {
  uid: string;
  /** Devices signed out. */
  devices: string[];
  /** Groups the user was removed from. */
  groups: number;
  /** Message bodies emptied. */
  messagesBlanked: number;
}

/** Conversations whose chatters are asked at once. */
const ERASE_CONCURRENCY = 16;

/**
 * Erases a user's account (server API): signs every device out and voids the tokens they hold; with
 * `blankMessages`, empties the bodies of what they wrote in their conversations (those they left too); removes them from every group
 * through its chatter (so member lists stay exact, and the business server hears of each removal); then deletes
 * their settings, blocks and last seen. Direct conversations keep them as a member (one always has two): the peer
 * still has the history, with the erased user's bodies blanked if asked. Each step may be repeated: an erasure that failed half way is
 * finished by running it again (the messages first, while the user is still a member of the conversations).
 */
export async function eraseAccount(router: ActorSender, svc: ChatServices, uid: string, blankMessages: boolean): Promise<ErasureReport> {
  const signOut: ConnectorDisconnect = { reason: 'account erased', revoke: true, erase: true };
  const { devices } = (await router.call(ChatKind.CONNECTOR, uid, ConnectorOp.DISCONNECT, signOut)) as DisconnectReply;
  await svc.revokeTokens(uid, undefined, Date.now());
  const convs = await svc.convs.conversationIdsOf(uid);
  // Groups they left keep what they wrote there: those are blanked too.
  let messagesBlanked = blankMessages ? await blankMessagesOf(svc.sql, uid, await svc.convs.everInIdsOf(uid)) : 0;
  const groups = convs.filter((conv) => !isDirectConvId(conv));
  const leave: ChatterMembers = { remove: [uid] };
  await askChatters(router, groups, ChatterOp.MEMBERS, leave);
  // Again once out of the groups: a send the signed-out sockets had handed over may have committed since. A group's
  // removal waited for its chatter's commits; a direct conversation's chatter is asked to (a sleeping one has none).
  // One a gateway hands over after this (a socket whose close is still on its way) is not waited for: milliseconds.
  if (blankMessages) {
    await askChatters(router, convs.filter(isDirectConvId), ChatterOp.SETTLE, {});
    messagesBlanked += await blankMessagesOf(svc.sql, uid, await svc.convs.everInIdsOf(uid));
  }
  // Last: the sign-out above records a last-seen time, which lands within a turn or two of its node.
  await deleteUserRows(svc.sql, uid, !blankMessages);
  return { uid, devices, groups: groups.length, messagesBlanked };
}

/** Calls the chatters of `convs` with `op`, ERASE_CONCURRENCY at a time. */
async function askChatters(router: ActorSender, convs: readonly string[], op: string, payload: unknown): Promise<void> {
  for (let i = 0; i < convs.length; i += ERASE_CONCURRENCY) {
    await Promise.all(convs.slice(i, i + ERASE_CONCURRENCY).map((conv) => router.call(ChatKind.CHATTER, conv, op, payload)));
  }
}
