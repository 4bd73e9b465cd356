/**
 * The coalescer behind the transport, free of NATS: per subject ("lane") it queues calls and tells, and hands
 * them to a sink in batches — on the next tick (or after `flushDelayMs`), or at once when a lane holds
 * `maxItems`. A lane has at most `maxInFlight` call batches outstanding; while its slots are taken, new calls
 * accumulate into the next batch. With one slot, calls to a subject leave in the order they were queued, and
 * a batch that must be resent (no responders) keeps its slot, so nothing overtakes it: per-subject FIFO.
 * Tells take no slot (they get no answer) and so are not ordered against calls, only against other tells.
 */

/** Where batches go. */
export interface BatchSink<C, T> {
  /** Sends a batch of calls; `release` must be called exactly once, when the batch no longer holds its slot. */
  sendCalls(subject: string, calls: C[], release: () => void): void;
  /** Sends a batch of tells (fire-and-forget). */
  sendTells(subject: string, tells: T[]): void;
}

export interface BatcherOptions {
  /** Most items in one batch. */
  maxItems: number;
  /** Call batches outstanding per subject. */
  maxInFlight: number;
  /** 0 flushes on the next tick (setImmediate); more waits that long (a timer) to gather bigger batches. */
  flushDelayMs: number;
  /** Test seam: runs `fn` after the delay; defaults to setImmediate / setTimeout. */
  schedule?: (fn: () => void, delayMs: number) => void;
}

interface Lane<C, T> {
  calls: C[];
  tells: T[];
  inFlight: number;
}

function defaultSchedule(fn: () => void, delayMs: number): void {
  if (delayMs <= 0) setImmediate(fn);
  else setTimeout(fn, delayMs);
}

/** Per-subject coalescing with a bounded number of outstanding batches per subject. */
export class Batcher<C, T> {
  private readonly lanes = new Map<string, Lane<C, T>>();
  private scheduled = false;
  private readonly schedule: (fn: () => void, delayMs: number) => void;
  private readonly runFlush = (): void => {
    this.scheduled = false;
    this.flush();
  };

  constructor(
    private readonly sink: BatchSink<C, T>,
    private readonly opts: BatcherOptions,
  ) {
    if (opts.maxItems < 1 || opts.maxInFlight < 1) throw new RangeError('maxItems and maxInFlight must be at least 1');
    this.schedule = opts.schedule ?? defaultSchedule;
  }

  /** Queues a call for `subject`. */
  addCall(subject: string, call: C): void {
    const lane = this.lane(subject);
    lane.calls.push(call);
    // A full batch leaves now instead of growing without bound within one tick.
    if (lane.calls.length >= this.opts.maxItems && lane.inFlight < this.opts.maxInFlight) this.flushLane(subject, lane);
    else this.scheduleFlush();
  }

  /** Queues a tell for `subject`. */
  addTell(subject: string, tell: T): void {
    const lane = this.lane(subject);
    lane.tells.push(tell);
    if (lane.tells.length >= this.opts.maxItems) this.sendTells(subject, lane);
    else this.scheduleFlush();
  }

  /** Puts calls back at the head of their lane (a batch that was too big to send whole), ahead of newer ones. */
  requeueFront(subject: string, calls: C[]): void {
    if (calls.length === 0) return;
    const lane = this.lane(subject);
    lane.calls = lane.calls.length === 0 ? calls : calls.concat(lane.calls);
    this.scheduleFlush();
  }

  /** Sends what every lane can send now. */
  flush(): void {
    for (const [subject, lane] of this.lanes) this.flushLane(subject, lane);
  }

  /** Calls queued and not yet handed to the sink. */
  queuedCalls(): number {
    let n = 0;
    for (const lane of this.lanes.values()) n += lane.calls.length;
    return n;
  }

  /** Call batches handed to the sink and not yet released. */
  inFlight(): number {
    let n = 0;
    for (const lane of this.lanes.values()) n += lane.inFlight;
    return n;
  }

  /** Visits every queued call (deadline sweeps). */
  forEachQueued(fn: (call: C) => void): void {
    for (const lane of this.lanes.values()) for (const c of lane.calls) fn(c);
  }

  /** Empties every queue and returns the calls that were never sent (the caller rejects them). */
  clear(): C[] {
    const out: C[] = [];
    for (const lane of this.lanes.values()) {
      for (const c of lane.calls) out.push(c);
      lane.calls = [];
      lane.tells = [];
    }
    return out;
  }

  private lane(subject: string): Lane<C, T> {
    let l = this.lanes.get(subject);
    if (!l) {
      l = { calls: [], tells: [], inFlight: 0 };
      this.lanes.set(subject, l);
    }
    return l;
  }

  private scheduleFlush(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    this.schedule(this.runFlush, this.opts.flushDelayMs);
  }

  private flushLane(subject: string, lane: Lane<C, T>): void {
    if (lane.tells.length > 0) this.sendTells(subject, lane);
    while (lane.calls.length > 0 && lane.inFlight < this.opts.maxInFlight) {
      let batch: C[];
      if (lane.calls.length <= this.opts.maxItems) {
        batch = lane.calls;
        lane.calls = [];
      } else {
        batch = lane.calls.splice(0, this.opts.maxItems);
      }
      lane.inFlight++;
      let released = false;
      this.sink.sendCalls(subject, batch, () => {
        if (released) return;
        released = true;
        this.release(subject, lane);
      });
    }
    if (lane.calls.length === 0 && lane.tells.length === 0 && lane.inFlight === 0) this.lanes.delete(subject);
  }

  private sendTells(subject: string, lane: Lane<C, T>): void {
    const tells = lane.tells;
    lane.tells = [];
    for (let i = 0; i < tells.length; i += this.opts.maxItems) {
      this.sink.sendTells(subject, tells.length <= this.opts.maxItems ? tells : tells.slice(i, i + this.opts.maxItems));
    }
  }

  private release(subject: string, lane: Lane<C, T>): void {
    lane.inFlight--;
    // A lane is only dropped when it has nothing in flight, so it is still the map's entry here.
    if (lane.calls.length > 0) this.scheduleFlush();
    else if (lane.inFlight === 0 && lane.tells.length === 0) this.lanes.delete(subject);
  }
}
