import type { ImError } from '../errors.js';
import type { ConvKind, ConvSummary, JoinedFrame, Msg } from '../frames.js';
import { DEFAULT_MAX_PULL_LIMIT } from '../limits.js';
import { HistoryBaseline, type ConversationInfo, type HistoryPage } from './conversation-info.js';
import { AckBatcher } from './ack-batcher.js';
import { GapPuller } from './gap-puller.js';
import { HidesCatchUp } from './hides-catch-up.js';
import { LeftConversations } from './left-conversations.js';
import { applyPeerLeft, applyReceipt } from './peer-marks.js';
import { applyJoined, applyListRow, infoOf, isBehind, listOrder, newChainState, rejoin, unreadFrom, type ChainField, type ChainState } from './chain-state.js';
import { applyCount, countCleared, countDelivered, resetCount, uncountMention } from './unread-count.js';
import { copyExtras, type SentDetail } from './send-entry.js';
import { DEFAULT_ACK_DELAY_MS, DEFAULT_LIST_STALE_GRACE_MS, DEFAULT_MAX_HELD, type ConversationChainsOptions } from './chain-options.js';

export { HistoryBaseline, type ConversationInfo, type HistoryPage } from './conversation-info.js';
export { DEFAULT_ACK_DELAY_MS, DEFAULT_LIST_STALE_GRACE_MS, DEFAULT_MAX_HELD, type ConversationChainsOptions } from './chain-options.js';

/**
 * Inbound ordering of README §7.2: per conversation `last`, the seq of the last message held with no gap
 * before it. `msg` frames either extend the chain (`prev === last`), repeat it (`seq <= last`) or open a gap,
 * which a `pull {after: last}` repairs before anything after the gap reaches the app.
 */
export class ConversationChains {
  private readonly history: HistoryBaseline;
  private readonly maxHeld: number;
  private readonly puller: GapPuller;
  private readonly convs = new Map<string, ChainState>();
  private readonly hides: HidesCatchUp;
  private readonly left: LeftConversations;
  private readonly acks: AckBatcher;
  private sawFirstList = false;
  /** A list came on this connection: what it did not show as hidden came live since (see handleHiddenAt). */
  private listedSinceConnect = false;
  private uid: string | undefined;
  private closed = false;
  /** When the last connection ended (epoch ms): what it brought is older than any list of the next one. */
  private disconnectedAt = 0;
  /**
   * Live messages of conversations this device does not hold (or left) that came before this connection's list:
   * applied once it set their baselines. Started at their `prev`, a conversation the user was added to while away
   * would count none of the messages before them as news.
   */
  private early: Msg[] | undefined;

  constructor(private readonly opts: ConversationChainsOptions) {
    this.history = opts.history ?? HistoryBaseline.LATEST;
    this.acks = new AckBatcher(opts.ackDelayMs ?? DEFAULT_ACK_DELAY_MS, (conv) => {
      const s = this.convs.get(conv);
      if (s === undefined) return true;
      if (!this.opts.ack(conv, s.last)) return false;
      s.ackedSeq = Math.max(s.ackedSeq, s.last);
      return true;
    });
    this.maxHeld = opts.maxHeld ?? DEFAULT_MAX_HELD;
    this.puller = new GapPuller({
      pull: opts.pull,
      accept: (s, page) => this.acceptPage(s, page),
      isOpen: opts.isOpen,
      isClosed: (s) => this.closed || this.convs.get(s.conv) !== s,
      limit: Math.min(opts.pullLimit ?? DEFAULT_MAX_PULL_LIMIT, DEFAULT_MAX_PULL_LIMIT),
      onPullError: opts.onPullError,
    });
    this.left = new LeftConversations((s) => (this.puller.clearRetry(s), this.convs.delete(s.conv)), opts.maxLeft);
    this.hides = new HidesCatchUp({ hides: opts.hides, isOpen: opts.isOpen, isClosed: () => this.closed, onError: opts.onPullError });
  }

  /** The user of this session (from `welcome`): their own messages do not count as unread. */
  setUid(uid: string): void {
    this.uid = uid;
  }

  /** The current state of every conversation the user is in, most recent message first (those with none last). */
  list(): ConversationInfo[] {
    const out: ConversationInfo[] = [];
    for (const s of this.convs.values()) if (!s.left) out.push(infoOf(s));
    // Stable: conversations with no message keep the order the server listed them in.
    return out.sort(listOrder);
  }

  /** The state of one conversation, if the user is in it. */
  get(conv: string): ConversationInfo | undefined {
    const s = this.convs.get(conv);
    return s === undefined || s.left ? undefined : infoOf(s);
  }

