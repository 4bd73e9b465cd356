import { ConnectorOp, type DevicesReply } from '../protocol/chat-ops.js';
import type { ActorKind } from '../runtime/actor.js';
import type { ChatServices } from './chat-services.js';
import { checkPushNotice } from './op-checks.js';
import { pushEventOf } from './push-event.js';

/**
 * Tells that only matter to a user's online devices. A sleeping connector has none, and what they would change of
 * its state is read again from Postgres when a device attaches; so they are dropped rather than wake it. Without
 * this, every message to a group woke the connector of every offline member, and a user coming online woke every
 * direct peer's (presence), each to stay in memory until its idle timeout.
 */
const DEVICE_ONLY_OPS: ReadonlySet<string> = new Set([ConnectorOp.DELIVER, ConnectorOp.PUSH, ConnectorOp.NOTIFY, ConnectorOp.PRESENCE, ConnectorOp.RECEIPT, ConnectorOp.DELIVERED, ConnectorOp.ACK, ConnectorOp.JOINED, ConnectorOp.LEFT, ConnectorOp.PRIVACY, ConnectorOp.GATEWAY_GONE]);

/**
 * How a sleeping connector (one with no device attached: a connector stays live while any is, `holdsLiveState`)
 * answers without waking: it has no devices; a delivery or push notice raises the push event; a device-only tell
 * is dropped; anything else wakes it.
 */
export function sleepingConnectorAnswer(svc: ChatServices): NonNullable<ActorKind['idleAnswer']> {
  return (op: string, payload: unknown, uid: string): unknown => {
    if (op === ConnectorOp.DEVICES) return { devices: [] } satisfies DevicesReply;
    if (op === ConnectorOp.DELIVER) pushEventOf(svc, uid, payload);
    if (op === ConnectorOp.PUSH) pushEventOf(svc, uid, payload, checkPushNotice);
    return DEVICE_ONLY_OPS.has(op) ? null : undefined;
  };
}
