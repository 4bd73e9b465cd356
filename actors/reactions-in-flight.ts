import { ErrorCode, ImError } from '../protocol/errors.js';
import { MAX_REACTION_KINDS } from '../protocol/limits.js';
import type { ChatServices } from './chat-services.js';

/**
 * A conversation's reactions that are in the group commit, by (message, user), so that the next reaction of the
 * same user to the same message knows which one it replaces before the first is durable. Reactions to one message
 * do not wait for each other (they change no row but the counts), and the counts are kept right only if each one
 * names the reaction it replaces (storage/shard-batch-append.ts).
 *
 * Why this is sound: the chatter's mailbox runs a reaction's check to its append without another send in between,
 * so an entry missing when the check starts cannot appear before it ends, and whatever is not here is committed (an
 * entry goes once its commit settled). A commit that failed fails every later row of the conversation too, so no
 * reaction that named a failed one is ever stored.
 */
export class ReactionsInFlight {
  private readonly pending = new Map<string, { emoji: string; done: Promise<unknown> }>();

  /**
   * The reaction that `emoji` from `uid` to message `target` replaces (none: undefined); refuses a new kind of
   * reaction on a message that has MAX_REACTION_KINDS already (`limit_reached`).
   */
  async replaced(svc: ChatServices, conv: string, target: number, uid: string, emoji: string): Promise<string | undefined> {
    const inflight = this.pending.get(keyOf(target, uid));
    const before = await svc.messages.reactionBefore(conv, target, uid, emoji);
    const was = inflight === undefined ? before.current : inflight.emoji === '' ? undefined : inflight.emoji;
    if (emoji !== '' && emoji !== was && !before.has && before.kinds >= MAX_REACTION_KINDS) {
      throw new ImError(ErrorCode.LIMIT_REACHED, `message ${target} has ${before.kinds} different reactions: at most ${MAX_REACTION_KINDS}; react with one of them`);
    }
    return was;
  }

  /** Remembers a reaction handed to the group commit until `done` settles. */
  track(target: number, uid: string, emoji: string, done: Promise<unknown>): void {
    const key = keyOf(target, uid);
    const entry = { emoji, done };
    this.pending.set(key, entry);
    const settle = (): void => {
      if (this.pending.get(key) === entry) this.pending.delete(key);
    };
    done.then(settle, settle);
  }
}

function keyOf(target: number, uid: string): string {
  return `${target}\u0000${uid}`;
}