  /**
   * Applies a `convs` list (which began to arrive at `since`): sets baselines of new conversations and pulls whatever
   * is behind. The list is every conversation the user is in: one it lacks was left while this device was away (it
   * had no `left` frame); those are returned, taken out of the list as `left` takes them.
   */
  handleConvs(list: readonly ConvSummary[], since = Date.now()): string[] {
    if (this.closed) return [];
    // The very first list starts "from now". A conversation that appears in a later one is new to this device (made,
    // or the user added to it, since): with "from now" history, its unread messages are the news, the rest history
    // (a group of 50,000 messages the user was added to while away is not replayed as live messages).
    const baselineLatest = !this.sawFirstList && this.history === HistoryBaseline.LATEST;
    const unreadOnly = !baselineLatest && this.history === HistoryBaseline.LATEST;
    this.sawFirstList = true;
    // Acks due when the last session ended go out after its first list, not at `welcome`: an ack is a tell on the
    // server, which may overtake the attach that the list answers, and an ack from a device not attached yet is dropped.
    const first = !this.listedSinceConnect;
    if (first) this.acks.resume();
    this.listedSinceConnect = true;
    // What live frames of this connection said in the last seconds stands against a list, which the server may have
    // read before them (the first list too: news can reach a device attached before its list is read). What the last
    // connection brought does not: every list of this one was read after it.
    // A list in pages counts from its first page (`since`): the server read it then.
    const liveAfter = Math.max(Math.min(since, Date.now()) - (this.opts.listStaleGraceMs ?? DEFAULT_LIST_STALE_GRACE_MS), this.disconnectedAt);
    for (const row of list) {
      let s = this.convs.get(row.conv);
      // Left in the last seconds: this list may have been read before the removal, so it does not bring it back.
      if (s !== undefined && s.left && s.leftAt > liveAfter) continue;
      // One left and listed again was added back while away: it starts as one new to the list would.
      const baseline = baselineLatest ? row.lastSeq : unreadOnly ? unreadFrom(row) : 0;
      if (s === undefined) {
        s = this.create(row.conv, row.kind, baseline);
        s.hiddenAt = row.hiddenAt;
      } else {
        if (s.left) rejoin(s, baseline);
        this.hides.listed(s, row.hiddenAt);
      }
      // Read further here than the server knows: this device's mark was lost (a dropped socket, a refused read).
      // Sent again; its echo brings the exact counts.
      if (s.readSeq > row.readSeq) this.opts.reread?.(row.conv, s.readSeq);
      // Acked further here than the user's stored delivery mark: the ack was lost (a connector shard that moved, a
      // socket that dropped), and the peer's delivered ticks wait for it. Sent again; large groups keep no mark.
      if (row.deliveredSeq !== undefined && s.ackedSeq > row.deliveredSeq) this.acks.schedule(s.conv);
      applyListRow(s, row, liveAfter);
      this.clearTo(s, row.clearedSeq ?? 0);
      if (s.lastSeq > s.last) {
        // A fresh list means the server is answering again: a pull waiting out a retry delay goes now.
        this.puller.clearRetry(s);
        this.puller.start(s);
      }
    }
    const listed = new Set(list.map((r) => r.conv));
    const gone: string[] = [];
    for (const [conv, s] of this.convs) if (!listed.has(conv) && s.liveSince <= liveAfter && this.handleLeft(conv, false)) gone.push(conv);
    const early = this.early;
    this.early = undefined;
    if (early !== undefined) for (const m of early) this.handleMsg(m);
    return gone;
  }

  /**
   * A hide heard of live (`hidden` with its time): a later list with the same `hiddenAt` has nothing new. Only once
   * this connection's list is in: before it, one made while the device was away may be older and not yet asked for.
   */
  handleHiddenAt(conv: string, hiddenAt: number): void {
    const s = this.convs.get(conv);
    if (s !== undefined && this.listedSinceConnect) s.hiddenAt = Math.max(s.hiddenAt ?? 0, hiddenAt);
  }

  /**
   * Links this device's own message from its `sent` (the sending device gets no `msg` for it, README §5, §7.2).
   * Without `prev` (an older server) nothing is linked: the next message shows the gap and the pull brings it.
   */
  handleOwnSent(sent: { conv: string; seq: number; cid: number; ts: number }, own: { uid: string; did: string } & SentDetail): void {
    if (own.prev === undefined) return;
    const msg: Msg = { conv: sent.conv, seq: sent.seq, prev: own.prev, from: own.uid, did: own.did, cid: sent.cid, ts: sent.ts, body: own.body };
    copyExtras(msg, own);
    if (own.replyFrom !== undefined) msg.replyFrom = own.replyFrom;
    if (own.was !== undefined) msg.was = own.was;
    this.handleMsg(msg);
  }

