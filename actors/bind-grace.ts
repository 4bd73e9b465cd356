/**
 * A member told to take a large conversation's subject (it joined, the conversation was created or became large)
 * also gets its messages through its connector for this long: its sessions take the subject only once the
 * connector has heard (milliseconds, usually), and a message published before that would reach none of them live
 * (the next message's `prev` would show the gap, but a quiet conversation may have no next message for a while).
 * Clients drop the second copy by (conv, seq). Short, because it doubles the work per message: with 5 s, the first
 * trial of the 5,000-member fan-out benchmark delivered 1.47 million frames for 1 million messages.
 */
export const LARGE_BIND_GRACE_MS = 1000;

/** The members of one large conversation still within their bind grace (LARGE_BIND_GRACE_MS), and since when. */
export class BindGrace {
  private readonly since = new Map<string, number>();

  /** `uid` was told to bind at `now`. */
  start(uid: string, now: number): void {
    this.since.set(uid, now);
  }

  /** `uid` left: no grace. */
  end(uid: string): void {
    this.since.delete(uid);
  }

  /** Members still within their grace (undefined when none), forgetting those past it or no longer in `members`. */
  still(members: ReadonlySet<string>): string[] | undefined {
    if (this.since.size === 0) return undefined;
    const cutoff = Date.now() - LARGE_BIND_GRACE_MS;
    let out: string[] | undefined;
    for (const [u, at] of this.since) {
      if (at < cutoff || !members.has(u)) this.since.delete(u);
      else (out ??= []).push(u);
    }
    return out;
  }
}
