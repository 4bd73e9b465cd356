/**
 * NATS subject names, built only here. An id becomes one subject token through {@link subjectToken}: NATS
 * reads `.` as a separator, `*` and `>` as wildcards and whitespace as the end of the subject, so ids holding
 * any of those (or anything unusual) are escaped, reversibly and without collisions.
 */

/** Root of every subject of the cluster. */
export const SUBJECT_ROOT = 'im';

// Characters that pass unescaped. `~` is excluded: it marks an escaped token.
const SAFE_TOKEN = /^[A-Za-z0-9_\-:]+$/;
const HEX = '0123456789abcdef';
const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

/** Encodes an id as one safe token: itself when it only has `[A-Za-z0-9_-:]`, else `~` + hex of its UTF-8. */
export function subjectToken(id: string): string {
  if (SAFE_TOKEN.test(id)) return id;
  const bytes = utf8.encode(id);
  let out = '~';
  for (let i = 0; i < bytes.length; i++) out += HEX[bytes[i]! >> 4]! + HEX[bytes[i]! & 15]!;
  return out;
}

/** The id a token stands for, or undefined when the token is not one {@link subjectToken} makes. */
export function parseSubjectToken(token: string): string | undefined {
  if (SAFE_TOKEN.test(token)) return token;
  if (token[0] !== '~' || token.length % 2 === 0 || !/^~[0-9a-f]*$/.test(token)) return undefined;
  const bytes = new Uint8Array((token.length - 1) / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(token.slice(1 + 2 * i, 3 + 2 * i), 16);
  try {
    const id = utf8Decoder.decode(bytes);
    return subjectToken(id) === token ? id : undefined; // one id, one token
  } catch {
    return undefined;
  }
}

// Shard subjects are built for every routed call: cache them per kind (kinds are few, shard counts fixed).
const shardSubjects = new Map<string, string[]>();

/** The subject only the owner of shard `shard` of `kind` subscribes to: `im.<kind>.<shard>`. */
export function shardSubject(kind: string, shard: number): string {
  let byShard = shardSubjects.get(kind);
  if (byShard === undefined) {
    byShard = [];
    shardSubjects.set(kind, byShard);
  }
  const cached = byShard[shard];
  if (cached !== undefined) return cached;
  if (!Number.isSafeInteger(shard) || shard < 0) throw new RangeError(`shard must be an integer ≥ 0, got ${shard}`);
  const subject = `${SUBJECT_ROOT}.${subjectToken(kind)}.${shard}`;
  if (shard < 1 << 16) byShard[shard] = subject;
  return subject;
}

/** Every shard subject of `kind` (`im.<kind>.*`), for monitoring taps. */
export function shardWildcard(kind: string): string {
  return `${SUBJECT_ROOT}.${subjectToken(kind)}.*`;
}

/** Control requests for one node (release / acquire / status): `im.node.<nodeId>.ctl`. */
export function nodeControlSubject(nodeId: string): string {
  return `${SUBJECT_ROOT}.node.${subjectToken(nodeId)}.ctl`;
}

/** Pushes to the client sessions one gateway node holds: `im.gw.<nodeId>`. */
export function gatewaySubject(nodeId: string): string {
  return `${SUBJECT_ROOT}.gw.${subjectToken(nodeId)}`;
}

/** Shard-map change notifications: `im.cluster.shards`. */
export function clusterShardsSubject(): string {
  return `${SUBJECT_ROOT}.cluster.shards`;
}

/** "This node serves these shards now" (every start of service, and again after its NATS reconnect): `im.cluster.served`. */
export function clusterServedSubject(): string {
  return `${SUBJECT_ROOT}.cluster.served`;
}

/** Token revocations every gateway applies at once: `im.cluster.revocations`. */
export function clusterRevocationsSubject(): string {
  return `${SUBJECT_ROOT}.cluster.revocations`;
}

/** Sign-outs every gateway applies to the sessions it holds (SessionsSignedOut): `im.cluster.sign-outs`. */
export function clusterSignOutsSubject(): string {
  return `${SUBJECT_ROOT}.cluster.sign-outs`;
}

/** "A cluster setting changed: re-read them" (from `imctl settings set`): `im.cluster.settings`. */
export function clusterSettingsSubject(): string {
  return `${SUBJECT_ROOT}.cluster.settings`;
}

/** Per-conversation fan-out for large groups, subscribed by gateways holding a member's socket: `im.conv.<conv>`. */
export function conversationSubject(convId: string): string {
  return `${SUBJECT_ROOT}.conv.${subjectToken(convId)}`;
}

const CONV_PREFIX = `${SUBJECT_ROOT}.conv.`;

/** The conversation id of an `im.conv.<conv>` subject, or undefined for any other subject. */
export function parseConversationSubject(subject: string): string | undefined {
  if (!subject.startsWith(CONV_PREFIX)) return undefined;
  const token = subject.slice(CONV_PREFIX.length);
  return token.includes('.') ? undefined : parseSubjectToken(token);
}

/** Business events for the app's servers (`im.events.*`). */
export const EventSubject = {
  ONLINE: `${SUBJECT_ROOT}.events.online`,
  OFFLINE: `${SUBJECT_ROOT}.events.offline`,
  MESSAGE: `${SUBJECT_ROOT}.events.message`,
  READ: `${SUBJECT_ROOT}.events.read`,
  PUSH: `${SUBJECT_ROOT}.events.push`,
  MEMBERS: `${SUBJECT_ROOT}.events.members`,
  REPORT: `${SUBJECT_ROOT}.events.report`,
} as const;
export type EventSubject = (typeof EventSubject)[keyof typeof EventSubject];

/** Every business event (`im.events.>`), for a business server that wants them all. */
export const EVENTS_WILDCARD = `${SUBJECT_ROOT}.events.>`;
