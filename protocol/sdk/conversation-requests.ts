import { MUTED_FOREVER, type ClientFrame, type ConvSummary, type Pin } from '../frames.js';
import { DEFAULT_MAX_PULL_LIMIT } from '../limits.js';
import type { ConvPrefs, MembersPage, ReactorsPage } from './client-types.js';
import type { HistoryPage } from './conversation-chain.js';
import type { SendExtras, SendResult } from './send-entry.js';

/**
 * What a client asks for and gets an answer to: sends, recalls, edits and reactions (matched by `cid`, kept in the
 * outbound queue until answered), and (matched by `rid`) history pages, member and reactor pages, mutes,
 * list preferences, leaving, clearing and the list itself. Each rejects with the server's coded error; a request also
 * on timeout, while a send waits across reconnects. The connection that carries them is ImClient's.
 */
export abstract class ConversationRequests {
  /** Sends the frame a `rid` makes once connected; resolves with its answer. */
  protected abstract request<T>(what: string, frame: (rid: number) => ClientFrame): Promise<T>;
  /** The last seq of `conv` this device holds (0: none). */
  protected abstract lastHeld(conv: string): number;
  /** Queues a send (README §7.1); resolves once it is durable. */
  protected abstract enqueue(conv: string, body: string, extras: SendExtras): Promise<SendResult>;
  /** Resolves once this client's sends to `conv` are answered, or after a while without that. */
  protected abstract sendsAnswered(conv: string): Promise<void>;

  /**
   * Queues a message (also while disconnected); resolves once it is durable, with its seq. `mentions`: the members
   * it names (1–50 user ids), told so in their lists' `mentions` count and in push events (`mentionAll`: every member;
   * a group's owners and admins only, else `forbidden`); `reply`: the seq of the message it answers (§4, Reply; its
   * sender is told as if mentioned). Rejects with `not_found` or `conflict`, or with `expired` (`sendExpired`): a
   * re-send found it stored and since past the conversation's retention.
   */
  send(conv: string, body: string, opts: { mentions?: string[]; mentionAll?: boolean; reply?: number } = {}): Promise<SendResult> {
    const { mentions, mentionAll, reply } = opts;
    return this.enqueue(conv, body, { ...(mentions !== undefined && { mentions }), ...(mentionAll === true && { mentionAll }), ...(reply !== undefined && { reply }) });
  }

  /**
   * Takes back this user's message `seq` (protocol/README.md §4, Recall); members get a `message` with `recall` = `seq`.
   * `body` is what a client that knows no recalls shows. Rejects with `forbidden`, `conflict` or `not_found`.
   */
  recall(conv: string, seq: number, body = ''): Promise<SendResult> {
    return this.enqueue(conv, body, { recall: seq });
  }

  /** Gives this user's message `seq` the text `body` (§4, Edit); members get a `message` with `edit` = `seq`. Rejects as `recall`. */
  edit(conv: string, seq: number, body: string): Promise<SendResult> {
    return this.enqueue(conv, body, { edit: seq });
  }

  /**
   * Makes `emoji` (at most 32 bytes; `''` takes it back) this user's reaction to message `seq` of `conv`, replacing
   * their earlier one (§4, React); members get a `message` with `react` = `seq`. Rejects with `conflict` or `not_found`.
   */
  react(conv: string, seq: number, emoji: string): Promise<SendResult> {
    return this.enqueue(conv, emoji, { react: seq });
  }

  /** Fetches messages of `conv` with seq > `after`, at most `limit` (1–200); rejects on error or timeout. */
  pull(conv: string, after: number, limit: number = DEFAULT_MAX_PULL_LIMIT): Promise<HistoryPage> {
    return this.request<HistoryPage>('pull', (rid) => ({ type: 'pull', rid, conv, after, limit }));
  }

  /**
   * Fetches the newest messages of `conv` with seq < `before`, at most `limit` (1–200), ascending: "load older" when
   * scrolling back (`more`: there are older ones still). They are returned, not emitted as `message` events.
   */
  pullBefore(conv: string, before: number, limit: number = DEFAULT_MAX_PULL_LIMIT): Promise<HistoryPage> {
    return this.request<HistoryPage>('pull', (rid) => ({ type: 'pull', rid, conv, before, limit }));
  }

  /**
   * Fetches a page of the members of `conv` by uid (after uid `after`, at most `limit`, 1–200) with the read marks you
   * may see: "seen by" in a group is the members whose `readSeq` reaches a message. Rejects with `not_member`.
   */
  members(conv: string, opts: { after?: string; limit?: number } = {}): Promise<MembersPage> {
    const { after, limit = DEFAULT_MAX_PULL_LIMIT } = opts;
    return this.request<MembersPage>('members', (rid) => ({ type: 'members', rid, conv, limit, ...(after === undefined ? {} : { after }) }));
  }

