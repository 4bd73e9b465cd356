import type { NatsConnection, Subscription } from 'nats';
import { decode } from '../../protocol/codec.js';
import { conversationSubject } from '../../protocol/subjects.js';
import type { Session } from './session.js';

/** One conversation this gateway takes the subject of. */
interface Subject {
  sub: Subscription;
  sessions: Set<Session>;
  /** The latest message frame heard on it, and its seq (0: none yet). */
  last: Uint8Array | undefined;
  lastSeq: number;
  /** Sessions bound with a list (its last seq here) before the server surely had the subscription: re-checked once it has. */
  unconfirmed: { s: Session; listed: number }[] | undefined;
}

/** The seq of a `msg` frame; undefined for any other frame (a `cleared`, a `title`, …). */
function msgSeqOf(bytes: Uint8Array): number | undefined {
  try {
    const f = decode(bytes) as { type?: unknown; seq?: unknown } | null;
    return f?.type === 'msg' && typeof f.seq === 'number' ? f.seq : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Session binding for large conversations (seed 001 §5): the chatter publishes each message of a large
 * conversation once, on `im.conv.<conv>`, already encoded as a client frame; this gateway subscribes once per
 * conversation that any of its sessions is in and copies the same bytes to each of them. Deliveries per
 * message then cost one NATS message per gateway instead of one per member.
 */
export class ConvBinding {
  private readonly convs = new Map<string, Subject>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly deliver: (s: Session, bytes: Uint8Array) => void,
    /** The conversation's last stored seq (what a session bound while its subscription was new is checked against). */
    private readonly lastSeq: (conv: string) => Promise<number> = async () => 0,
    /** A session whose list predates a message this gateway never heard (see `bind`): it re-syncs. */
    private readonly resync: (s: Session) => void = () => {},
  ) {}

  /** Number of conversations this gateway is subscribed to. */
  get size(): number {
    return this.convs.size;
  }

  /**
   * The session takes the conversation's subject (again: the binding is then only marked as current). `listed`: the
   * conversation's last seq in the list the session was just sent. The connector read that list before this binding,
   * so a message published in between reached the session neither way: if this gateway heard a later message, the
   * session gets it now (its `prev` shows the client the gap to pull); if the subscription is new, messages published
   * before the server had it reached no one here, so once it surely has (a flush), the session re-syncs if Postgres
   * holds a message past its list.
   */
  bind(s: Session, conv: string, listed?: number): void {
    if (s.state !== 'open') return;
    const had = s.bound?.has(conv) === true;
    (s.bound ??= new Map()).set(conv, s.attachGen);
    if (had) return;
    let entry = this.convs.get(conv);
    if (!entry) {
      const e: Subject = { sub: undefined as unknown as Subscription, sessions: new Set(), last: undefined, lastSeq: 0, unconfirmed: [] };
      e.sub = this.nc.subscribe(conversationSubject(conv), {
        callback: (err, msg) => {
          if (err) return;
          const seq = msgSeqOf(msg.data);
          // A copy: nats.js hands a view into the socket's read chunk (up to 64 KiB), which this would keep alive for
          // as long as the group stays bound here.
          if (seq !== undefined && seq > e.lastSeq) (e.lastSeq = seq), (e.last = msg.data.slice());
          for (const x of e.sessions) this.deliver(x, msg.data);
        },
      });
      this.convs.set(conv, (entry = e));
      this.nc.flush().then(
        () => this.confirmed(conv, e),
        () => this.confirmed(conv, e),
      );
    }
    entry.sessions.add(s);
    if (listed === undefined) return;
    if (entry.last !== undefined && entry.lastSeq > listed) this.deliver(s, entry.last);
    entry.unconfirmed?.push({ s, listed });
  }

  /** The server has the subject's subscription: a session bound before whose list is behind Postgres re-syncs. */
  private confirmed(conv: string, e: Subject): void {
    const waiting = e.unconfirmed ?? [];
    e.unconfirmed = undefined;
    if (waiting.length === 0) return;
    const check = (last: number) => {
      for (const w of waiting) if (w.s.state === 'open' && e.sessions.has(w.s) && last > w.listed) this.resync(w.s);
    };
    // Not known: every one of them re-syncs (a re-sync is never wrong, only dearer).
    this.lastSeq(conv).then(check, () => check(Infinity));
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
