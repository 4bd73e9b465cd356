import type { ChainState } from './chain-state.js';

/**
 * Conversations the user left whose chains the SDK keeps, should they be added again (a return then delivers nothing
 * twice). One left before these is forgotten: a return starts it as one new to the device. Without a cap an app
 * whose user goes through thousands of groups keeps every one of them.
 */
export const DEFAULT_MAX_LEFT_KEPT = 500;

/** The left conversations kept: at most `max`, the oldest-left forgotten first. */
export class LeftConversations {
  /** In the order they were left (a second leave moves one to the end); one rejoined since is dropped lazily. */
  private readonly kept = new Map<string, ChainState>();

  constructor(
    /** Takes a conversation left too long ago out of the chains, and stops whatever still runs for it. */
    private readonly forget: (s: ChainState) => void,
    private readonly max = DEFAULT_MAX_LEFT_KEPT,
  ) {}

  /** `s` was left (`live`: told by a `left` frame, see ChainState.leftAt): it keeps only what a return needs. */
  leave(s: ChainState, live: boolean): void {
    s.left = true;
    s.leftAt = live ? Date.now() : 0;
    // A return brings these again (`joined` carries them, a list row sets them): kept, a left group's meta (up to
    // 4 KiB) and pins cost memory for nothing. Their live marks go too, or a list would not set them back.
    s.held.clear();
    s.title = s.meta = s.pins = undefined;
    if (s.liveAt !== undefined) s.liveAt.title = s.liveAt.meta = s.liveAt.pins = undefined;
    this.kept.delete(s.conv);
    this.kept.set(s.conv, s);
    if (this.kept.size > this.max) this.trim();
  }

  private trim(): void {
    for (const [conv, s] of this.kept) if (!s.left) this.kept.delete(conv);
    while (this.kept.size > this.max && this.kept.size > 0) {
      // By leftAt: first those a list showed gone (0: left at some time while the device was away, or never the
      // user's, first heard of in a stray `msg`), then the live ones in the order they were left.
      let oldest: ChainState | undefined;
      for (const s of this.kept.values()) if (oldest === undefined || s.leftAt < oldest.leftAt) oldest = s;
      this.kept.delete(oldest!.conv);
      this.forget(oldest!);
    }
  }
}
