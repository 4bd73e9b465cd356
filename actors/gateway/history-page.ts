import { MAX_HISTORY_PAGE_BYTES } from '../../protocol/limits.js';
import { packedStrBytes } from '../../protocol/validate-fields.js';
import type { StoredMessage } from '../../storage/message-store.js';

/** Bytes a message's keys, numbers and headers take in a frame, at most (its strings are counted apart). */
const MESSAGE_OVERHEAD_BYTES = 128;
/** A msgpack string's header, at most (ids and emoji are under 64 KiB). */
const STR_HEADER_BYTES = 3;

/** At least how many bytes string `s` takes in a frame: its UTF-8 (ids may be 128 bytes of any script). */
function strBytes(s: string | undefined): number {
  return packedStrBytes(s, STR_HEADER_BYTES);
}

/** About how many bytes message `m` takes in a `history` frame. */
function frameBytes(m: StoredMessage): number {
  let n = MESSAGE_OVERHEAD_BYTES + m.body.byteLength + strBytes(m.convId) + strBytes(m.senderUid) + strBytes(m.senderDid) + strBytes(m.replyUid) + strBytes(m.reactWas);
  const reactions = m.reactions;
  if (reactions !== undefined) {
    n += strBytes(reactions.mine);
    for (const r of reactions.counts) n += strBytes(r.emoji) + 16;
  }
  for (const u of m.mentions ?? []) n += strBytes(u);
  return n;
}

/** Most bytes of one history page under slow-reader limit `limit`: MAX_HISTORY_PAGE_BYTES, or half the limit if less. */
export function historyPageBytes(limit: number): number {
  return Math.min(MAX_HISTORY_PAGE_BYTES, Math.floor(limit / 2));
}

/**
 * The part of a history page that fits in `maxBytes` (MAX_HISTORY_PAGE_BYTES unless the slow-reader limit is
 * lower, historyPageBytes), about how many bytes it takes, and whether that cut it. A page of 200 big
 * messages (with their mentions and reaction counts) could pass the gateway's backpressure limit in one frame, and
 * the session would be closed as a slow reader on every pull of it. An `after` page keeps its oldest messages, a
 * `before` page its newest, so that the next pull goes on from where this one stopped; at least one always stays.
 */
export function fitPage(msgs: StoredMessage[], newestKept: boolean, maxBytes = MAX_HISTORY_PAGE_BYTES): { msgs: StoredMessage[]; bytes: number; cut: boolean } {
  let total = 0;
  const n = msgs.length;
  for (let k = 0; k < n; k++) {
    const bytes = frameBytes(msgs[newestKept ? n - 1 - k : k]!);
    if (total + bytes > maxBytes && k > 0) return { msgs: newestKept ? msgs.slice(n - k) : msgs.slice(0, k), bytes: total, cut: true };
    total += bytes;
  }
  return { msgs, bytes: total, cut: false };
}
