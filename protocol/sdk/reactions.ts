import type { Msg, ReactionCount, Reactions } from '../frames.js';

/** A message's reactions before any: a live message's, or one that history lists without `reactions`. */
export const NO_REACTIONS: Reactions = Object.freeze({ counts: Object.freeze([]) as unknown as ReactionCount[], at: 0 });

/** The reactions of a message as history gave them (none: NO_REACTIONS), to apply later reactions to. */
export function reactionsOf(m: Msg): Reactions {
  return m.reactions ?? NO_REACTIONS;
}

/**
 * A message's reactions after `msg`, a reaction to it, as protocol/README.md §4 React has a client keep them: one
 * user off `msg.was`, one on `msg.body` (none when empty), and `mine` follows `msg.body` when `msg.from` is `me`
 * (the user the app shows). A reaction the counts already include (seq ≤ `at`: a page read after it) changes
 * nothing. Applying a message's reactions in seq order, as the SDK delivers them, on top of the counts history gave
 * (or NO_REACTIONS for a message seen live) ends at what the server holds. Returns `current` itself when nothing changed.
 */
export function applyReaction(current: Reactions, msg: Msg, me: string): Reactions {
  if (msg.react === undefined || msg.seq <= current.at) return current;
  let counts = current.counts;
  if (msg.was !== undefined) counts = counts.map((c) => (c.emoji === msg.was ? { emoji: c.emoji, n: c.n - 1 } : c)).filter((c) => c.n > 0);
  if (msg.body !== '') counts = counts.some((c) => c.emoji === msg.body) ? counts.map((c) => (c.emoji === msg.body ? { emoji: c.emoji, n: c.n + 1 } : c)) : [...counts, { emoji: msg.body, n: 1 }];
  const next: Reactions = { counts, at: msg.seq };
  const mine = msg.from === me ? msg.body : current.mine;
  if (mine !== undefined && mine !== '') next.mine = mine;
  return next;
}
