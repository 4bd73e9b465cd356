import { ChatKind, ChatterOp, ConnectorOp, type ConnectorConvs, type ChatterLeave, type ChatterMute, type ChatterPin, type ChatterSend, type MuteReply, type PinReply, type SendReply } from '../../protocol/chat-ops.js';
import { decode } from '../../protocol/codec.js';
import { DEFAULT_LIMITS } from '../../protocol/limits.js';
import { ErrorCode, ImError, retryAfterMsOf, toImError } from '../../protocol/errors.js';
import type { ClientFrame, ClientFrameOf, ConvSummary, Msg, ServerFrame } from '../../protocol/frames.js';
import type { Logger } from '../../runtime/logger.js';
import { latencyHistogram } from '../../runtime/metrics.js';
import type { ActorSender } from '../../runtime/actor-host.js';
import type { ChatServices } from '../chat-services.js';
import { SYSTEM_DEVICE } from '../../protocol/token.js';
import { clearHistory, hiddenFrame, hideMessages, setMemberPrefs } from '../member-prefs.js';
import { ReportPacer, reportPaced } from './message-report.js';
import { fitPage, historyPageBytes } from './history-page.js';
import { hasRoom, roomFor } from './socket-room.js';
import { toMsg } from '../stored-msg.js';
import type { Session } from './session.js';
import { asConvsPage, type ListPager } from './list-pager.js';
import { isOurFailure, publicError } from './public-error.js';

/** An error frame for a failed request; the ids tell the client which one. */
export function errorFrame(e: ImError, ids: { cid?: number; rid?: number; conv?: string } = {}): ServerFrame {
  const f: ServerFrame = { type: 'error', code: e.code, message: publicError(e).message };
  const wait = retryAfterMsOf(e);
  if (wait !== undefined) f.retryAfterMs = wait;
  if (ids.cid !== undefined) f.cid = ids.cid;
  if (ids.rid !== undefined) f.rid = ids.rid;
  if (ids.conv !== undefined) f.conv = ids.conv;
  return f;
}

/** How long a history page waits for its reader to take the ones before it (socket-room.ts) before it is refused. */
export const PULL_ROOM_WAIT_MS = 5_000;
/** History pages one session may have waiting for room; a pull past them is refused at once (overloaded). */
export const MAX_PULLS_WAITING = 8;
/**
 * Pulls one session may have under way, from their arrival: each reads up to 201 rows (some MB of long messages)
 * before its page is cut, so more at once, within the rate limiter's burst, could take the node's heap. Twice what
 * the SDK's gap repair runs at once (protocol/sdk/gap-puller.ts), to leave room for the app's own history reads.
 */
export const MAX_PULLS_IN_FLIGHT = 16;
/**
 * `sync`s one session may have under way. Each is a call to the user's connector, which reads the whole list in its
 * mailbox: a client looping on sync within the rate limit would queue reads there past their callers' deadlines, and
 * hold up every push, read mark and attach of that user (and the calls batched with them to that connector shard).
 */
export const MAX_SYNCS_IN_FLIGHT = 2;
/**
 * `members`, `reactors`, `hides`, `hide` and `clear` one session may have under way. Each reads (or writes) Postgres
 * from the gateway's pool: a
 * client looping on them within the rate limit would queue the node's statements (sends' commits among them) past
 * their deadlines. Four times what the SDK's hides catch-up asks at once (protocol/sdk/hides-catch-up.ts).
 */
export const MAX_READS_IN_FLIGHT = 16;

/**
 * What the gateway does with each valid client frame: sends go straight to the conversation's chatter (the
 * connector adds nothing to a send, and skipping it saves a hop per message), acks / reads / syncs to the
 * user's connector, and so do pins, archives and marks as unread (they take turns with the reads), mutes to the
 * chatter (it marks what it fans out), pulls and member pages read Postgres directly, and clears and hides write it
 * (the connector only echoes them). Answers are queued on the session.
 */
export class ClientFrames {
  /** Time from a `send` frame's arrival to its `sent` answer being queued: the server's share of send→ack. */
  readonly sendLatency = latencyHistogram('im_send_seconds', 'Time from a client send frame arriving to its sent answer being queued (stored and committed), for sends that succeeded.');
  private readonly reports = new ReportPacer();

  constructor(
    private readonly router: ActorSender,
    private readonly svc: ChatServices,
    private readonly reply: (s: Session, f: ServerFrame) => void,
    private readonly pager: ListPager,
    private readonly log: Logger,
    /** The gateway's slow-reader limit: history pages stay within half of it, and wait for room under it. */
    private readonly maxBackpressureBytes: () => number,
  ) {}

