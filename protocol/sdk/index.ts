// What an app receives and compares against: frames, errors and close codes (none of them imports Node code; the
// protocol's index adds the server's token code, which a browser bundle cannot take).
export * from '../errors.js';
export * from '../frames.js';
export * from '../close-codes.js';
export * from './client.js';
export * from './client-types.js';
export * from './close-policy.js';
export * from './backoff.js';
export * from './outbound-queue.js';
export * from './send-entry.js';
export * from './conversation-chain.js';
export { DEFAULT_MAX_LEFT_KEPT } from './left-conversations.js';
export * from './events.js';
export * from './socket.js';
export * from './endpoint-list.js';
export * from './heartbeat.js';
export * from './pending-requests.js';
export * from './outbox.js';
export * from './reactions.js';
export * from './edits.js';
