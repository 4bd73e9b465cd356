import type { ConvSummary, ConvsFrame } from '../frames.js';

/** Key of the list the server sent unasked (at attach), beside the answers to `sync` (by rid). */
const UNASKED = -1;

/**
 * Puts together a conversation list that came in several `convs` frames (README §5): a frame without `after`
 * starts a list, one with `after` goes on with the list whose last row has that id, and the frame without `more`
 * ends it. A frame that goes on from nothing held (the server started over) is dropped.
 */
export class ListPages {
  private readonly open = new Map<number, { last: string; rows: ConvSummary[]; since: number }>();

  /**
   * The whole list once `f` ends it, with when its first frame came (`since`: what it says is no newer than that);
   * undefined while more is to come, or for a frame that goes on from nothing.
   */
  take(f: ConvsFrame, now = Date.now()): { rows: ConvSummary[]; since: number } | undefined {
    const key = f.rid ?? UNASKED;
    let rows = f.list;
    let since = now;
    if (f.after !== undefined) {
      const held = this.open.get(key);
      this.open.delete(key);
      if (held === undefined || held.last !== f.after) return undefined;
      rows = held.rows.concat(f.list);
      since = held.since;
    } else this.open.delete(key);
    if (f.more !== true) return { rows, since };
    const last = f.list[f.list.length - 1]?.conv;
    if (last !== undefined) this.open.set(key, { last, rows, since });
    return undefined;
  }

  /** Forgets the unfinished answer to `rid` (it failed). */
  drop(rid: number): void {
    this.open.delete(rid);
  }

  /** Forgets every unfinished list: a new connection's server starts its own. */
  clear(): void {
    this.open.clear();
  }
}