  /** Handles one frame; never throws. */
  handle(s: Session, f: ClientFrame): void {
    switch (f.type) {
      case 'send':
        return this.send(s, f);
      case 'ack':
        return this.router.tell(ChatKind.CONNECTOR, s.uid, ConnectorOp.ACK, { did: s.did, conv: f.conv, seq: f.seq });
      case 'read':
        return this.request(s, this.router.call(ChatKind.CONNECTOR, s.uid, ConnectorOp.READ, { did: s.did, conv: f.conv, seq: f.seq }), () => undefined, { conv: f.conv });
      case 'pull':
        return this.request(s, this.pull(s, f), () => undefined, { rid: f.rid, conv: f.conv });
      case 'members':
        return this.request(s, this.read(s, () => this.svc.convs.membersAs(s.uid, f.conv, f.after ?? '', f.limit)), (page) => ({ type: 'members', rid: f.rid, conv: f.conv, ...page }), { rid: f.rid, conv: f.conv });
      case 'reactors':
        return this.request(s, this.read(s, () => this.reactors(s, f)), (frame) => frame, { rid: f.rid, conv: f.conv });
      case 'sync':
        return this.request(s, this.sync(s, f.rid), () => undefined, { rid: f.rid });
      case 'typing':
        return this.router.tell(ChatKind.CHATTER, f.conv, ChatterOp.TYPING, { uid: s.uid });
      case 'leave': {
        const leave = this.router.call(ChatKind.CHATTER, f.conv, ChatterOp.LEAVE, { uid: s.uid } satisfies ChatterLeave);
        return this.request(s, leave, () => ({ type: 'left', rid: f.rid, conv: f.conv }), { rid: f.rid, conv: f.conv });
      }
      case 'mute': {
        const mute = this.router.call(ChatKind.CHATTER, f.conv, ChatterOp.MUTE, { uid: s.uid, did: s.did, until: f.until } satisfies ChatterMute);
        return this.request(s, mute, (r) => ({ type: 'mute', rid: f.rid, conv: f.conv, until: (r as MuteReply).until }), { rid: f.rid, conv: f.conv });
      }
      case 'prefs': {
        const set = setMemberPrefs(this.router, s.uid, f.conv, { ...(f.pinned !== undefined && { pinned: f.pinned }), ...(f.archived !== undefined && { archived: f.archived }), ...(f.unread !== undefined && { unread: f.unread }) }, s.did);
        return this.request(s, set, (p) => ({ type: 'prefs', rid: f.rid, conv: f.conv, ...p }), { rid: f.rid, conv: f.conv });
      }
      case 'clear': {
        const clear = this.read(s, () => clearHistory(this.svc.prefs, this.router, s.uid, f.conv, f.seq, s.did, s.did));
        return this.request(s, clear, (seq) => ({ type: 'cleared', rid: f.rid, conv: f.conv, seq }), { rid: f.rid, conv: f.conv });
      }
      case 'pin': {
        const pin = this.router.call(ChatKind.CHATTER, f.conv, ChatterOp.PIN, { uid: s.uid, seq: f.seq, pinned: f.pinned } satisfies ChatterPin);
        return this.request(s, pin, (r) => ({ type: 'pins', rid: f.rid, conv: f.conv, pins: (r as PinReply).pins }), { rid: f.rid, conv: f.conv });
      }
      case 'report':
        return this.request(s, reportPaced(this.svc, this.reports, s.uid, s.did, f), () => ({ type: 'reported', rid: f.rid, conv: f.conv, seq: f.seq }), { rid: f.rid, conv: f.conv });
      case 'hide': {
        const hide = this.read(s, () => hideMessages(this.svc.hidden, this.router, s.uid, f.conv, f.seqs, s.did));
        return this.request(s, hide, (hidden) => hiddenFrame(f.conv, hidden, f.rid), { rid: f.rid, conv: f.conv });
      }
      case 'hides':
        return this.request(s, this.read(s, () => this.svc.hidden.hiddenSeqs(s.uid, f.conv)), (seqs) => hiddenFrame(f.conv, { seqs }, f.rid), { rid: f.rid, conv: f.conv });
      case 'ping':
        return this.reply(s, f.ts === undefined ? { type: 'pong' } : { type: 'pong', ts: f.ts });
    }
  }

