import type { AttachReply, ConvsPage } from '../protocol/chat-ops.js';
import type { ConvSummary } from '../protocol/frames.js';
import { MAX_LIST_PAGE_BYTES } from '../protocol/limits.js';
import { packedStrBytes } from '../protocol/validate-fields.js';

/** Bytes a row's keys, numbers and headers take in a frame, at most (its strings are counted apart). */
const ROW_OVERHEAD_BYTES = 320;
/** Bytes of one pin's keys and numbers, at most (its `by` is counted apart). */
const PIN_OVERHEAD_BYTES = 40;
/** A msgpack string's header, at most. */
const STR_HEADER_BYTES = 5;

const strBytes = (s: string | undefined): number => packedStrBytes(s, STR_HEADER_BYTES);

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

/** How long a list being sent in pages is held for its next page: past it, the next page reads the list again. */
export const PAGED_LIST_TTL_MS = 60_000;

/**
 * The lists a connector is sending in pages, per device: the rows as read for the first page, so that every page
 * comes from one read (none skipped or repeated by a change between pages) and costs no read of its own.
 */
export class PagedLists {
  private readonly held = new Map<string, { rows: readonly ConvSummary[]; at: number }>();

  /** The first page of `rows` for device `did`: all of them when no pages are asked or they fit; the rest is held. */
  first(did: string, rows: readonly ConvSummary[], pageBytes: number, now = Date.now()): ConvsPage {
    const page = listPage(rows, undefined, pageBytes);
    if (page.more === undefined) this.held.delete(did);
    else this.held.set(did, { rows, at: now });
    return page;
  }

  /** The page past `after` of the list held for `did`; undefined when none is held (gone, or held too long). */
  next(did: string, after: string, pageBytes: number, now = Date.now()): ConvsPage | undefined {
    const h = this.held.get(did);
    if (h === undefined || now - h.at > PAGED_LIST_TTL_MS) {
      this.held.delete(did);
      return undefined;
    }
    const page = listPage(h.rows, after, pageBytes);
    if (page.more === undefined) this.held.delete(did);
    return page;
  }

  /** Drops what is held for `did` (its session left). */
  forget(did: string): void {
    this.held.delete(did);
  }
}

/**
 * The attach answer for device `did`: its list (the first page, when it takes pages of `pageBytes`), the large
 * groups, and what the list says of each (`largeLast`), for the gateway's bindings, made before later pages go.
 */
export function attachReply(did: string, rows: ConvSummary[], large: string[], pageBytes: number | undefined, paged: PagedLists): AttachReply {
  const reply: AttachReply = { convs: rows, large };
  if (large.length > 0) {
    const listed = new Map(rows.map((r) => [r.conv, r.lastSeq]));
    reply.largeLast = large.map((conv) => listed.get(conv) ?? 0);
  }
  if (pageBytes === undefined) return reply;
  const page = paged.first(did, rows, pageBytes);
  reply.convs = page.list;
  if (page.more !== undefined) reply.more = page.more;
  return reply;
}
