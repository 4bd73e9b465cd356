import { ChatKind, ConnectorOp, type ConnectorPresence, type ConnectorPresenceLost } from '../protocol/chat-ops.js';
import type { ServerFrame } from '../protocol/frames.js';
import type { ActorContext } from '../runtime/actor.js';
import type { ChatServices } from './chat-services.js';
import type { Device } from './connector-device.js';
import { directPeerOf, type ConvState } from './conv-state.js';
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
  const online = p.online === true;
  // Forgotten even across a block: a later device of ours is told whoever is in the set.
  if (!online) u.peersOnline?.delete(uid);
  // Checked where it lands: the sender's connector may not have heard of a block yet.
  if (u.blocked?.has(uid)) return;
  // Both sides greet each other when a direct conversation is made or a block lifted: the second greeting (and its
  // answer) tells the devices nothing new.
  const known = online && u.peersOnline?.has(uid) === true;
  if (online) (u.peersOnline ??= new Set()).add(uid);
  if (online && p.answer !== true && u.devices.length > 0) {
    u.ctx.tell(ChatKind.CONNECTOR, uid, ConnectorOp.PRESENCE, { uid: u.ctx.key, online: true, answer: true } satisfies ConnectorPresence);
  }
  if (known) return;
  const seen = !online && !u.lastSeenOff && typeof p.lastSeen === 'number';
  u.broadcast(seen ? { type: 'presence', uid, online, lastSeen: p.lastSeen } : { type: 'presence', uid, online });
}

/**
 * A device attached: the first makes the user online; a later new one is told which peers are, as the answers to
 * the first one's announcement said.
 */
export function deviceCame(u: PresenceSide, did: string, first: boolean): void {
  if (first) {
    // Rebuilt from the answers our coming online draws: a peer that went offline while we slept sent us nothing.
    u.peersOnline = undefined;
    return announce(u, did, true);
  }
  const dev = u.devices.find((d) => d.did === did)!;
  for (const uid of u.peersOnline ?? []) u.svc.push(dev.gw, dev.sid, u.ctx.key, [{ type: 'presence', uid, online: true }]);
}

/**
 * Tells a peer who was not told we are online (presence goes out only as the first device comes and the last
 * leaves): the other member of a direct conversation just made, while we have devices. Its answer tells ours.
 */
function greet(u: PresenceSide, peer: string | undefined): void {
  if (peer === undefined || u.devices.length === 0 || u.blocked?.has(peer)) return;
  u.ctx.tell(ChatKind.CONNECTOR, peer, ConnectorOp.PRESENCE, { uid: u.ctx.key, online: true } satisfies ConnectorPresence);
}

/** We were let into direct conversation `conv` (state `c`): its other member and we learn of each other's presence. */
export function greetNewPeer(u: PresenceSide, conv: string, c: ConvState | undefined): void | Promise<void> {
  if (u.devices.length === 0) return;
  // A hashed id does not name its members: Postgres does (a failed read: no greeting; the next coming online tells).
  const peer = c?.peer;
  return peer !== undefined ? greet(u, peer) : directPeerOf(u.svc.convs, u.ctx.key, conv, c).then((p) => greet(u, p), () => undefined);
}

/**
 * The user's blocks or settings changed. Peers newly blocked either way are offline to our devices from now on
 * (and a later device is not told otherwise); peers unblocked are greeted, as neither side told the other of its
 * presence across the block.
 */
export async function privacyChanged(u: PresenceSide): Promise<void> {
  const before = u.blocked;
  await u.readPrivacy();
  for (const uid of u.blocked ?? []) {
    if (before?.has(uid) || u.peersOnline?.delete(uid) !== true) continue;
    u.broadcast({ type: 'presence', uid, online: false });
  }
  if (before === undefined || u.devices.length === 0) return;
  const peers = new Set<string>();
  for (const c of u.convs.values()) if (c.peer !== undefined && before.has(c.peer) && !u.blocked?.has(c.peer)) peers.add(c.peer);
  for (const peer of peers) greet(u, peer);
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
