import type { NatsConnection } from 'nats';
import type { MembersEvent, MessageEvent, OnlineEvent, PushEvent, ReadEvent, ReportEvent } from '../protocol/chat-ops.js';
import { EventSubject } from '../protocol/subjects.js';
import type { Logger } from '../runtime/logger.js';

/** Most bytes of JSON in one event batch: well under nats-server's default 1 MB max_payload. */
export const DEFAULT_EVENT_BATCH_BYTES = 256 * 1024;

/** A business event of any subject. */
export type BusinessEvent = OnlineEvent | MessageEvent | ReadEvent | PushEvent | MembersEvent | ReportEvent;

function subjectOf(e: BusinessEvent): EventSubject {
  switch (e.type) {
    case 'message':
      return EventSubject.MESSAGE;
    case 'read':
      return EventSubject.READ;
    case 'push':
      return EventSubject.PUSH;
    case 'members':
      return EventSubject.MEMBERS;
    case 'online':
      return EventSubject.ONLINE;
    case 'offline':
      return EventSubject.OFFLINE;
    case 'report':
      return EventSubject.REPORT;
  }
}

/**
 * Business events, published as JSON arrays: the events of one subject raised in one turn of the event loop go
 * out as one NATS message, in the order they were raised. One publish per chat message cost a quarter of the
 * 1:1 throughput (a NATS message per chat message, with nobody but the server to read most of them).
 */
export class EventPublisher {
  private readonly pending = new Map<EventSubject, { parts: string[]; bytes: number }>();
  private scheduled = false;
  private readonly encoder = new TextEncoder();

  constructor(
    private readonly nc: NatsConnection,
    private readonly log: Logger,
    private readonly maxBytes = DEFAULT_EVENT_BATCH_BYTES,
  ) {}

  /** Queues an event for this turn's batch of its subject. */
  publish(e: BusinessEvent): void {
    const subject = subjectOf(e);
    const json = JSON.stringify(e);
    // UTF-8 bytes: NATS' max_payload counts those, and a message's text may be CJK (3 bytes a character).
    const bytes = Buffer.byteLength(json) + 1;
    let q = this.pending.get(subject);
    if (q === undefined) this.pending.set(subject, (q = { parts: [], bytes: 0 }));
    // A batch that would pass the limit leaves first; one event over the limit on its own still goes alone.
    if (q.parts.length > 0 && q.bytes + bytes > this.maxBytes) this.send(subject, q);
    q.parts.push(json);
    q.bytes += bytes;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Publishes everything queued. */
  flush(): void {
    this.scheduled = false;
    for (const [subject, q] of this.pending) if (q.parts.length > 0) this.send(subject, q);
    this.pending.clear();
  }

  private send(subject: EventSubject, q: { parts: string[]; bytes: number }): void {
    const body = `[${q.parts.join(',')}]`;
    q.parts = [];
    q.bytes = 0;
    try {
      this.nc.publish(subject, this.encoder.encode(body));
    } catch (err) {
      // Events are best effort by contract (NATS core, no subscriber is waited for); a closed connection drops them.
      // Anything else (a batch past max_payload) is a loss worth seeing.
      const closed = this.nc.isClosed() || this.nc.isDraining();
      if (closed) this.log.debug({ err: (err as Error).message }, 'events not published');
      else this.log.warn({ subject, bytes: body.length, err: (err as Error).message }, 'events not published');
    }
  }
}
