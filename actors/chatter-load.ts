import { isDirectConvId } from '../protocol/conv-id.js';
import { SYSTEM_DEVICE } from '../protocol/token.js';
import type { Conversation, Member } from '../storage/conversation-store.js';
import { resumeOrdinals } from '../storage/message-ordinals.js';
import type { Fence } from '../storage/types.js';
import type { ChatServices } from './chat-services.js';

/** What a chatter reads of its conversation when it (re)loads. */
export interface ConversationRead {
  /** Undefined: no such conversation (yet). */
  conv: Conversation | undefined;
  members: Member[];
  /** Whether one member of a direct conversation blocks the other. */
  blocked: boolean;
  /** The last stored seq and the ordinal (among messages counted as unread) the next plain message follows. */
  lastSeq: number;
  lastOrdinal: number;
  /** In slow mode, when each member last posted within its interval (epoch ms). */
  lastPosts: Map<string, number> | undefined;
}

/** Whether one member of `conv` blocks the other; only direct conversations ask Postgres. */
export function readBlocked(svc: ChatServices, conv: string): Promise<boolean> {
  return isDirectConvId(conv) ? svc.blocks.blockedIn(conv) : Promise.resolve(false);
}

/**
 * Reads conversation `conv` for its chatter (shard `fence`): row, members, block, chain head and, in slow mode, the
 * members' last posts, so that a move of the conversation to this node does not reset their waits. Where the chain's
 * unread ordinals cannot be resumed (rows written before migration 450, or by an older node), they restart after it.
 */
export async function readConversation(svc: ChatServices, fence: Fence, conv: string, now: number): Promise<ConversationRead> {
  const [c, members, head, blocked] = await Promise.all([svc.convs.get(conv), svc.convs.members(conv), svc.messages.chainHead(conv), readBlocked(svc, conv)]);
  const live = c !== undefined && c.dissolvedAt === undefined;
  const ordinals = resumeOrdinals(head);
  if (live && ordinals.restartFrom !== undefined) await svc.messages.restartOrdinals(fence, conv, ordinals.restartFrom);
  const slowMs = (c?.slowModeSec ?? 0) * 1000;
  const lastPosts = slowMs > 0 ? await svc.messages.lastPostsSince(conv, now - slowMs, SYSTEM_DEVICE) : undefined;
  return { conv: c, members, blocked, lastSeq: head.lastSeq, lastOrdinal: ordinals.ordinal, lastPosts };
}
