/**
 * What one device has not acknowledged yet, per conversation: the messages pushed to it, kept as the chatter
 * encoded them so a retransmit pushes the same bytes again. A cumulative ack (`seq`) drops everything up to it.
 */

/** Unacked messages kept per device and conversation; older ones are left to the client's gap repair. */
export const MAX_INFLIGHT_PER_CONV = 256;
/** Messages pushed again per conversation per retransmit round. */
export const RETRANSMIT_BATCH = 64;
/**
 * Bytes of unacked frames kept per device across its conversations. A device that never acks (buggy or hostile), in
 * many busy conversations, would make its connector keep 256 frames in each; past this, the conversation that has
 * waited longest is let go (the client repairs that gap with a pull, as past MAX_INFLIGHT_PER_CONV).
 */
export const MAX_INFLIGHT_BYTES_PER_DEVICE = 4 * 1024 * 1024;
/**
 * Most bytes of frames in one retransmit push. A push is one tell to the session's gateway, and the transport cannot
 * split a tell: one over its batch limit (512 KiB at most, less with a smaller NATS max_payload) would be dropped,
 * round after round, with everything the device waits for in it.
 */
export const RETRANSMIT_PUSH_BYTES = 64 * 1024;
/**
 * Each round a conversation's messages stay unacked doubles their wait, up to 2^this intervals (64 s at the default
 * 2 s). A client that reads but never acks (buggy or hostile) would otherwise be sent up to RETRANSMIT_BATCH frames
 * per conversation every interval for as long as it stays connected; a device that acks again starts afresh.
 */
export const MAX_RETRANSMIT_DOUBLINGS = 5;

/** A pushed message not acked yet: its seq, and its frame as the chatter encoded it (pushed again as it is). */
export interface Pushed {
  seq: number;
  frame: Uint8Array;
}

interface Inflight {
  msgs: Pushed[];
  sentAt: number;
  /** Rounds pushed again since the device last acked some of them (MAX_RETRANSMIT_DOUBLINGS). */
  tries: number;
}

/** A device's unacked messages by conversation, and how many bytes their frames take. */
export class DeviceInflight extends Map<string, Inflight> {
  bytes = 0;

  /** Forgets a conversation's unacked messages (their bytes too). */
  override delete(conv: string): boolean {
    const f = this.get(conv);
    if (f) for (const m of f.msgs) this.bytes -= m.frame.byteLength;
    return super.delete(conv);
  }
}

/** Wraps a pushed frame for keeping (copied when it is a view into a larger buffer). */
export function pushedOf(seq: number, frame: Uint8Array): Pushed {
  return { seq, frame: ownBytes(frame) };
}

/** Records that `pushed` went to the device now; the oldest message drops out past MAX_INFLIGHT_PER_CONV. */
export function addInflight(inflight: DeviceInflight, conv: string, pushed: Pushed, now: number): void {
  let f = inflight.get(conv);
  if (!f) inflight.set(conv, (f = { msgs: [], sentAt: now, tries: 0 }));
  if (f.msgs.length === 0) (f.sentAt = now), (f.tries = 0);
  f.msgs.push(pushed);
  inflight.bytes += pushed.frame.byteLength;
  if (f.msgs.length > MAX_INFLIGHT_PER_CONV) inflight.bytes -= f.msgs.shift()!.frame.byteLength;
  while (inflight.bytes > MAX_INFLIGHT_BYTES_PER_DEVICE && inflight.size > 1) inflight.delete(longestWaiting(inflight, conv));
}

/** The conversation (but `except`) whose unacked messages have waited longest. */
function longestWaiting(inflight: DeviceInflight, except: string): string {
  let oldest: string | undefined;
  let at = Infinity;
  for (const [conv, f] of inflight) if (conv !== except && f.sentAt < at) (oldest = conv), (at = f.sentAt);
  return oldest!;
}

/** Drops what a cumulative ack up to `seq` covers; what is left waits a whole interval again. */
export function settleInflight(inflight: DeviceInflight | undefined, conv: string, seq: number, now: number): void {
  const f = inflight?.get(conv);
  if (!f) return;
  let n = 0;
  while (n < f.msgs.length && f.msgs[n]!.seq <= seq) inflight!.bytes -= f.msgs[n++]!.frame.byteLength;
  f.msgs.splice(0, n);
  if (f.msgs.length === 0) inflight!.delete(conv);
  else if (n > 0) {
    f.sentAt = now;
    f.tries = 0;
  }
}

/**
 * The frames to push again: up to RETRANSMIT_BATCH per conversation last pushed at or before `due` (one interval,
 * `now − due`, before now), or as many more intervals as its rounds without an ack doubled its wait.
 */
export function dueFrames(inflight: DeviceInflight, due: number, now: number): Uint8Array[] {
  const frames: Uint8Array[] = [];
  const interval = now - due;
  for (const f of inflight.values()) {
    if (now - f.sentAt < interval * 2 ** f.tries) continue;
    f.sentAt = now;
    if (f.tries < MAX_RETRANSMIT_DOUBLINGS) f.tries++;
    for (let i = 0; i < f.msgs.length && i < RETRANSMIT_BATCH; i++) frames.push(f.msgs[i]!.frame);
  }
  return frames;
}

/**
 * Pushes again (through `push`) what each device has had unacked since `due`; false when no device holds anything
 * unacked any more, so the timer can stop.
 */
export function resendDue<D extends { inflight: DeviceInflight | undefined }>(devices: readonly D[], due: number, now: number, push: (dev: D, frames: Uint8Array[]) => void): boolean {
  let pending = false;
  for (const dev of devices) {
    if (!dev.inflight || dev.inflight.size === 0) continue;
    pending = true;
    for (const part of framesInParts(dueFrames(dev.inflight, due, now))) push(dev, part);
  }
  return pending;
}

/** `frames` in order, cut into runs of at most `maxBytes` (a larger frame goes alone). */
export function framesInParts(frames: Uint8Array[], maxBytes = RETRANSMIT_PUSH_BYTES): Uint8Array[][] {
  const parts: Uint8Array[][] = [];
  let part: Uint8Array[] = [];
  let bytes = 0;
  for (const f of frames) {
    if (part.length > 0 && bytes + f.byteLength > maxBytes) {
      parts.push(part);
      part = [];
      bytes = 0;
    }
    part.push(f);
    bytes += f.byteLength;
  }
  if (part.length > 0) parts.push(part);
  return parts;
}

/**
 * Bytes an actor may keep: a frame that is a view into a larger buffer (a NATS read, msgpackr's scratch) is
 * copied, or every unacked message would pin a whole chunk (a device that never acks would hold megabytes).
 */
function ownBytes(b: Uint8Array): Uint8Array {
  return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? b : new Uint8Array(b);
}

/**
 * Forgets the unacked frames of conversations the user is no longer in (`isIn` false): a list that dropped one
 * (left while the notice was lost) would otherwise have them pushed again for good, each ack of them refused.
 */
export function forgetInflight<D extends { inflight: DeviceInflight | undefined }>(devices: readonly D[], isIn: (conv: string) => boolean): void {
  for (const dev of devices) {
    if (dev.inflight === undefined) continue;
    for (const conv of [...dev.inflight.keys()]) if (!isIn(conv)) dev.inflight.delete(conv);
  }
}
