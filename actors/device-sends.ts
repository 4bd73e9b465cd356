import type { ChatterSend, SendReply } from '../protocol/chat-ops.js';
import { ErrorCode, ImError } from '../protocol/errors.js';
import { LaterReply } from '../runtime/actor.js';
import type { StoredMessage } from '../storage/message-store.js';

/** Recent sends remembered per device, so a re-send of one of them is answered without Postgres. */
export const RECENT_PER_DEVICE = 256;
/**
 * Sets a device's share of the recent sends a conversation remembers: it shrinks as more devices send there (down to
 * MIN_RECENT_PER_DEVICE), or a busy group's chatter would keep 4096 × 256 replies (~1M, ~100 MB). A device is trimmed
 * when it sends, so those that sent while there were fewer keep more: ~250k at most (65,536 × (1 + ln 16)). A
 * re-send past its device's window is answered from Postgres.
 */
export const RECENT_PER_CONVERSATION = 65_536;
export const MIN_RECENT_PER_DEVICE = 16;
/** Devices remembered per conversation; older ones reload their last cid from Postgres when they come back. */
export const MAX_DEVICES = 4096;

/** What a conversation's chatter remembers of one sending device: its dedup window on (device, cid). */
export interface DeviceState {
  /** The highest cid accepted (committed or in the group commit) for this device here. */
  maxCid: number;
  recent: Map<number, SendReply | Promise<SendReply>>;
}

/** A sending device's key: its user and its id (device ids are chosen per user, not across users). */
export function deviceKey(uid: string, did: string): string {
  return `${uid}\u0000${did}`;
}

/**
 * Adds a device whose last stored cid is `maxCid` to `devices`, forgetting the oldest one past MAX_DEVICES, but never
 * one with a send still in the group commit: reloaded from Postgres before that send is stored, its last cid would be
 * too low, and its re-send would be stored again, hit the unique key and fail the node's whole statement.
 */
export function addDevice(devices: Map<string, DeviceState>, key: string, maxCid: number): DeviceState {
  const dev: DeviceState = { maxCid, recent: new Map() };
  if (devices.size >= MAX_DEVICES) {
    for (const [k, d] of devices) {
      if (!committing(d)) {
        devices.delete(k);
        break;
      }
    }
  }
  devices.set(key, dev);
  return dev;
}

/** Whether one of the device's sends is still in the group commit. */
function committing(d: DeviceState): boolean {
  for (const answer of d.recent.values()) if (answer instanceof Promise) return true;
  return false;
}

/** What a device's recent send under `cid` got (its reply, or its commit still under way), if it is that recent. */
export function recentReply(dev: DeviceState, cid: number): SendReply | LaterReply | undefined {
  const seen = dev.recent.get(cid);
  return seen instanceof Promise ? new LaterReply(seen) : seen;
}

/**
 * Records `done` as the device's newest send, `cid`: a re-send of it joins `done` instead of storing again. The
 * oldest sends are forgotten past RECENT_PER_DEVICE (less with many `devices`, RECENT_PER_CONVERSATION), but never one still in the group commit: its re-send would find
 * nothing in Postgres yet and be refused, though the message then commits. Commits settle in submit order, so the
 * oldest entry is the first to settle.
 */
export function rememberSend(dev: DeviceState, cid: number, done: Promise<SendReply>, devices = 1): void {
  dev.maxCid = cid;
  dev.recent.set(cid, done);
  const keep = Math.max(MIN_RECENT_PER_DEVICE, Math.min(RECENT_PER_DEVICE, Math.floor(RECENT_PER_CONVERSATION / devices)));
  for (const [oldest, answer] of dev.recent) {
    if (dev.recent.size <= keep || answer instanceof Promise) break;
    dev.recent.delete(oldest);
  }
}

/**
 * A send this device made before (answered from memory, or by `stored` from Postgres for an old cid), or one that
 * must be refused; undefined for a new send that may go ahead.
 */
export function knownSend(p: ChatterSend, dev: DeviceState, stored: (p: ChatterSend, maxCid: number) => Promise<SendReply>): SendReply | LaterReply | Promise<SendReply> | undefined {
  const seen = recentReply(dev, p.cid);
  if (seen !== undefined) return seen;
  if (p.cid <= dev.maxCid) return stored(p, dev.maxCid);
  if (p.after !== undefined && p.after > dev.maxCid) {
    throw new ImError(ErrorCode.OUT_OF_ORDER, `send.after ${p.after} is not stored yet for device ${p.did}; re-send from the oldest unacknowledged message`);
  }
  return undefined;
}

/** What a send stored earlier was answered with, for its re-send. */
export function sendReplyOf(m: StoredMessage): SendReply {
  const r: SendReply = { seq: m.seq, ts: m.createdAt, prev: m.prevSeq };
  if (m.replyUid !== undefined) r.replyFrom = m.replyUid;
  if (m.reactWas !== undefined) r.was = m.reactWas;
  return r;
}
