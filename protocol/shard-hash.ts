/**
 * The one shard function of the cluster. Every process and the admin CLI must agree on it,
 * so it lives in protocol/ and must never change for an existing cluster.
 */
const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
const encoder = new TextEncoder();

/** 32-bit FNV-1a of the UTF-8 bytes of `key`, with a murmur3 finalizer so nearby keys spread well. */
export function hash32(key: string): number {
  let h = FNV_OFFSET;
  let ascii = true;
  // Hot path (every routed call): ASCII keys hash straight from char codes, with no allocation.
  for (let i = 0; i < key.length; i++) {
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
    const bytes = encoder.encode(key);
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

/** The shard of an actor key among `shardCount` shards. */
export function shardOf(key: string, shardCount: number): number {
  return hash32(key) % shardCount;
}
