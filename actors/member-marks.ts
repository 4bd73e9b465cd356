import { MemberRole } from '../protocol/frames.js';
import type { Member } from '../storage/conversation-store.js';

/**
 * What a conversation's chatter keeps of its members besides who they are: whose role lets them mention all
 * (owners and admins) and, in an announcement group, post; and who muted the conversation until when. Both are
 * rare: most conversations hold an empty set and no map.
 */
export class MemberMarks {
  private moderators = new Set<string>();
  /** Only owners and admins may post (the group's `posting` is `admins`). */
  adminsPost = false;
  /** Made on the first mute: most conversations have none. */
  private muted: Map<string, number> | undefined;

  /** Takes the marks of `members` as read from Postgres. */
  load(members: readonly Member[], now: number): void {
    this.moderators = new Set(members.filter((m) => m.role !== MemberRole.MEMBER).map((m) => m.uid));
    this.muted = undefined;
    for (const m of members) this.mute(m.uid, m.mutedUntil, now);
  }

  /** Some members' new roles. */
  setRoles(roles: Record<string, MemberRole>): void {
    for (const [uid, role] of Object.entries(roles)) {
      if (role === MemberRole.MEMBER) this.moderators.delete(uid);
      else this.moderators.add(uid);
    }
  }

  /** `uid` muted the conversation until `until` (epoch ms; not after `now`: no mute). */
  mute(uid: string, until: number, now: number): void {
    if (until > now) (this.muted ??= new Map()).set(uid, until);
    else this.muted?.delete(uid);
  }

  /** A member left. */
  forget(uid: string): void {
    this.moderators.delete(uid);
    this.muted?.delete(uid);
  }

  /** Whether `uid` may post a message of their own (recalls, edits and reactions are not posts). */
  mayPost(uid: string): boolean {
    return !this.adminsPost || this.moderators.has(uid);
  }

  /** Whether `uid`'s role lets them mention all. */
  moderates(uid: string): boolean {
    return this.moderators.has(uid);
  }

  /** Whether any member muted (else the fan-out reads no clock). */
  get anyMuted(): boolean {
    return this.muted !== undefined && this.muted.size > 0;
  }

  /** Until when `uid` muted the conversation (0: not). A field, so it is handed on without a closure per message. */
  readonly mutedUntil = (uid: string): number => this.muted?.get(uid) ?? 0;
}
