import { encodeEnvelope, type CallReply } from '../../protocol/envelopes.js';
import { ErrorCode } from '../../protocol/errors.js';

/**
 * Encodes a reply batch that fits in `limit` bytes (the server's max_payload). A batch that does not fit could
 * not be sent at all, and every caller in it would wait out its deadline; instead its largest replies are
 * swapped for FRAME_TOO_LARGE errors until it fits, so only the calls whose answers are too big fail, at once.
 */
export function encodeRepliesWithin(replies: CallReply[], notServed: number[] | undefined, limit: number): Uint8Array {
  const encode = (r: CallReply[]): Uint8Array => encodeEnvelope(notServed ? { type: 'replies', replies: r, notServed } : { type: 'replies', replies: r });
  const whole = encode(replies);
  if (whole.byteLength <= limit) return whole;
  const sizes = replies.map((r) => encodeEnvelope({ type: 'replies', replies: [r] }).byteLength);
  const order = replies.map((_, i) => i).sort((a, b) => sizes[b]! - sizes[a]!);
  const out = replies.slice();
  let over = whole.byteLength - limit;
  let bytes = whole;
  let next = 0;
  // Each pass swaps enough of the largest replies to cover the estimated excess, then measures again.
  while (bytes.byteLength > limit && next < order.length) {
    for (; over > 0 && next < order.length; next++) {
      const i = order[next]!;
      out[i] = { id: replies[i]!.id, ok: false, code: ErrorCode.FRAME_TOO_LARGE, message: `the answer (${sizes[i]} bytes) is over the ${limit}-byte message limit` };
      over -= sizes[i]! - 100;
    }
    bytes = encode(out);
    over = bytes.byteLength - limit;
  }
  return bytes;
}
