import { CloseCode } from '../../protocol/close-codes.js';
import type { ServerFrame } from '../../protocol/frames.js';
import { GatewayStats } from './gateway-stats.js';
import type { Session } from './session.js';

/**
 * Queues frames on sessions and writes each session's queue with one corked write per loop turn. A socket
 * whose unsent bytes pass `maxBackpressureBytes` is closed with 4013 (slow consumer): the client resyncs when it
 * reconnects, so a slow reader never grows the gateway's memory without bound.
 */
export class SessionWriter {
  /** Sessions with queued frames (a closed one flushes nothing). An array: the flush runs every turn that sends. */
  private readonly dirty: Session[] = [];
  private flushScheduled = false;

  constructor(
    private readonly stats: GatewayStats,
    private readonly maxBackpressureBytes: () => number,
  ) {}

  /** Queues a frame for `s`; it goes out at the end of this loop turn. */
  send(s: Session, f: ServerFrame): void {
    this.stats.framesOut++;
    if (f.type === 'error') GatewayStats.bump(this.stats.errors, f.code);
    if (s.queue(f)) this.markDirty(s);
  }

  /** Queues an encoded frame for `s` (a push encoded once for many sessions). */
  sendBytes(s: Session, bytes: Uint8Array): void {
    this.stats.framesOut++;
    if (s.queueBytes(bytes)) this.markDirty(s);
  }

  /** Called once per session per flush (queue says when its outbox was empty), so the list holds no repeats. */
  private markDirty(s: Session): void {
    this.dirty.push(s);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    const limit = this.maxBackpressureBytes();
    const dirty = this.dirty;
    for (let i = 0; i < dirty.length; i++) {
      const s = dirty[i]!;
      if (s.flush(limit) >= limit) s.end(CloseCode.SLOW_CONSUMER, 'too slow to read');
    }
    // Emptied in place: the array keeps its backing store, where a cleared Set would allocate its table again.
    dirty.length = 0;
  }
}
