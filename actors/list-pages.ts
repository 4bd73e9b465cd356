import type { ConvsPage } from '../protocol/chat-ops.js';
import type { ConvSummary } from '../protocol/frames.js';
import { MAX_LIST_PAGE_BYTES } from '../protocol/limits.js';
import { utf8Length } from '../protocol/validate-fields.js';

/** Bytes a row's keys, numbers and headers take in a frame, at most (its strings are counted apart). */
const ROW_OVERHEAD_BYTES = 320;
/** Bytes of one pin's keys and numbers, at most (its `by` is counted apart). */
const PIN_OVERHEAD_BYTES = 40;
/** A msgpack string's header, at most. */
const STR_HEADER_BYTES = 5;

function strBytes(s: string | undefined): number {
  return s === undefined ? 0 : STR_HEADER_BYTES + utf8Length(s);
}

/** At least how many bytes row `r` takes in a `convs` frame. */
export function listRowBytes(r: ConvSummary): number {
  let n = ROW_OVERHEAD_BYTES + strBytes(r.conv) + strBytes(r.title) + strBytes(r.meta);
  for (const p of r.pins ?? []) n += PIN_OVERHEAD_BYTES + strBytes(p.by);
  return n;
}

/**
 * The part of a user's list a device is given now: all of it, in the list's order, when it fits in `budget` bytes
 * and no `after` is asked; otherwise the rows past conversation id `after` (or from the first) in id order, as many
 * as fit (one at least), with `more` naming the last one when rows remain. Id order, because the list's own order
 * moves with every message: pages cut by position would skip rows that moved up, and a skipped row reads as left.
 */
export function listPage(rows: readonly ConvSummary[], after?: string, budget = MAX_LIST_PAGE_BYTES): ConvsPage {
  if (after === undefined) {
    let total = 0;
    for (const r of rows) if ((total += listRowBytes(r)) > budget) break;
    if (total <= budget) return { list: rows.slice() };
  }
  const sorted = rows.filter((r) => after === undefined || r.conv > after).sort((a, b) => (a.conv < b.conv ? -1 : a.conv > b.conv ? 1 : 0));
  const list: ConvSummary[] = [];
  let bytes = 0;
  for (const r of sorted) {
    const n = listRowBytes(r);
    if (list.length > 0 && bytes + n > budget) break;
    list.push(r);
    bytes += n;
  }
  return list.length < sorted.length ? { list, more: list[list.length - 1]!.conv } : { list };
}
