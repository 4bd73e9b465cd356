/**
 * Conversation ids. A direct conversation's id is derived from its two members, `d:<length of a>:<a>:<b>` with
 * a < b (built by the conversation store; a pair too long for that is `d:#<sha-256>`), and lives in a namespace no
 * group id may use. The shard function reads the first member back out of it (`shard-hash.ts`).
 */
export const DIRECT_CONV_PREFIX = 'd:';

/** True for the id of a direct (two-member) conversation. */
export function isDirectConvId(conv: string): boolean {
  return conv.startsWith(DIRECT_CONV_PREFIX);
}

/**
 * The member of direct conversation `conv` who is not `uid`, read from the id; undefined for other ids, for a
 * `uid` that is not a member, and for hashed ids (`d:#…`), which do not name their members.
 */
export function directPeer(conv: string, uid: string): string | undefined {
  if (!isDirectConvId(conv)) return undefined;
  const colon = conv.indexOf(':', DIRECT_CONV_PREFIX.length);
  const len = Number(conv.slice(DIRECT_CONV_PREFIX.length, colon));
  if (colon < 0 || !Number.isSafeInteger(len) || len < 1) return undefined;
  const end = colon + 1 + len;
  if (conv.charAt(end) !== ':' || end + 1 >= conv.length) return undefined;
  const a = conv.slice(colon + 1, end);
  const b = conv.slice(end + 1);
  return uid === a ? b : uid === b ? a : undefined;
}
