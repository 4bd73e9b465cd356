import { ErrorCode, ImError } from '../protocol/errors.js';
import { MAX_REACTION_KINDS } from '../protocol/limits.js';
import { checkAmendment, type Amendment } from './amendment.js';
import type { ChatServices } from './chat-services.js';

/**
 * A conversation's amendments (recalls, edits, reactions) that are in the group commit. The next amendment of a
 * message waits for a recall or edit of it to settle and then reads what it left, so one statement never changes a
 * row twice. Reactions change no row but the counts: they do not wait for each other, and each only learns which
 * reaction of the same user to the same message it replaces (ReactionsInFlight).
 */
export class AmendmentsInFlight {
  /** Recalls and edits by target seq, until their commit settles. */
  private readonly changing = new Map<number, Promise<unknown>>();
  private readonly reacting = new ReactionsInFlight();

  /**
   * See `checkAmendment` (`uid`: the client's, none for the server API), after any recall or edit of the same
   * message settled. A reaction (`emoji`, from `from`) learns which one it replaces (`a.was`).
   */
  async check(svc: ChatServices, conv: string, a: Amendment, emoji: string, from: string, systemDevice: string, uid?: string, moderates?: (uid: string) => boolean): Promise<void> {
    await this.settled(a.target);
    await checkAmendment(svc, conv, a, uid, systemDevice, moderates);
    if (a.kind !== 'react') return;
    const was = await this.reacting.replaced(svc, conv, a.target, from, emoji);
    if (was !== undefined) a.was = was;
  }

  /** Resolves once a recall or edit of message `seq` in the group commit settled (at once when none is). */
  async settled(seq: number): Promise<void> {
    await this.changing.get(seq)?.catch(() => undefined);
  }

  /** Remembers an amendment handed to the group commit (`done`) until it settles. */
  track(a: Amendment, uid: string, emoji: string, done: Promise<unknown>): void {
    if (a.kind === 'react') return this.reacting.track(a.target, uid, emoji, done);
    this.changing.set(a.target, done);
    const settle = (): void => {
      if (this.changing.get(a.target) === done) this.changing.delete(a.target);
    };
    done.then(settle, settle);
  }
}

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
class ReactionsInFlight {
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
