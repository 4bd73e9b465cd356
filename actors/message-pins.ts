import type { ChatterPin, PinReply } from '../protocol/chat-ops.js';
import { ErrorCode, ImError } from '../protocol/errors.js';
import { readTarget } from './amendment.js';
import type { AdminChatter } from './chatter-admin.js';

/**
 * Pins or unpins a message of the conversation for every member, then tells the members online (`pins`, the whole
 * list). A member's pin (`uid`): in a group only owners and admins pin, in a direct conversation either member (none
 * across a block). Only a plain message still served may be pinned (as `readTarget` says), at most
 * MAX_PINNED_MESSAGES at once; an unpin needs no message. The server API's (no `uid`) may pin any such message,
 * shown as `by` (none: nobody named).
 */
export async function pinMessage(c: AdminChatter, p: ChatterPin): Promise<PinReply> {
  const conv = c.ctx.key;
  // Broken, its members may include some removed since, or those of a group dissolved since: the store checks neither.
  if (!c.exists || c.broken) await c.load();
  if (!c.exists) throw new ImError(ErrorCode.NOT_FOUND, `no conversation ${conv}`);
  if (p.uid !== undefined) {
    if (!c.members.has(p.uid)) throw new ImError(ErrorCode.NOT_MEMBER, `${p.uid} is not a member of ${conv}`);
    if (c.kind === 'group' && !c.marks.moderates(p.uid)) throw new ImError(ErrorCode.FORBIDDEN, `only owners and admins pin messages in ${conv}`);
    // Each pin reaches the other member's devices, as a message would: across a block, neither passes.
    if (c.blocked) throw new ImError(ErrorCode.FORBIDDEN, `one member of ${conv} blocks the other: it takes no pins`);
  }
  if (p.pinned) {
    // A recall of it in the group commit is stored before we look.
    await c.settled(p.seq);
    // A member's pin names only what is served to them, as their replies do; the business server's any message.
    await readTarget(c.svc, conv, p.seq, p.uid);
  }
  const pins = await c.svc.pins.set(conv, p.seq, p.pinned, p.uid ?? p.by ?? null, undefined, c.ctx.fence);
  c.toMembers({ type: 'pins', conv, pins });
  return { conv, pins };
}
