import { ChatKind, ChatterOp, ConnectorOp, type ConnectorJoined } from '../protocol/chat-ops.js';
import type { Router } from '../runtime/router.js';
import { directConversationId, type ConversationStore } from '../storage/conversation-store.js';
import type { MessageStore } from '../storage/message-store.js';
import { isRetryableStorageError } from '../storage/pg-errors.js';
import type { BusinessEvent } from './event-publisher.js';

/** What making a direct conversation through the server API needs. */
export interface DirectCreateDeps {
  convs: Pick<ConversationStore, 'createDirect' | 'members'>;
  messages: Pick<MessageStore, 'lastSeq'>;
  router: Pick<Router, 'call' | 'tell'>;
  event: (e: BusinessEvent) => void;
}

/**
 * Makes (or finds) the direct conversation of `a` and `b`, and tells the business server (`members`) and the two
 * users' devices (`joined`) of whoever it let in now. No chatter step tells them, as a group's creation does.
 *
 * A statement past its deadline may have committed: the caller's retry then finds both in and would tell no one.
 * So the members are read before, and again after such a failure: those in now who were not before count as let in
 * by this call, which answers as done.
 */
export async function createDirectConversation(d: DirectCreateDeps, a: string, b: string): Promise<{ conv: string; kind: 'direct' }> {
  const conv = directConversationId(a, b);
  const before = await memberSet(d, conv);
  let added: string[];
  try {
    ({ added } = await d.convs.createDirect(a, b));
  } catch (err) {
    if (!isRetryableStorageError(err) || before === undefined) throw err;
    const after = await memberSet(d, conv);
    if (after === undefined || !after.has(a) || !after.has(b)) throw err;
    added = [a, b].filter((u) => !before.has(u)).sort();
    if (added.length === 0) throw err;
  }
  // Once, when it was made (or a member was let back in): asked again, it adds no one and raises nothing. Only those
  // added now are told: a bare repeat would tell devices of a conversation they hold (an app's get-or-create).
  if (added.length > 0) {
    d.event({ type: 'members', conv, added, removed: [], ts: Date.now() });
    // First its chatter reads it again: it may have found it missing a moment ago (a typing or a send before it was
    // made), and would refuse sends for a second more; or it holds the members without the one let back in. Best
    // effort (an older node knows no reload): a missing one is looked up again a second later, members at the
    // chatter's next activation.
    // Failed or timed out (a call past its deadline is not run at all), it goes as a tell, which has no deadline: the
    // chatter reads the members again whenever its mailbox gets to it.
    await d.router.call(ChatKind.CHATTER, conv, ChatterOp.RELOAD, {}).catch(() => d.router.tell(ChatKind.CHATTER, conv, ChatterOp.RELOAD, {}));
    // Committed, so the users must hear of it whatever this read does: a failure here answered the call with an error,
    // and the business server's retry found both in, added no one and told nobody. A new conversation has no message
    // yet; one let back into an old one learns its last seq from the next message's gap, or its next list.
    const lastSeq = await d.messages.lastSeq(conv).catch(() => 0);
    const joined: ConnectorJoined = { conv, kind: 'direct', large: false, added: true, lastSeq };
    for (const u of added) d.router.tell(ChatKind.CONNECTOR, u, ConnectorOp.JOINED, joined);
  }
  return { conv, kind: 'direct' };
}

/** The conversation's members now (none when it does not exist), or undefined when Postgres could not say. */
async function memberSet(d: DirectCreateDeps, conv: string): Promise<Set<string> | undefined> {
  return d.convs.members(conv).then(
    (rows) => new Set(rows.map((m) => m.uid)),
    () => undefined,
  );
}