  private send(s: Session, f: ClientFrameOf<'send'>): void {
    const p: ChatterSend = { uid: s.uid, did: s.did, cid: f.cid, body: f.body };
    if (f.after !== undefined) p.after = f.after;
    if (f.recall !== undefined) p.recall = f.recall;
    if (f.edit !== undefined) p.edit = f.edit;
    if (f.react !== undefined) p.react = f.react;
    if (f.mentions !== undefined) p.mentions = f.mentions;
    if (f.reply !== undefined) p.reply = f.reply;
    if (f.mentionAll === true) p.mentionAll = true;
    const started = performance.now();
    this.request(
      s,
      this.router.call(ChatKind.CHATTER, f.conv, ChatterOp.SEND, p),
      (r) => {
        const { seq, ts, prev, replyFrom, was } = r as SendReply;
        this.sendLatency.observe((performance.now() - started) / 1000);
        if (replyFrom === undefined && was === undefined) return { type: 'sent', cid: f.cid, conv: f.conv, seq, ts, prev };
        return { type: 'sent', cid: f.cid, conv: f.conv, seq, ts, prev, ...(replyFrom !== undefined && { replyFrom }), ...(was !== undefined && { was }) };
      },
      { cid: f.cid, conv: f.conv },
    );
  }

  /**
   * Runs `run` as one of the session's requests counted in `count`; past `max` under way it is refused with
   * `overloaded` at once, before anything is read (`again`: what the client should do).
   */
  private async capped<T>(s: Session, count: 'pullsInFlight' | 'syncsInFlight' | 'readsInFlight', max: number, again: string, run: () => Promise<T>): Promise<T> {
    if (s[count] >= max) throw new ImError(ErrorCode.OVERLOADED, `${max} ${again} once they are answered`);
    s[count]++;
    try {
      return await run();
    } finally {
      s[count]--;
    }
  }

  /**
   * Runs one of the session's Postgres statements from the gateway's pool (members, reactors, hides; hide and clear
   * write), refused past MAX_READS_IN_FLIGHT: a client looping on them would queue other users' statements behind.
   */
  private read<T>(s: Session, run: () => Promise<T>): Promise<T> {
    return this.capped(s, 'readsInFlight', MAX_READS_IN_FLIGHT, 'members, reactors, hides, hide and clear requests of yours are under way: ask again', run);
  }

  /** Answers a sync: the pager sends the list (in pages, if long); an error is thrown, to go out with the rid. */
  private sync(s: Session, rid: number): Promise<void> {
    return this.capped(s, 'syncsInFlight', MAX_SYNCS_IN_FLIGHT, 'syncs of yours are under way: sync again', async () => {
      const ask: ConnectorConvs = s.listPageBytes > 0 ? { did: s.did, pageBytes: s.listPageBytes } : { did: s.did };
      const r = await this.router.call(ChatKind.CONNECTOR, s.uid, ConnectorOp.CONVS, ask);
      await this.pager.send(s, asConvsPage(r), () => s.state === 'open', rid);
    });
  }

  /** Answers a pull: the page is queued here, not handed back (see pullPage); an error is thrown. */
  private pull(s: Session, f: ClientFrameOf<'pull'>): Promise<void> {
    return this.capped(s, 'pullsInFlight', MAX_PULLS_IN_FLIGHT, 'pulls of yours are under way: pull again', () => this.pullPage(s, f));
  }

  /**
   * Queues the page on the session as soon as it has room: at once when the room check passes, in the same turn, so
   * that pages read together and done in one turn see each other (handed back, each was queued a microtask later and
   * all passed the check, past the slow-reader limit).
   */
  private async pullPage(s: Session, f: ClientFrameOf<'pull'>): Promise<void> {
    const limit = this.maxBackpressureBytes();
    // Read in a call of its own: what it read beyond the page is not held while the page waits for room.
    const { frame, bytes } = await this.historyPage(s, f, historyPageBytes(limit));
    // Pages asked for together go one after another as the reader takes them (a closed session drops its answer),
    // each once it fits in three quarters of the limit beside what the socket holds (a page is half at most: live
    // traffic meanwhile does not keep it out). One that cannot go soon is refused, retryably, well within a
    // client's request timeout (the SDK's: 10 s); so is one past MAX_PULLS_WAITING waiting already (the pages held).
    const budget = (limit * 3) / 4;
    const refused = (why: string) => new ImError(ErrorCode.OVERLOADED, `your connection has not taken the pages before this one ${why}: pull again`);
    if (hasRoom(s, bytes, budget)) {
      this.reply(s, frame);
      return;
    }
    if (s.pullsWaiting >= MAX_PULLS_WAITING) throw refused(`(${MAX_PULLS_WAITING} pages wait already)`);
    s.pullsWaiting++;
    try {
      if ((await roomFor(s, bytes, budget, { maxWaitMs: PULL_ROOM_WAIT_MS, closeWhenLate: false })) === 'late') throw refused(`within ${PULL_ROOM_WAIT_MS / 1000} s`);
    } finally {
      s.pullsWaiting--;
    }
    this.reply(s, frame);
  }