  /** Applies a live `msg` frame. */
  handleMsg(msg: Msg): void {
    if (this.closed) return;
    let s = this.convs.get(msg.conv);
    if ((s === undefined || s.left) && this.sawFirstList && !this.listedSinceConnect) {
      // A retransmit of one already here takes no second place.
      const early = (this.early ??= []);
      if (early.length < this.maxHeld && !early.some((m) => m.conv === msg.conv && m.seq === msg.seq)) early.push(msg);
      return;
    }
    // First seen in a live message (news that overtook the first list, or the `joined`): with "from now" history,
    // start at it, as the list or the `joined` would have; with all of it, from the start.
    if (s === undefined) {
      s = this.create(msg.conv, 'group', this.history === HistoryBaseline.LATEST ? msg.prev : 0);
      s.liveSince = Date.now();
    }
    s.lastSeq = Math.max(s.lastSeq, msg.seq);
    if (msg.seq <= s.last) {
      this.acks.schedule(s.conv); // a retransmit: the server missed our ack
      return;
    }
    if (msg.prev === s.last) {
      this.deliver(s, msg);
      this.drainHeld(s);
      this.acks.schedule(s.conv);
      return;
    }
    if (!s.held.has(msg.seq) && s.held.size < this.maxHeld) s.held.set(msg.seq, msg);
    this.puller.start(s);
  }

  /**
   * Applies a read mark (the user's own, or the server's echo with the exact count it leaves): read marks never
   * move back, and any takes a mark as unread off. Returns whether the read mark, the unread count or that mark changed.
   */
  handleRead(conv: string, seq: number, count?: { unread: number; lastSeq: number; mentions?: number }): boolean {
    const s = this.convs.get(conv);
    // A conversation this device left (its list may be behind the server's) shows nothing, as `get` does.
    if (s === undefined || s.left) return false;
    const unmarked = s.markedUnreadAt > 0;
    s.markedUnreadAt = 0;
    const before = s.unread;
    const mentionsBefore = s.mentions;
    const moved = seq > s.readSeq;
    if (moved) s.readSeq = seq;
    if (!(count !== undefined && applyCount(s, count)) && moved && seq >= s.lastSeq) resetCount(s, seq);
    return moved || unmarked || s.unread !== before || s.mentions !== mentionsBefore;
  }

  /** Applies the server's count after a hide (a hidden message is not unread); true when the unread count or mentions changed. */
  handleCount(conv: string, count: { unread: number; lastSeq: number; mentions?: number }): boolean {
    const s = this.convs.get(conv);
    if (s === undefined || s.left) return false;
    const before = s.unread;
    const mentionsBefore = s.mentions;
    applyCount(s, count);
    return s.unread !== before || s.mentions !== mentionsBefore;
  }

  /** Applies the other member's read (`receipt`) or delivery (`delivered`) receipt; true when it moved that mark forward. */
  handleReceipt(conv: string, seq: number, kind: 'receipt' | 'delivered'): boolean {
    const s = this.convs.get(conv);
    return s !== undefined && applyReceipt(s, seq, kind);
  }

  /**
   * Sets what a frame says of a known conversation (`mute`, `silenced`, `prefs`, `pins`, `title`, `meta`, `posting`,
   * `retention`, `slowmode`; undefined: none now); false for a conversation not known yet (its list row will say).
   */
  handleFields(conv: string, fields: Partial<Pick<ChainState, ChainField>>): boolean {
    const s = this.convs.get(conv);
    if (s === undefined) return false;
    Object.assign(s, fields);
    const now = Date.now();
    for (const f of Object.keys(fields) as ChainField[]) (s.liveAt ??= {})[f] = now;
    return true;
  }

  /** The clear mark of `conv`, also while the user is out of it (0: never cleared): a `cleared` event tells only a move. */
  clearedSeq(conv: string): number {
    return this.convs.get(conv)?.clearedSeq ?? 0;
  }

  /**
   * The user's history of `conv` was cleared up to `seq` (`cleared`; a list's `clearedSeq` comes through
   * handleConvs): the chain moves past it, so nothing held, pulled or retransmitted at or below it reaches the app.
   * True when the mark moved.
   */
  handleCleared(conv: string, seq: number): boolean {
    const s = this.convs.get(conv);
    if (s === undefined || this.closed) return false;
    const moved = this.clearTo(s, seq);
    // A retention's expiry comes with no count (a clear's read echo does).
    if (moved) countCleared(s, seq);
    if (moved && isBehind(s)) this.puller.start(s);
    return moved;
  }

