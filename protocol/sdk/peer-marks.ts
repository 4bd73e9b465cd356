import { directPeer } from '../conv-id.js';
import type { ChainState } from './chain-state.js';

/** Applies the other member's read (`receipt`) or delivery (`delivered`) receipt; true when it moved that mark forward. */
export function applyReceipt(s: ChainState, seq: number, kind: 'receipt' | 'delivered'): boolean {
  if (seq <= (kind === 'receipt' ? s.peerRead : s.peerDelivered)) return false;
  // What was read was delivered.
  s.peerDelivered = Math.max(s.peerDelivered, seq);
  if (kind === 'receipt') s.peerRead = seq;
  return true;
}

/**
 * `peer`, the other member of some of `uid`'s direct conversations, went offline at `lastSeen`, or without a time
 * (hidden: either side has last seen off): those conversations' `peerLastSeen` (a hashed id names nobody: none).
 */
export function applyPeerLeft(states: Iterable<ChainState>, uid: string, peer: string, lastSeen: number | undefined): void {
  for (const s of states) {
    if (s.kind !== 'direct' || directPeer(s.conv, uid) !== peer) continue;
    s.peerLastSeen = lastSeen === undefined ? undefined : Math.max(s.peerLastSeen ?? 0, lastSeen);
  }
}
