import type { NatsConnection, Subscription } from 'nats';
import { conversationSubject } from '../../protocol/subjects.js';
import type { Session } from './session.js';

/**
 * Session binding for large conversations (seed 001 §5): the chatter publishes each message of a large
 * conversation once, on `im.conv.<conv>`, already encoded as a client frame; this gateway subscribes once per
 * conversation that any of its sessions is in and copies the same bytes to each of them. Deliveries per
 * message then cost one NATS message per gateway instead of one per member.
 */
export class ConvBinding {
  private readonly convs = new Map<string, { sub: Subscription; sessions: Set<Session> }>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly deliver: (s: Session, bytes: Uint8Array) => void,
  ) {}

  /** Number of conversations this gateway is subscribed to. */
  get size(): number {
    return this.convs.size;
  }

  /** The session takes the conversation's subject (again: the binding is then only marked as current). */
  bind(s: Session, conv: string): void {
    if (s.state !== 'open') return;
    const had = s.bound?.has(conv) === true;
    (s.bound ??= new Map()).set(conv, s.attachGen);
    if (had) return;
    let entry = this.convs.get(conv);
    if (!entry) {
      const sessions = new Set<Session>();
      const sub = this.nc.subscribe(conversationSubject(conv), {
        callback: (err, msg) => {
          if (err) return;
          for (const x of sessions) this.deliver(x, msg.data);
        },
      });
      entry = { sub, sessions };
      this.convs.set(conv, entry);
    }
    entry.sessions.add(s);
  }

  /** The session no longer takes the conversation's subject. */
  unbind(s: Session, conv: string): void {
    s.bound?.delete(conv);
    const entry = this.convs.get(conv);
    if (!entry) return;
    entry.sessions.delete(s);
    if (entry.sessions.size === 0) {
      entry.sub.unsubscribe();
      this.convs.delete(conv);
    }
  }

  /**
   * After the session's connector answered attach `gen` with the large conversations it knows the user in: a
   * binding made before that attach went out and missing from the answer is stale (the user left while the
   * connector's notice to us was lost, or a restarted connector never knew), and is dropped. One made since came
   * with a join the answer may predate, and stays.
   */
  keepOnly(s: Session, large: readonly string[], gen: number): void {
    if (s.bound === undefined) return;
    const keep = new Set(large);
    for (const [conv, boundAt] of [...s.bound]) if (boundAt < gen && !keep.has(conv)) this.unbind(s, conv);
  }

  /** Drops every binding of a closed session. */
  drop(s: Session): void {
    for (const conv of [...(s.bound?.keys() ?? [])]) this.unbind(s, conv);
  }

  /** Unsubscribes everything. */
  close(): void {
    for (const e of this.convs.values()) e.sub.unsubscribe();
    this.convs.clear();
  }
}