  /**
   * Fetches a page of who reacted to message `seq` of `conv` (history gives counts only), by uid: after uid `after`,
   * at most `limit` (1–200), only those whose reaction is `emoji` if given. Rejects with `not_member`.
   */
  reactors(conv: string, seq: number, opts: { after?: string; emoji?: string; limit?: number } = {}): Promise<ReactorsPage> {
    const { after, emoji, limit = DEFAULT_MAX_PULL_LIMIT } = opts;
    return this.request<ReactorsPage>('reactors', (rid) => ({ type: 'reactors', rid, conv, seq, limit, ...(after === undefined ? {} : { after }), ...(emoji === undefined ? {} : { emoji }) }));
  }

  /**
   * Mutes `conv` on all of this user's devices until `until` (epoch ms; default for good): the app's push service is
   * told its messages are muted. Resolves with the stored `until`; rejects with `not_member`.
   */
  mute(conv: string, until: number = MUTED_FOREVER): Promise<number> {
    return this.request<number>('mute', (rid) => ({ type: 'mute', rid, conv, until }));
  }

  /** Leaves group `conv` (on all of this user's devices); rejects with `not_member`, or `forbidden` for a direct conversation. */
  async leave(conv: string): Promise<void> {
    // After the sends made before it: one waiting to go again (its shard was moving) would be refused `not_member`.
    await this.sendsAnswered(conv);
    return this.request<void>('leave', (rid) => ({ type: 'leave', rid, conv }));
  }

  /** Ends a mute of `conv` (see `mute`). */
  unmute(conv: string): Promise<number> {
    return this.mute(conv, 0);
  }

  /** Pins (or with `false` unpins) `conv` on all of this user's devices: pinned ones list first. Rejects with `not_member`. */
  pin(conv: string, pinned = true): Promise<ConvPrefs> {
    return this.request<ConvPrefs>('prefs', (rid) => ({ type: 'prefs', rid, conv, pinned }));
  }

  /** Archives (or with `false` unarchives) `conv` on all of this user's devices; it keeps getting messages. */
  archive(conv: string, archived = true): Promise<ConvPrefs> {
    return this.request<ConvPrefs>('prefs', (rid) => ({ type: 'prefs', rid, conv, archived }));
  }

  /**
   * Marks `conv` unread (or with `false` takes the mark off) on all of this user's devices: `conversations()` shows
   * `markedUnreadAt` until the user's next read mark there (`read()`, on any device), which takes it off.
   */
  markUnread(conv: string, unread = true): Promise<ConvPrefs> {
    return this.request<ConvPrefs>('prefs', (rid) => ({ type: 'prefs', rid, conv, unread }));
  }

  /**
   * Clears `conv`'s history for this user, on every device ("clear chat"), up to `seq` (default: the last message this
   * device holds): nothing at or below it is served to the user again, and it counts as read. Every device gets a
   * `cleared` event (this one too) to drop what it shows. Resolves with the stored mark; rejects with `not_member`.
   */
  clear(conv: string, seq = this.lastHeld(conv)): Promise<number> {
    return this.request<number>('clear', (rid) => ({ type: 'clear', rid, conv, seq }));
  }

  /**
   * Hides messages `seqs` of `conv` (1–100) from this user's history on every device ("delete for me"); the others
   * in the conversation keep them. Every device gets a `hidden` event (this one too). Resolves with the seqs hidden
   * now (recalls, edits, reactions and seqs with no message are left out); rejects with `not_member`.
   */
  hide(conv: string, seqs: number[]): Promise<number[]> {
    return this.request<number[]>('hide', (rid) => ({ type: 'hide', rid, conv, seqs }));
  }

  /**
   * Which messages of `conv` the user hid (the latest 10,000 by seq, ascending), also emitted as a `hidden` event.
   * The client asks by itself for a conversation it knew when the list shows hides made while it was away; an app
   * that stores messages asks when `hiddenAt` is later than what it stored. Rejects with `not_member`.
   */
  hiddenMessages(conv: string): Promise<number[]> {
    return this.request<number[]>('hides', (rid) => ({ type: 'hides', rid, conv }));
  }

  /**
   * Pins message `seq` of `conv` for every member (or with `false` unpins it); in a group only owners and admins may.
   * Resolves with the conversation's pins then, the latest first (every member online gets a `pins` event). Rejects
   * with `forbidden`, `not_found` (no such message), `conflict` (recalled), `invalid_field` (a recall, an edit or a
   * reaction) or `limit_reached` (50 pinned already).
   */
  pinMessage(conv: string, seq: number, pinned = true): Promise<Pin[]> {
    return this.request<Pin[]>('pin', (rid) => ({ type: 'pin', rid, conv, seq, pinned }));
  }

  /**
   * Reports message `seq` of `conv` to the app's moderators (abuse, spam), with a `reason` of the app's choosing (at
   * most 1 KiB): the business server gets a `report` event. Rejects with `not_member`, `not_found`, or `rate_limited`
   * past 20 a minute on this connection.
   */
  report(conv: string, seq: number, reason?: string): Promise<void> {
    return this.request<void>('report', (rid) => ({ type: 'report', rid, conv, seq, ...(reason === undefined ? {} : { reason }) }));
  }

  /** Fetches the conversation list again (also updates unread counts and catches up what is behind). */
  sync(): Promise<ConvSummary[]> {
    return this.request<ConvSummary[]>('sync', (rid) => ({ type: 'sync', rid }));
  }
}
