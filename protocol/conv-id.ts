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
