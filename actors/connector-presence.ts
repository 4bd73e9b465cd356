import { ChatKind, ConnectorOp, type ConnectorPresence, type ConnectorPresenceLost } from '../protocol/chat-ops.js';
import type { ServerFrame } from '../protocol/frames.js';
import type { ActorContext } from '../runtime/actor.js';
import type { ChatServices } from './chat-services.js';
import type { Device } from './connector-device.js';
import type { ConvState } from './conv-state.js';
import { checkUid } from './op-checks.js';

/** What presence needs of a user's connector (connector.actor.ts): functions here, not fields, to keep it small. */
export interface PresenceSide {
  readonly ctx: ActorContext;
  readonly svc: ChatServices;
  readonly devices: readonly Device[];
  readonly convs: ReadonlyMap<string, ConvState>;
  /** Users this one blocks or is blocked by. */
  readonly blocked: ReadonlySet<string> | undefined;
  /** The user has last seen off. */
  readonly lastSeenOff: boolean;
  /** Direct peers online, as their presence told. */
  peersOnline: Set<string> | undefined;
  broadcast(frame: ServerFrame): void;
  readPrivacy(): Promise<void>;
}

/**
 * Business event, presence record and presence to direct-conversation peers (those of the list held, or `peers`)
 * on the first device in / the last device out.
 */
export function announce(u: PresenceSide, did: string, online: boolean, peers?: readonly string[]): void {
  const { ctx, svc } = u;
  const now = Date.now();
  svc.event({ type: online ? 'online' : 'offline', uid: ctx.key, did, node: ctx.nodeId, ts: now });
  // Recorded even when hidden: the business server may read it, and it shows again if the user turns last seen on.
  const presence: ConnectorPresence = online || u.lastSeenOff ? { uid: ctx.key, online } : { uid: ctx.key, online, lastSeen: now };
  if (online) svc.presence.online(ctx.key, did, svc.life, now);
  else svc.presence.offline(ctx.key, now);
  const tell = (peer: string): void => {
    if (!u.blocked?.has(peer)) ctx.tell(ChatKind.CONNECTOR, peer, ConnectorOp.PRESENCE, presence);
  };
  if (peers !== undefined) peers.forEach(tell);
  else for (const c of u.convs.values()) if (c.peer) tell(c.peer);
}

/**
 * A direct peer's presence. One coming online is answered with ours (when we have devices), so both sides'
 * devices learn who is online at once, not only at the next change.
 */
export function peerPresence(u: PresenceSide, p: ConnectorPresence): void {
  const uid = checkUid(p?.uid);
  // Checked where it lands: the sender's connector may not have heard of a block yet.
  if (u.blocked?.has(uid)) return;
  const online = p.online === true;
  if (online) (u.peersOnline ??= new Set()).add(uid);
  else u.peersOnline?.delete(uid);
  if (online && p.answer !== true && u.devices.length > 0) {
    u.ctx.tell(ChatKind.CONNECTOR, uid, ConnectorOp.PRESENCE, { uid: u.ctx.key, online: true, answer: true } satisfies ConnectorPresence);
  }
  const seen = !online && !u.lastSeenOff && typeof p.lastSeen === 'number';
  u.broadcast(seen ? { type: 'presence', uid, online, lastSeen: p.lastSeen } : { type: 'presence', uid, online });
}

/**
 * The node life that announced this user online died (presence-sweep.ts). With a device back, the user is marked
 * online as this node's, so that its death is covered in turn. With none, nobody announced the last one leaving:
 * this connector does, once (whoever takes the row announces), to the direct peers (read for this: the list is
 * not, and the actor stays small until its idle timeout).
 */
export async function presenceLost(u: PresenceSide, p: ConnectorPresenceLost): Promise<void> {
  const { ctx, svc } = u;
  if (u.devices.length > 0) return svc.presence.adopt(ctx.key, p.life, svc.life, u.devices[0]!.did, Date.now());
  // Read before the row is taken: a failed read leaves it for the next sweep, a failure after would lose the offline.
  const [peers] = await Promise.all([svc.presence.directPeers(ctx.key), u.readPrivacy()]);
  const lost = await svc.presence.takeLost(ctx.key, p.life);
  if (lost === undefined || lost.offlineSince) return;
  announce(u, p.did, false, peers);
}
