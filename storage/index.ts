export { connect, type Sql, type DbOptions } from './db.js';
export { ClusterSettingsStore, type ClusterSetting } from './cluster-settings-store.js';
export { migrate, loadMigrations } from './migrate.js';
export type { Fence } from './types.js';
export { toStorageError, guard, bounded, isRetryableStorageError, DEFAULT_STATEMENT_TIMEOUT_MS } from './pg-errors.js';
export { withFence, fenceRow, fencedError, checkFence, type Tx } from './fence.js';
export { SegmentAllocator, type SegmentAllocatorOptions, DEFAULT_SEGMENT_STEP, DEFAULT_PREFETCH_RATIO, DEFAULT_SEGMENT_MIN_MS } from './segment-allocator.js';
export { MessageStore, type NewMessage, type AppendResult, type StoredMessage, type MessageStoreOptions, DEFAULT_MAX_BODY_BYTES } from './message-store.js';
export {
  ConversationStore,
  directConversationId,
  type Conversation,
  type ConversationKind,
  type ConversationStoreOptions,
  type Member,
  type MemberRole,
  type UserConversation,
} from './conversation-store.js';
export { ShardMapStore, type ShardRow, type ShardState } from './shard-map-store.js';
export { NodeStore, type NodeRow, type NodeState } from './node-store.js';
export { LeaseStore } from './lease-store.js';
export { CounterStore } from './counter-store.js';
export { BlockStore, DEFAULT_MAX_BLOCKS } from './block-store.js';
