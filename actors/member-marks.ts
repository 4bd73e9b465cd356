import { ErrorCode, ImError, rateLimited } from '../protocol/errors.js';
import { MemberRole } from '../protocol/frames.js';
import type { Member } from '../storage/conversation-store.js';
import type { Amendment } from './amendment.js';
import { DEFAULT_RECENT_FANOUT_MS } from './recent-fanout.js';

/** Posters the slow mode remembers before it sweeps out those whose wait is over. */
const SLOW_MODE_PRUNE_AT = 1024;
/** How long after a join a replayed fan-out may still be from before it: RecentFanout holds one up to 1.5 windows. */
const NEWCOMER_REPLAY_GUARD_MS = 2 * DEFAULT_RECENT_FANOUT_MS;

/**
 * What a conversation's chatter keeps of its members besides who they are: whose role lets them mention all
 * (owners and admins) and, in an announcement group, post; who muted the conversation until when; whom the
 * business server silenced until when; and, in slow mode, when each member last posted. All are rare: most
 * conversations hold an empty set and no maps.
 */
export class MemberMarks {
  private moderators = new Set<string>();
  /** Only owners and admins may post (the group's `posting` is `admins`). */
  adminsPost = false;
  /** Made on the first mute: most conversations have none. */
  private muted: Map<string, number> | undefined;
  /** Made on the first silence, as `muted`. */
  private silenced: Map<string, number> | undefined;
  /** A group's slow mode, seconds (0: off): a plain member posts once per that long. */
  private slowSec = 0;
  /** When each plain member last posted, while in slow mode (a chatter taking over reads them back: restorePosts). */
  private lastPost: Map<string, number> | undefined;
  /** Newcomers whose history starts past a seq, while a fan-out from before their join may be replayed (hideUpTo). */
  private newcomers: Map<string, { upTo: number; until: number }> | undefined;
  /**
   * Members whose history starts past a seq (members.cleared_seq: a `joined` group's newcomers; their own clears as
   * read at load, as those do not come through here): an edit of a message at or below it must not bring its text.
   */
  private floors: Map<string, number> | undefined;

  /** Takes the marks of `members` as read from Postgres. */
  load(members: readonly Member[], now: number): void {
    this.moderators = new Set(members.filter((m) => m.role !== MemberRole.MEMBER).map((m) => m.uid));
    this.muted = this.silenced = this.floors = undefined;
    for (const m of members) {
      this.mute(m.uid, m.mutedUntil, now);
      this.silence(m.uid, m.silencedUntil, now);
      if (m.clearedSeq > 0) (this.floors ??= new Map()).set(m.uid, m.clearedSeq);
    }
  }

  /** Some members' new roles; owners and admins are never silenced (the store lifted their silence). */
  setRoles(roles: Record<string, MemberRole>): void {
    for (const [uid, role] of Object.entries(roles)) {
      if (role === MemberRole.MEMBER) this.moderators.delete(uid);
      else {
        this.moderators.add(uid);
        this.silenced?.delete(uid);
      }
    }
  }

  /** `uid` muted the conversation until `until` (epoch ms; not after `now`: no mute). */
  mute(uid: string, until: number, now: number): void {
    if (until > now) (this.muted ??= new Map()).set(uid, until);
    else this.muted?.delete(uid);
  }

  /** The business server silenced `uid` until `until` (epoch ms; not after `now`: lifted). */
  silence(uid: string, until: number, now: number): void {
    if (until > now) (this.silenced ??= new Map()).set(uid, until);
    else this.silenced?.delete(uid);
  }

  /** A member left. */
  forget(uid: string): void {
    this.moderators.delete(uid);
    this.muted?.delete(uid);
    this.silenced?.delete(uid);
    this.lastPost?.delete(uid);
    this.newcomers?.delete(uid);
    this.floors?.delete(uid);
  }

  /**
   * `uid` joined at `now` with a history that starts past `upTo` (their clear): for as long as a fan-out from before
   * may be replayed (RecentFanout replays to the members at the time of the replay), the replay leaves them out.
   */
  hideUpTo(uid: string, upTo: number, now: number): void {
    const m = (this.newcomers ??= new Map());
    // Oldest first (a re-entry moves to the end), so the lapsed ones are at the front.
    for (const [u, h] of m) {
      if (h.until > now) break;
      m.delete(u);
    }
    m.delete(uid);
    m.set(uid, { upTo, until: now + NEWCOMER_REPLAY_GUARD_MS });
    (this.floors ??= new Map()).set(uid, upTo);
  }

