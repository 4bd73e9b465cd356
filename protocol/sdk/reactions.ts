import type { Msg, Reaction } from '../frames.js';

/**
 * A message's reactions after `msg`, a reaction to it (`msg.react` = its seq), as protocol/README.md §4 React has a
 * client keep them: one per user, the one made by the highest seq; an empty body takes the user's back. A reaction
 * no newer than the one kept for its user (a history page read after it already lists it) changes nothing.
 * Applying the conversation's reactions in seq order, as the SDK delivers messages, on top of any page's list ends
 * at what the server holds (on the way, one older than the page may show for a moment: its user's later change
 * follows). Returns `current` itself when nothing changed, else a new array in the order the reactions were made.
 */
export function applyReaction(current: readonly Reaction[], msg: Msg): readonly Reaction[] {
  if (msg.react === undefined) return current;
  const had = current.find((r) => r.uid === msg.from);
  if (had !== undefined && had.seq >= msg.seq) return current;
  const others = current.filter((r) => r.uid !== msg.from);
  if (msg.body === '') return had === undefined ? current : others;
  return [...others, { uid: msg.from, emoji: msg.body, seq: msg.seq }].sort((a, b) => a.seq - b.seq);
}
