import { ErrorCode, ImError } from '../errors.js';
import type { ServerFrame } from '../frames.js';
import type { ImClientEvents, MembersPage, ReactorsPage } from './client-types.js';
import type { ConversationChains, HistoryPage } from './conversation-chain.js';
import type { TypedEmitter } from './events.js';
import type { OutboundQueue } from './outbound-queue.js';
import type { PendingRequests } from './pending-requests.js';
import { copyOf } from './chain-state.js';
import { ListPages } from './list-pages.js';
import { READ_RETRYABLE_CODES } from './pending-reads.js';

/** The frames that change the session's data rather than its connection (everything but `welcome`, `redirect`). */
export type DataFrame = Exclude<ServerFrame, { type: 'welcome' | 'redirect' }>;

export interface InboundFramesDeps {
  events: TypedEmitter<ImClientEvents>;
  requests: PendingRequests;
  chains: ConversationChains;
  outbound: OutboundQueue;
  /** A conversation list was applied (after its baselines are in place). */
  onSynced: () => void;
  /**
   * A read or an ack in `conv` was refused with a retryable code (such an error names only the conversation);
   * `waitMs`: the wait a `rate_limited` refusal named.
   */
  onConvRefused: (conv: string, waitMs?: number) => void;
}

/**
 * Routes the server's data frames to the part of the client each one changes: answers to their request,
 * messages and read marks to the conversation chains, `sent` and send errors to the outbound queue, and the
 * rest to the client's events. Kept apart from ImClient, which owns the connection's life.
 */
export class InboundFrames {
  /** Lists that come in several frames, while they do. */
  private readonly listPages = new ListPages();

  constructor(private readonly d: InboundFramesDeps) {}

  /** A new connection is welcomed: a list the last one left unfinished will not go on. */
  welcomed(): void {
    this.listPages.clear();
  }

