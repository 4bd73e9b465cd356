import type { DeviceInflight } from './device-inflight.js';
import { ATTACH_REFRESH_MS } from './gateway/session-attacher.js';

/** One online device of a user, as its connector knows it: where its socket is, and what it has not acked. */
export interface Device {
  did: string;
  gw: string;
  sid: number;
  /** The gateway process holding the socket (absent from gateways that do not say). */
  life: string | undefined;
  /** Unacked messages per conversation; made on the first push (an idle device holds nothing). */
  inflight: DeviceInflight | undefined;
  /** When its gateway last attached or refreshed it (epoch ms): see DEVICE_LEASE_MS. */
  seenAt: number;
}

/**
 * A device its gateway has not re-stated for this long is taken for gone. Gateways refresh each open session every
 * 0.5–1.5 ATTACH_REFRESH_MS, so only a session whose detach was lost is dropped: a DETACH told while this shard's
 * node was cut from NATS reaches no one, and the device would otherwise stay online for good, drawing no push
 * notifications and retransmitting into a gateway that has no such session.
 */
export const DEVICE_LEASE_MS = 3 * ATTACH_REFRESH_MS;

/** Whether `d`'s lease ran out at `now`. */
export function lapsed(d: Device, now: number): boolean {
  return now - d.seenAt > DEVICE_LEASE_MS;
}

/**
 * How often a connector holding devices looks for lapsed leases. Any op does too, but a user in quiet chats or only
 * large groups (their messages come through the gateways' subjects, not this actor) may get none for hours: a lost
 * DETACH would keep them online, and the actor live, for good.
 */
export const LEASE_CHECK_MS = ATTACH_REFRESH_MS;
