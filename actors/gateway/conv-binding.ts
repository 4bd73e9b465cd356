import type { NatsConnection, Subscription } from 'nats';
import { decode } from '../../protocol/codec.js';
import { conversationSubject } from '../../protocol/subjects.js';
import { CONV_MEMBERS_LEFT } from '../../protocol/chat-ops.js';
import type { Session } from './session.js';

/** One conversation this gateway takes the subject of. */
interface Subject {
  sub: Subscription;
  sessions: Set<Session>;
  /** The latest message frame heard on it, and its seq (0: none yet). */
  last: Uint8Array | undefined;
  lastSeq: number;
  /**
   * Sessions bound with a list (its last seq here) before the subscription was surely in place and Postgres read
   * after it: re-checked against that read.
   */
  unconfirmed: { s: Session; listed: number }[] | undefined;
  /** Postgres' last seq read once the subscription stood (0 until then): what came before it, nobody here heard. */
  floor: number;
}

/** Reads of a new subject's last seq (ConvBinding.confirmed) before giving up, and the pause between two. */
const FLOOR_READ_TRIES = 3;
const FLOOR_RETRY_MS = 1_000;

/** What the gateway reads of a message on a conversation's subject: a `msg` frame's seq, or the members who left. */
interface Heard {
  /** The seq of a `msg` frame; undefined for any other frame (a `cleared`, a `title`, …). */
  seq: number | undefined;
  /** A ConvMembersLeft's uids: not for clients. */
  left: Set<string> | undefined;
  /** A `typing` frame's typist, whose own sessions it skips (a small conversation's connectors skip them too). */
  typist?: string;
}

function heardOf(bytes: Uint8Array): Heard {
  try {
    const f = decode(bytes) as { type?: unknown; seq?: unknown; uids?: unknown; from?: unknown } | null;
    if (f?.type === CONV_MEMBERS_LEFT) return { seq: undefined, left: new Set(Array.isArray(f.uids) ? f.uids.filter((u): u is string => typeof u === 'string') : []) };
    if (f?.type === 'typing' && typeof f.from === 'string') return { seq: undefined, left: undefined, typist: f.from };
    return { seq: f?.type === 'msg' && typeof f.seq === 'number' ? f.seq : undefined, left: undefined };
  } catch {
    return { seq: undefined, left: undefined };
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
      const e: Subject = { sub: undefined as unknown as Subscription, sessions: new Set(), last: undefined, lastSeq: 0, unconfirmed: [], floor: 0 };
      e.sub = this.nc.subscribe(conversationSubject(conv), {
        callback: (err, msg) => {
          if (err) return;
          const { seq, left, typist } = heardOf(msg.data);
          if (left !== undefined) {
            // Before any later message: the chatter published it in order with them.
            for (const x of [...e.sessions]) if (left.has(x.uid)) this.left(x, conv);
            return;
          }
          // A copy: nats.js hands a view into the socket's read chunk (up to 64 KiB), which this would keep alive for
          // as long as the group stays bound here.
          if (seq !== undefined && seq > e.lastSeq) (e.lastSeq = seq), (e.last = msg.data.slice());
          for (const x of e.sessions) if ((x.hiddenUpTo === undefined || seq === undefined || seq > (x.hiddenUpTo.get(conv) ?? 0)) && (typist === undefined || x.uid !== typist)) this.deliver(x, msg.data);
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
    else if (entry.unconfirmed === undefined && entry.floor > listed) this.resync(s); // its list predates what came before the subscription
    entry.unconfirmed?.push({ s, listed });
  }

  /**
   * The server has the subject's subscription: Postgres is read, and a session bound before the read is in whose list
   * is behind it re-syncs. Later sessions are checked against that read as they bind (a connector's list may be read
   * long before its session binds: a connect storm).
   */
  private confirmed(conv: string, e: Subject, attempt = 1): void {
    const check = (last: number) => {
      const waiting = e.unconfirmed ?? [];
      e.unconfirmed = undefined;
      e.floor = Number.isFinite(last) ? last : 0;
      for (const w of waiting) if (w.s.state === 'open' && e.sessions.has(w.s) && last > w.listed) this.resync(w.s);
    };
    const failed = () => {
      // Read again a little later, sessions binding meanwhile waiting with the others; past the last try, every one
      // of them re-syncs (a re-sync is never wrong, only dearer), and later ones are not checked.
      if (attempt < FLOOR_READ_TRIES && this.convs.get(conv) === e) setTimeout(() => this.confirmed(conv, e, attempt + 1), FLOOR_RETRY_MS).unref();
      else check(Infinity);
    };
    this.lastSeq(conv).then(check, failed);
  }

  /**
   * The user joined the conversation (the connector's bind): the session takes its subject, whatever an attach said
   * before. `after`: a newcomer's history starts past it, so a replayed message up to there is not delivered to it.
   * `listed`: the last seq its `joined` told it, checked as a list's is (`bind`).
   */
  joined(s: Session, conv: string, after = 0, listed?: number): void {
    s.unbound?.delete(conv);
    if (after > 0) (s.hiddenUpTo ??= new Map()).set(conv, after);
    this.bind(s, conv, listed);
  }

  /**
   * The user left the conversation (the connector's unbind). Remembered with the attach generation current now: an
   * answer to that attach may have been read before the user left and arrive after this (tells and calls are not
   * ordered), and must not bind the conversation again (leftSince).
   */
  left(s: Session, conv: string): void {
    (s.unbound ??= new Map()).set(conv, s.attachGen);
    this.unbind(s, conv);
  }

  /** Whether the user left `conv` after attach `gen` went out, so that its answer's word on `conv` is out of date. */
  leftSince(s: Session, conv: string, gen: number): boolean {
    return (s.unbound?.get(conv) ?? -1) >= gen;
  }

  /** The session no longer takes the conversation's subject. */
  unbind(s: Session, conv: string): void {
    s.bound?.delete(conv);
    if (s.hiddenUpTo?.delete(conv) && s.hiddenUpTo.size === 0) s.hiddenUpTo = undefined;
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
    // Marks of leaves up to this attach have served: no answer to an older one is taken any more.
    if (s.unbound !== undefined) {
      for (const [conv, at] of s.unbound) if (at <= gen) s.unbound.delete(conv);
      if (s.unbound.size === 0) s.unbound = undefined;
    }
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