  /** Applies one decoded data frame. */
  handle(f: DataFrame): void {
    const { events, requests, chains, outbound } = this.d;
    switch (f.type) {
      case 'convs': {
        const whole = this.listPages.take(f);
        if (whole === undefined) {
          // A long answer is still coming: its request is not timed out meanwhile.
          if (f.rid !== undefined && f.more === true) requests.extend(f.rid);
          return;
        }
        const list = whole.rows;
        if (f.rid !== undefined) requests.resolve(f.rid, list);
        // Clears made while this device was away (or before this client started: an app's stored messages). Told only
        // where the chain's mark moved: a row the list skips, or a mark a left conversation kept, is no news.
        const marks = new Map(list.filter((r) => r.clearedSeq !== undefined).map((r) => [r.conv, chains.clearedSeq(r.conv)]));
        const gone = chains.handleConvs(list, whole.since);
        this.d.onSynced();
        for (const conv of gone) events.emit('left', { conv });
        for (const [conv, before] of marks) if (chains.clearedSeq(conv) > before) events.emit('cleared', { conv, seq: chains.clearedSeq(conv) });
        return events.emit('convs', list);
      }
      case 'msg': {
        const { type: _type, ...msg } = f;
        return chains.handleMsg(msg);
      }
      case 'members':
        requests.resolve(f.rid, { conv: f.conv, members: f.members, more: f.more } satisfies MembersPage);
        return;
      case 'reactors':
        requests.resolve(f.rid, { conv: f.conv, seq: f.seq, reactors: f.reactors, more: f.more } satisfies ReactorsPage);
        return;
      case 'history':
        requests.resolve(f.rid, { conv: f.conv, msgs: f.msgs, more: f.more } satisfies HistoryPage);
        return;
      case 'sent':
        outbound.handleSent(f);
        return;
      case 'read': {
        const count = f.unread === undefined ? undefined : { unread: f.unread, lastSeq: f.lastSeq ?? f.seq, ...(f.mentions === undefined ? {} : { mentions: f.mentions }) };
        if (!chains.handleRead(f.conv, f.seq, count)) return;
        const c = chains.get(f.conv)!;
        return events.emit('read', { conv: f.conv, seq: c.readSeq, unread: c.unread, mentions: c.mentions });
      }
      case 'mute':
        if (f.rid !== undefined) requests.resolve(f.rid, f.until);
        chains.handleFields(f.conv, { mutedUntil: f.until });
        return events.emit('mute', { conv: f.conv, until: f.until });
      case 'silenced':
        chains.handleFields(f.conv, { silencedUntil: f.until });
        return events.emit('silenced', { conv: f.conv, until: f.until });
      case 'prefs': {
        const prefs = { pinnedAt: f.pinnedAt, archivedAt: f.archivedAt, markedUnreadAt: f.markedUnreadAt ?? 0 };
        chains.handleFields(f.conv, prefs);
        if (f.rid !== undefined) requests.resolve(f.rid, prefs);
        return events.emit('prefs', { conv: f.conv, ...prefs });
      }
      case 'pins':
        if (f.rid !== undefined) requests.resolve(f.rid, f.pins);
        if (chains.handleFields(f.conv, { pins: copyOf(f.pins) })) events.emit('pins', { conv: f.conv, pins: f.pins });
        return;
      case 'hidden': {
        if (f.rid !== undefined) requests.resolve(f.rid, f.seqs);
        if (f.hiddenAt !== undefined) chains.handleHiddenAt(f.conv, f.hiddenAt);
        events.emit('hidden', { conv: f.conv, seqs: f.seqs });
        if (f.unread === undefined || f.lastSeq === undefined) return;
        if (!chains.handleCount(f.conv, { unread: f.unread, lastSeq: f.lastSeq, ...(f.mentions === undefined ? {} : { mentions: f.mentions }) })) return;
        const c = chains.get(f.conv)!;
        return events.emit('read', { conv: f.conv, seq: c.readSeq, unread: c.unread, mentions: c.mentions });
      }
      case 'cleared':
        if (f.rid !== undefined) requests.resolve(f.rid, f.seq);
        if (chains.handleCleared(f.conv, f.seq)) events.emit('cleared', { conv: f.conv, seq: f.seq });
        return;
      case 'joined': {
        // As with a list row: what the app may hold of a conversation it rejoins, at or below this, goes.
        const before = chains.clearedSeq(f.conv);
        if (chains.handleJoined(f)) events.emit('joined', f.title === undefined ? { conv: f.conv, kind: f.kind } : { conv: f.conv, kind: f.kind, title: f.title });
        if (chains.clearedSeq(f.conv) > before) events.emit('cleared', { conv: f.conv, seq: chains.clearedSeq(f.conv) });
        return;
      }
      case 'meta':
        if (chains.handleFields(f.conv, { meta: f.meta })) events.emit('meta', f.meta === undefined ? { conv: f.conv } : { conv: f.conv, meta: f.meta });
        return;
      case 'title':
        if (chains.handleFields(f.conv, { title: f.title })) events.emit('title', f.title === undefined ? { conv: f.conv } : { conv: f.conv, title: f.title });
        return;
      case 'posting':
        if (chains.handleFields(f.conv, { posting: f.posting === 'admins' ? f.posting : undefined })) events.emit('posting', { conv: f.conv, posting: f.posting });
        return;
      case 'retention':
        if (chains.handleFields(f.conv, { retention: f.retention > 0 ? f.retention : undefined })) events.emit('retention', { conv: f.conv, retention: f.retention });
        return;
      case 'slowmode':
        if (chains.handleFields(f.conv, { slowMode: f.slowMode > 0 ? f.slowMode : undefined })) events.emit('slowMode', { conv: f.conv, slowMode: f.slowMode });
        return;
      case 'roles':
        return events.emit('roles', { conv: f.conv, roles: f.roles });
      case 'left':
        if (f.rid !== undefined) requests.resolve(f.rid, undefined);
        if (chains.handleLeft(f.conv)) events.emit('left', { conv: f.conv });
        return;
      case 'receipt':
      case 'delivered':
        if (chains.handleReceipt(f.conv, f.seq, f.type)) events.emit(f.type, { conv: f.conv, uid: f.uid, seq: f.seq });
        return;
      case 'typing':
        return events.emit('typing', { conv: f.conv, from: f.from });
      case 'presence':
        // Offline without a time: one of the two has last seen off, so what was shown before is hidden now too.
        if (!f.online) chains.handlePeerLeft(f.uid, f.lastSeen);
        if (f.lastSeen === undefined) return events.emit('presence', { uid: f.uid, online: f.online });
        return events.emit('presence', { uid: f.uid, online: f.online, lastSeen: f.lastSeen });
      case 'pong':
        return;
      case 'refreshed':
        requests.resolve(f.rid, f.exp);
        return;
      case 'reported':
        requests.resolve(f.rid, undefined);
        return;
      case 'error': {
        const error = new ImError(f.code, f.message);
        if (f.retryAfterMs !== undefined) error.retryAfterMs = f.retryAfterMs;
        // Answers to a cid or rid nobody waits for any more (a re-send, a timed-out request) are dropped.
        if (f.cid !== undefined) outbound.handleError(f.cid, error);
        else if (f.rid !== undefined) {
          this.listPages.drop(f.rid);
          requests.reject(f.rid, error);
        }
        else {
          if (f.conv !== undefined && READ_RETRYABLE_CODES.has(error.code)) this.d.onConvRefused(f.conv, error.code === ErrorCode.RATE_LIMITED ? error.retryAfterMs : undefined);
          events.emit('error', error);
        }
        return;
      }
    }
  }
}