  /**
   * The user was added to `conv`, whose last message was `lastSeq` then. True when that is news: a conversation not
   * known, or one the user had left. With history from now, what came before `lastSeq` is history, not news (see rejoin).
   */
  handleJoined(j: Omit<JoinedFrame, 'type'>): boolean {
    const { conv, kind, lastSeq } = j;
    if (this.closed) return false;
    const baseline = this.history === HistoryBaseline.LATEST ? lastSeq : 0;
    let s = this.convs.get(conv);
    const news = s === undefined || s.left;
    if (s === undefined) s = this.create(conv, kind, baseline);
    else if (s.left) rejoin(s, baseline);
    if (news) s.liveSince = Date.now();
    applyJoined(s, j, news);
    this.clearTo(s, j.clearedSeq ?? 0);
    if (s.lastSeq > s.last) this.puller.start(s);
    return news;
  }

  /**
   * The user is no longer in `conv`: it leaves the list (its chain is kept for a return while among the last left,
   * see LeftConversations). True when it was in the list. `live`: told by a `left` frame, which a list read before it
   * may follow; a list's own absence is no newer than the next list.
   */
  handleLeft(conv: string, live = true): boolean {
    const s = this.convs.get(conv);
    if (s === undefined || s.left) return false;
    this.puller.clearRetry(s);
    this.left.leave(s, live);
    return true;
  }

  /**
   * A direct peer went offline at `lastSeen`, or without a time (hidden: either side has last seen off): their
   * conversation's `peerLastSeen` (a hashed id names nobody: none).
   */
  handlePeerLeft(peer: string, lastSeen: number | undefined): void {
    if (this.uid !== undefined) applyPeerLeft(this.convs.values(), this.uid, peer, lastSeen);
  }

  /** Acks of `convs` never went out (they waited for the pace when the connection ended): due again. */
  ackAgain(convs: readonly string[]): void {
    if (!this.closed) for (const conv of convs) this.acks.schedule(conv);
  }

  /** The connection closed: pulls in flight will fail; acks due wait for the next session. */
  disconnected(): void {
    this.disconnectedAt = Date.now();
    this.listedSinceConnect = false;
    // Not acked: the server sends them again, or the next list shows them.
    this.early = undefined;
    this.acks.pause();
    for (const s of this.convs.values()) this.puller.clearRetry(s);
  }

  /** Stops every timer and delivers nothing more. */
  close(): void {
    this.closed = true;
    this.disconnected();
    this.acks.clear();
  }

  private create(conv: string, kind: ConvKind, last: number): ChainState {
    const s = newChainState(conv, kind, last);
    this.convs.set(conv, s);
    return s;
  }

  private deliver(s: ChainState, msg: Msg): void {
    s.last = msg.seq;
    s.lastSeq = Math.max(s.lastSeq, msg.seq);
    // A recall, an edit or a reaction changes a message already there: it neither moves the conversation up nor
    // counts as unread.
    const plain = msg.recall === undefined && msg.edit === undefined && msg.react === undefined;
    if (plain) s.lastTs = Math.max(s.lastTs ?? 0, msg.ts);
    // A recalled message is pinned no more (the server's lists and `pins` leave it out from then on), nor a mention.
    if (msg.recall !== undefined && s.pins?.some((p) => p.seq === msg.recall) === true) s.pins = s.pins.filter((p) => p.seq !== msg.recall);
    if (msg.recall !== undefined) uncountMention(s, msg.seq, msg.recall);
    // A message this user hid (a stub a pull brought) is not unread, as the server counts it.
    countDelivered(s, msg, plain && msg.hidden !== true, this.uid);
    this.opts.deliver(msg);
  }

  private clearTo(s: ChainState, seq: number): boolean {
    if (seq <= s.clearedSeq) return false;
    s.clearedSeq = seq;
    if (seq > s.last) {
      // Acked so that the server stops retransmitting what was cleared (it settles the device's unacked messages).
      s.last = seq;
      s.lastSeq = Math.max(s.lastSeq, seq);
      this.drainHeld(s);
      this.acks.schedule(s.conv);
    }
    return true;
  }

  /** Delivers held messages that now chain onto `last`, and forgets those the chain has passed. */
  private drainHeld(s: ChainState): void {
    for (;;) {
      let next: Msg | undefined;
      for (const [seq, m] of s.held) {
        if (seq <= s.last) s.held.delete(seq);
        else if (m.prev === s.last) next = m;
      }
      if (next === undefined || this.closed) return;
      s.held.delete(next.seq);
      this.deliver(s, next);
    }
  }

  /**
   * A history page is every stored message with seq > the pull's `after`, ascending: so it is gap-free from
   * `after` on and can be taken in order even where a `prev` would not match (an older server, a baseline
   * that was not a real seq) — which also guarantees the pull loop always makes progress.
   */
  private acceptPage(s: ChainState, page: HistoryPage): void {
    for (const msg of page.msgs) {
      if (this.closed) return; // the app closed the client from a `message` handler
      if (msg.conv === s.conv && msg.seq > s.last) this.deliver(s, msg);
    }
    this.drainHeld(s);
    if (page.msgs.length > 0) this.acks.schedule(s.conv);
  }
}