  /** Whether message `seq` is at or below where the history of `uid` starts (see `floors`). */
  beforeHistoryOf(uid: string, seq: number): boolean {
    return this.floors !== undefined && (this.floors.get(uid) ?? 0) >= seq;
  }

  /** Whether message `seq` came before the history of `uid`, a newcomer (see hideUpTo). */
  hides(uid: string, seq: number, now: number): boolean {
    const h = this.newcomers?.get(uid);
    if (h === undefined) return false;
    if (h.until > now) return seq <= h.upTo;
    this.newcomers!.delete(uid);
    if (this.newcomers!.size === 0) this.newcomers = undefined;
    return false;
  }

  /** Whether any newcomer's history is still guarded against replays (else a replay reads no clock for it). */
  get anyNewcomers(): boolean {
    return this.newcomers !== undefined;
  }

  /** The group's slow mode, seconds (0: off). */
  get slowMode(): number {
    return this.slowSec;
  }

  /** The group's slow mode changed (seconds; 0: off, and what it remembered goes). */
  set slowMode(sec: number) {
    this.slowSec = sec;
    if (sec === 0) this.lastPost = undefined;
  }

  /** The members' last posts as read back from Postgres (see MessageStore.lastPostsSince), for a chatter taking over. */
  restorePosts(posts: Map<string, number>): void {
    this.lastPost = posts.size > 0 ? posts : undefined;
  }

  /**
   * Refuses what `uid` would send to `conv` now, as `amends` makes it (undefined: a message of their own). Owners and
   * admins may send anything. FORBIDDEN: in an announcement group nobody else posts (reactions, and recalls and edits
   * of what they posted, are not posts); a silenced member may only recall. RATE_LIMITED, with the wait: in slow mode,
   * a post within the slow mode's seconds of the member's last one (see `posted`).
   */
  check(uid: string, amends: Amendment['kind'] | undefined, now: number, conv: string): void {
    const why = this.forbidden(uid, amends, now);
    if (why !== undefined) throw new ImError(ErrorCode.FORBIDDEN, `${why} in ${conv}`);
    if (amends !== undefined || this.slowSec === 0 || this.moderators.has(uid)) return;
    const wait = (this.lastPost?.get(uid) ?? -Infinity) + this.slowSec * 1000 - now;
    if (wait > 0) throw rateLimited(`slow mode in ${conv}: ${uid} may post once every ${this.slowSec} s`, wait);
  }

  /** `uid` posted a message of their own at `now`, past every check: the slow mode counts from it. */
  posted(uid: string, now: number): void {
    if (this.slowSec === 0 || this.moderators.has(uid)) return;
    const last = (this.lastPost ??= new Map());
    if (last.size >= SLOW_MODE_PRUNE_AT) for (const [u, t] of last) if (t + this.slowSec * 1000 <= now) last.delete(u);
    last.set(uid, now);
  }

  /** Whether `uid` may post a message of their own now, the slow mode aside (their typing is passed on only then). */
  mayPost(uid: string, now: number): boolean {
    return this.forbidden(uid, undefined, now) === undefined;
  }

  /** Why `uid` may not send now what `amends` makes of it, or undefined when they may (see `check`). */
  private forbidden(uid: string, amends: Amendment['kind'] | undefined, now: number): string | undefined {
    if (this.moderators.has(uid)) return undefined;
    if (amends === undefined && this.adminsPost) return 'only owners and admins post';
    const until = this.silenced?.get(uid);
    if (until === undefined || amends === 'recall') return undefined;
    if (until > now) return `${uid} is silenced until ${new Date(until).toISOString()}`;
    this.silenced!.delete(uid);
    return undefined;
  }

  /** Whether `uid`'s role lets them mention all. */
  moderates(uid: string): boolean {
    return this.moderators.has(uid);
  }

  /**
   * Whether sends are checked member by member (the chatter's slow path takes them): an announcement group, slow
   * mode, or a member silenced (or who was, till a send found it over).
   */
  get restricted(): boolean {
    return this.adminsPost || this.slowSec > 0 || (this.silenced !== undefined && this.silenced.size > 0);
  }

  /** Whether any member muted (else the fan-out reads no clock). */
  get anyMuted(): boolean {
    return this.muted !== undefined && this.muted.size > 0;
  }

  /** Until when the business server silenced `uid` (0: not, as far as this chatter knows; it may be over). */
  silencedUntil(uid: string): number {
    return this.silenced?.get(uid) ?? 0;
  }

  /** Until when `uid` muted the conversation (0: not). A field, so it is handed on without a closure per message. */
  readonly mutedUntil = (uid: string): number => this.muted?.get(uid) ?? 0;
}
