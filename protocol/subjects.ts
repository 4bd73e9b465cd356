/**
 * NATS subject names, built only here. Ids from users (conversation ids) are escaped so that a subject
 * token never holds `.`, `*`, `>` or whitespace, which NATS would read as structure.
 */

const SAFE_TOKEN = /^[A-Za-z0-9_\-:]+$/;

/** Encodes an arbitrary id as one safe subject token (`~` + hex of UTF-8 bytes when it has unsafe characters). */
export function subjectToken(id: string): string {
  if (id.length > 0 && SAFE_TOKEN.test(id) && !id.startsWith('~')) return id;
  return `~${Buffer.from(id, 'utf8').toString('hex')}`;
}

/** The subject only the owner of shard `shard` of `kind` subscribes to. */
export function shardSubject(kind: string, shard: number): string {
  return `im.${subjectToken(kind)}.${shard}`;
}

/** Control requests for one node (release / acquire / status). */
export function nodeControlSubject(nodeId: string): string {
  return `im.node.${subjectToken(nodeId)}.ctl`;
}

/** Notifications that the shard map changed. */
export function clusterShardsSubject(): string {
  return 'im.cluster.shards';
}

/** Per-conversation fan-out for large groups, subscribed by gateways holding a member's socket. */
export function conversationSubject(convId: string): string {
  return `im.conv.${subjectToken(convId)}`;
}

/** Business events for the app's servers. */
export const EventSubject = {
  online: 'im.events.online',
  offline: 'im.events.offline',
  message: 'im.events.message',
} as const;
export type EventSubject = (typeof EventSubject)[keyof typeof EventSubject];
