/**
 * The one shard function of the cluster. Every process and the admin CLI must agree on it,
 * so it lives in protocol/ and must never change for an existing cluster.
 */
const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
const encoder = new TextEncoder();

/** 32-bit FNV-1a of the UTF-8 bytes of `key` (or of its characters `start` to `end`), with a murmur3 finalizer so nearby keys spread well. */
export function hash32(key: string, start = 0, end = key.length): number {
  let h = FNV_OFFSET;
  let ascii = true;
  // Hot path (every routed call): ASCII keys hash straight from char codes, with no allocation.
  for (let i = start; i < end; i++) {
    const c = key.charCodeAt(i);
    if (c > 0x7f) {
      ascii = false;
      break;
    }
    h ^= c;
    h = Math.imul(h, FNV_PRIME);
  }
  if (!ascii) {
    h = FNV_OFFSET;
    const bytes = encoder.encode(start === 0 && end === key.length ? key : key.slice(start, end));
    for (let i = 0; i < bytes.length; i++) {
      h ^= bytes[i]!;
      h = Math.imul(h, FNV_PRIME);
    }
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Where in an actor key its shard is hashed from: the whole key, except for a direct conversation
 * (`d:<length of a>:<a>:<b>`, a < b; see conv-id.ts), which hashes as its first member's user id. Placement puts shard s of
 * every kind on the same node, so the conversation's chatter runs where that member's connector — and, through
 * the dispatcher, their socket — is: a direct message then crosses NATS for the other member only.
 */
function shardKeyRange(key: string): [number, number] {
  if (key.charCodeAt(0) !== 100 /* d */ || key.charCodeAt(1) !== 58 /* : */) return [0, key.length];
  const colon = key.indexOf(':', 2);
  if (colon < 3 || colon > 6) return [0, key.length];
  const len = Number(key.slice(2, colon));
  const end = colon + 1 + len;
  // Anything not in exactly that shape (hashed long pairs, `d:#…`) is hashed whole.
  if (!Number.isSafeInteger(len) || len < 1 || key.charCodeAt(end) !== 58 || end + 1 >= key.length) return [0, key.length];
  return [colon + 1, end];
}

/** The part of `key` its shard is hashed from (the first member of a direct conversation, else the key). */
export function shardKey(key: string): string {
  const [start, end] = shardKeyRange(key);
  return key.slice(start, end);
}

/** The shard of an actor key among `shardCount` shards. */
export function shardOf(key: string, shardCount: number): number {
  if (key.charCodeAt(0) !== 100 /* d */) return hash32(key) % shardCount;
  const [start, end] = shardKeyRange(key);
  return hash32(key, start, end) % shardCount;
}

/** Keys of every shape `shardOf` treats apart (plain, non-ASCII, direct conversations well- and ill-formed). */
const FINGERPRINT_KEYS = ['', 'a', 'alice', 'g:team-42', 'ünïcødé', 'd:5:alice:bob', 'd:3:bob:carol', 'd:#0123abcd', 'd:9:a:b'];

/**
 * What this build's shard function makes of a fixed set of keys. A cluster records it once; a node whose
 * function differs (another version, after a change to `shardOf`) would route keys to other shards than its
 * peers, so it is refused at start.
 */
export function shardFunctionFingerprint(): string {
  return FINGERPRINT_KEYS.map((k) => shardOf(k, 0x7fffffff).toString(36)).join('.');
}
