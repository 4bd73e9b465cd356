import { ChatKind, ConnectorOp, type ConnectorReceipt } from '../protocol/chat-ops.js';
import type { ServerFrame } from '../protocol/frames.js';
import type { ActorContext } from '../runtime/actor.js';
import type { ChatServices } from './chat-services.js';
import type { Device } from './connector-device.js';
import { directPeerOf, type ConvState } from './conv-state.js';
import type { DeliveryReceipts } from './delivery-receipts.js';

/** What a read mark needs of a user's connector (connector.actor.ts). */
export interface ReaderSide {
  readonly ctx: ActorContext;
  readonly svc: ChatServices;
  readonly devices: readonly Device[];
  readonly convs: ReadonlyMap<string, ConvState>;
  /** The user has read receipts off: sends none. */
  readonly receiptsOff: boolean;
  /** The delivery marks on their way to Postgres and the direct peers. */
  delivery(): DeliveryReceipts;
}

/**
 * A device's read mark: stored, echoed to every device with the exact unread count, told to the business server
 * and, in a direct conversation, to the other member as a receipt. Answers the mark now stored.
 */
export async function markRead(u: ReaderSide, p: { did: string; conv: string; seq: number }): Promise<{ seq: number }> {
  const key = u.ctx.key;
  const mark = await u.svc.convs.setReadMark(key, p.conv, p.seq, u.ctx.fence);
  const c = u.convs.get(p.conv);
  const advanced = c === undefined || mark.readSeq > c.readSeq;
  if (c) {
    c.readSeq = Math.max(c.readSeq, mark.readSeq);
    c.unread = mark.unread;
    // What a device read, it holds: a client that reads without acking still shows as delivered.
    u.delivery().moved(p.conv, mark.readSeq, c);
  }
  // Every device, the reader too: a mark below the last message leaves an unread count only Postgres knows.
  const echo: ServerFrame = { type: 'read', conv: p.conv, seq: mark.readSeq, unread: mark.unread, lastSeq: mark.lastSeq, mentions: mark.mentions };
  for (const dev of u.devices) u.svc.push(dev.gw, dev.sid, key, [echo]);
  if (!advanced) return { seq: mark.readSeq };
  u.svc.event({ type: 'read', uid: key, did: p.did, conv: p.conv, seq: mark.readSeq, unread: mark.unread, ts: Date.now() });
  // A direct conversation's other member sees it was read (a receipt; their list carries it as `peerRead` too).
  // Not with read receipts off; and one to a peer who has them off is dropped where it lands.
  const peer = u.receiptsOff ? undefined : await directPeerOf(u.svc.convs, key, p.conv, c);
  if (peer !== undefined) u.ctx.tell(ChatKind.CONNECTOR, peer, ConnectorOp.RECEIPT, { conv: p.conv, uid: key, seq: mark.readSeq } satisfies ConnectorReceipt);
  return { seq: mark.readSeq };
}
