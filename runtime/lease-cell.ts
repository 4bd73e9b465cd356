/**
 * The node lease's state shared between the main thread and the lease thread. The lease thread writes how long the
 * lease is certainly valid; the main thread writes when it last ran. Shared memory rather than messages: a main
 * thread waking from a long turn runs its timers before it reads its messages, and would judge its lease by stale
 * news.
 */

/** Slots of the shared array, in microseconds of the monotonic clock (0 = never). */
const VALID_UNTIL = 0;
const MAIN_ALIVE_AT = 1;
const STOPPED = 2;
/** Since when the node's NATS connection has been down (0: up, or never marked), and since when up (0: down). */
const NATS_DOWN_SINCE = 3;
const NATS_UP_SINCE = 4;
const SLOTS = 5;

/** Milliseconds on the monotonic clock every thread of the process shares (performance.now() has one origin per thread). */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint() / 1000n) / 1000;
}

const toUs = (ms: number): bigint => BigInt(Math.floor(ms * 1000));
const toMs = (us: bigint): number => Number(us) / 1000;

export class LeaseCell {
  private readonly slots: BigInt64Array;

  /** A new cell, or a view of one another thread created (pass its `buffer`). */
  constructor(readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(SLOTS * 8)) {
    this.slots = new BigInt64Array(buffer);
  }

  /** Until when (monotonic ms) the lease certainly runs. */
  validUntil(): number {
    return toMs(Atomics.load(this.slots, VALID_UNTIL));
  }

  /** Moves the validity forward to `untilMs`, never back: renewals overlap and may be answered out of order. */
  extend(untilMs: number): void {
    const next = toUs(untilMs);
    if (this.stopped) return;
    for (let cur = Atomics.load(this.slots, VALID_UNTIL); next > cur; ) {
      const seen = Atomics.compareExchange(this.slots, VALID_UNTIL, cur, next);
      if (seen === cur) return;
      cur = seen;
    }
  }

  /** Records that the main thread ran at `nowMs`. */
  markAlive(nowMs: number): void {
    Atomics.store(this.slots, MAIN_ALIVE_AT, toUs(nowMs));
  }

  /** When the main thread last ran (monotonic ms). */
  aliveAt(): number {
    return toMs(Atomics.load(this.slots, MAIN_ALIVE_AT));
  }

  /** Records that the node's NATS connection went up or down at `nowMs` (the main thread sees its status events). */
  markNats(up: boolean, nowMs: number): void {
    // At least 1 µs: 0 reads as unmarked.
    const at = toUs(nowMs) > 0n ? toUs(nowMs) : 1n;
    Atomics.store(this.slots, up ? NATS_DOWN_SINCE : NATS_UP_SINCE, 0n);
    Atomics.store(this.slots, up ? NATS_UP_SINCE : NATS_DOWN_SINCE, at);
  }

  /** How long NATS has been down at `nowMs` (0 while up or unmarked). */
  natsDownForMs(nowMs: number): number {
    const since = Atomics.load(this.slots, NATS_DOWN_SINCE);
    return since === 0n ? 0 : Math.max(0, nowMs - toMs(since));
  }

  /** How long NATS has been up at `nowMs`; undefined when never marked (a process without NATS). */
  natsUpForMs(nowMs: number): number | undefined {
    const up = Atomics.load(this.slots, NATS_UP_SINCE);
    if (up !== 0n) return Math.max(0, nowMs - toMs(up));
    return Atomics.load(this.slots, NATS_DOWN_SINCE) === 0n ? undefined : 0;
  }

  /** Ends the lease for good: no renewal is sent after this, and it counts as run out. */
  stop(): void {
    Atomics.store(this.slots, STOPPED, 1n);
    Atomics.store(this.slots, VALID_UNTIL, 0n);
  }

  /** Whether `stop()` was called (from either thread). */
  get stopped(): boolean {
    return Atomics.load(this.slots, STOPPED) === 1n;
  }
}
