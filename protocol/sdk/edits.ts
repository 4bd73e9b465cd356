import type { Msg } from '../frames.js';

/**
 * Message `shown` after `edit`, an edit of it, as protocol/README.md §4 Edit has a client show it: the edit's body,
 * marked `edited` with its seq — unless `shown` has that edit or a later one already (a history page brings the
 * message with its newest text, and older edits after it when scrolling back), was recalled (its text is gone) or is
 * a stub of one the user hid ("delete for me": protocol/README.md has a client ignore edits of those). Returns
 * `shown` itself when nothing changes.
 */
export function applyEdit(shown: Msg, edit: Msg): Msg {
  if (edit.edit !== shown.seq || shown.recalled !== undefined || shown.hidden === true || (shown.edited ?? 0) >= edit.seq) return shown;
  return { ...shown, body: edit.body, edited: edit.seq };
}