  /** A `history` answer (or a `not_member` error) and about how many bytes it takes. */
  private async historyPage(s: Session, f: ClientFrameOf<'pull'>, maxBytes: number): Promise<{ frame: ServerFrame; bytes: number }> {
    // One more than asked (ascending either way) tells whether there is more: newer ones after, older ones before.
    // Nothing the user cleared (a condition in the same statement, so the membership check still runs alongside).
    const read = f.before === undefined ? this.svc.messages.readAfter(f.conv, f.after, f.limit + 1, s.uid) : this.svc.messages.readBefore(f.conv, f.before, f.limit + 1, s.uid);
    const [member, rows] = await Promise.all([this.svc.convs.isMember(f.conv, s.uid), read]);
    if (!member) return { frame: errorFrame(new ImError(ErrorCode.NOT_MEMBER, `${s.uid} is not a member of ${f.conv}`), { rid: f.rid, conv: f.conv }), bytes: 0 };
    const full = await this.svc.messages.withReactions(f.before === undefined ? rows.slice(0, f.limit) : rows.slice(-f.limit), s.uid);
    const page = fitPage(full, f.before !== undefined, maxBytes);
    return { frame: { type: 'history', rid: f.rid, conv: f.conv, msgs: page.msgs.map(toMsg), more: rows.length > f.limit || page.cut }, bytes: page.bytes };
  }

  /** Who reacted to a message, a page by uid; for members only, and only of a message served to them, as its history is. */
  private async reactors(s: Session, f: ClientFrameOf<'reactors'>): Promise<ServerFrame> {
    const [[member], rows] = await Promise.all([this.svc.convs.joinedRows(f.conv, [s.uid]), this.svc.messages.reactors(f.conv, f.seq, f.limit + 1, f.after, f.emoji)]);
    if (member === undefined) throw new ImError(ErrorCode.NOT_MEMBER, `${s.uid} is not a member of ${f.conv}`);
    // What they cleared, or what came before they joined a group that shows newcomers only what follows.
    if (f.seq <= member.clearedSeq) throw new ImError(ErrorCode.NOT_FOUND, `no message ${f.seq} in ${f.conv} for ${s.uid}`);
    return { type: 'reactors', rid: f.rid, conv: f.conv, seq: f.seq, reactors: rows.slice(0, f.limit), more: rows.length > f.limit };
  }

  private request<T>(s: Session, p: Promise<T>, ok: (v: T) => ServerFrame | undefined, ids: { cid?: number; rid?: number; conv?: string }): void {
    p.then(
      (v) => {
        const frame = ok(v);
        if (frame) this.reply(s, frame);
      },
      (err: unknown) => {
        const e = toImError(err);
        if (isOurFailure(e)) this.log.error({ uid: s.uid, code: e.code, err: e.message }, 'request failed');
        this.reply(s, errorFrame(e, ids));
      },
      // A throw in either (a malformed answer) would otherwise be an unhandled rejection, which ends the process.
    ).catch((err: unknown) => this.log.error({ uid: s.uid, err: toImError(err).message }, 'request answer failed'));
  }
}

/** The cid / rid / conv of a frame that failed validation, when they can be read, so the client knows which request failed. */
export function idsOf(data: ArrayBuffer): { cid?: number; rid?: number; conv?: string } {
  try {
    const v = decode(new Uint8Array(data)) as Record<string, unknown>;
    const ids: { cid?: number; rid?: number; conv?: string } = {};
    if (Number.isSafeInteger(v['cid'])) ids.cid = v['cid'] as number;
    if (Number.isSafeInteger(v['rid'])) ids.rid = v['rid'] as number;
    if (typeof v['conv'] === 'string' && v['conv'].length <= DEFAULT_LIMITS.maxIdLength) ids.conv = v['conv'];
    return ids;
  } catch {
    return {};
  }
}
