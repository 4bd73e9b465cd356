import type { ConvKind, ConvSummary, MemberInfo, MemberRole, Msg, Pin, Posting, Reactor, RedirectReason, WelcomeFrame } from '../frames.js';
import type { ImError } from '../errors.js';
import type { HistoryBaseline } from './conversation-chain.js';
import type { FetchLike } from './endpoint-list.js';
import type { SendResult } from './send-entry.js';
import type { OutboxStore } from './outbox.js';
import type { WebSocketConstructor } from './socket.js';

/** The public option, event and state types of ImClient. */

/** A page of a conversation's members by uid (`members()`); `more`: ask again with `after` = the last uid. */
export interface MembersPage { conv: string; members: MemberInfo[]; more: boolean }
/** A page of who reacted to message `seq` of `conv`, by uid (`more`: others remain after the last). */
export interface ReactorsPage { conv: string; seq: number; reactors: Reactor[]; more: boolean }

/** Where the client stands. `closed` is final: a closed client never reconnects. */
export const ConnectionState = { CONNECTING: 'connecting', OPEN: 'open', RECONNECTING: 'reconnecting', CLOSED: 'closed' } as const;
export type ConnectionState = (typeof ConnectionState)[keyof typeof ConnectionState];

/** A state change; `code`/`reason` are those of the close that caused it, if any. */
export interface StateChange { state: ConnectionState; code?: number; reason?: string }

/** The events of {@link ImClient}. */
export interface ImClientEvents {
  /** A message, in order per conversation and exactly once; this device's own messages too (linked from `sent`). */
  message: Msg;
  /** A `send` became durable. */
  sent: SendResult;
  /** A `send` failed for good (a non-retryable error); its promise rejects too. `body`: what it said (one restored from an outbox has no promise the app holds). */
  sendFailed: { cid: number; conv: string; body: string; error: ImError };
  /**
   * A re-sent `send` (its answer was lost) was stored before and has since passed the conversation's retention: it
   * was sent, and is gone, so drop it as other expired messages, not as failed. Its promise rejects with `expired`.
   */
  sendExpired: { cid: number; conv: string; body: string };
  /** A `send` met a retryable error (`unavailable`, `timeout`, ...) and will be sent again; its promise stays pending. */
  sendRetry: { cid: number; conv: string; body: string; error: ImError };
  /** A conversation's read mark or unread count changed (a mark made here or on another device, as the server echoes it, or a hide). */
  read: { conv: string; seq: number; unread: number; mentions: number };
  /** The user was added to a conversation (it is in `conversations()` now, before any message). */
  joined: { conv: string; kind: ConvKind; title?: string };
  /** A group's title changed (absent: it has none now); `conversations()` shows it. */
  title: { conv: string; title?: string };
  /** A group's app-defined data changed (absent: it has none now); `conversations()` shows it. */
  meta: { conv: string; meta?: string };
  /** Who may post in a group changed (`admins`: only owners and admins; `conversations()` shows it as `posting`). */
  posting: { conv: string; posting: Posting };
  /** A group's slow mode changed (seconds a plain member waits between posts; 0: off); `conversations()` shows it as `slowMode`. */
  slowMode: { conv: string; slowMode: number };
  /** How long `conv`'s messages are kept changed (seconds after they were sent; 0: as long as the server keeps them): drop older ones you hold. */
  retention: { conv: string; retention: number };
  /** Members of a group got new roles (the business server gave them; `members()` shows them too). */
  roles: { conv: string; roles: Record<string, MemberRole> };
  /** The user was removed from a conversation (it is gone from `conversations()`); also for one a fresh list no longer has (left while offline). */
  left: { conv: string };
  /** The user's mute of `conv` changed, here or on another device (`until`: epoch ms; 0: unmuted). */
  mute: { conv: string; until: number };
  /** The pinned messages of `conv` changed (pinned or unpinned here, by another member, or by the business server): all of them now, the latest pin first; `conversations()` shows them as `pins`. */
  pins: { conv: string; pins: Pin[] };
  /** The business server silenced the user in group `conv` until `until` (epoch ms; 0: lifted): no posts, reactions or edits there till then; `conversations()` shows it as `silencedUntil`. */
  silenced: { conv: string; until: number };
  /** The user pinned, archived or undid either for `conv`, here or on another device (0: not pinned / archived); `conversations()` shows it. */
  prefs: { conv: string } & ConvPrefs;
  /**
   * The user's history of `conv` was cleared up to `seq` (here, on another device, by the business server, or found in
   * a list): drop what you show or store at or below it; `conversations()` shows it as `clearedSeq`.
   */
  cleared: { conv: string; seq: number };
  /** The user hid messages `seqs` of `conv` ("delete for me"; here, on another device or by the business server): stop showing them. Pulled later, they come as stubs with `hidden: true`. */
  hidden: { conv: string; seqs: number[] };
  /** The other member of a direct conversation read up to `seq` (their mark moved forward; also `peerRead` of the conversation). */
  receipt: { conv: string; uid: string; seq: number };
  /** A device of the other member of a direct conversation holds up to `seq` (their delivery mark moved forward; also `peerDelivered`). */
  delivered: { conv: string; uid: string; seq: number };
  typing: { conv: string; from: string };
  /** A direct peer came online or went offline (`lastSeen`: when, epoch ms); also, right after connecting, each one online then. */
  presence: { uid: string; online: boolean; lastSeen?: number };
  /** The conversation list (after each connect and each `sync`). */
  convs: ConvSummary[];
  /** The session opened: who the server says we are, and its heartbeat. */
  welcome: WelcomeFrame;
  state: StateChange;
  /** A server `error` not tied to a send or request, an undecodable frame, or a failed connection attempt. */
  error: ImError;
  redirect: { endpoints: string[]; reason: RedirectReason };
}

export interface ImClientOptions {
  /** One endpoint, `ws://host:port/ws`. */
  url?: string;
  /** Endpoints, best first. */
  endpoints?: string[];
  /** Dispatcher base URL (http); needs `uid`. */
  dispatcherUrl?: string;
  uid?: string;
  /** The JWT, or a function fetching a fresh one (called again after 4001 or a refused upgrade). */
  token: string | (() => string | Promise<string>);
  /** Default `globalThis.WebSocket`; on Node 20 pass `WebSocket` from the `ws` package. */
  WebSocket?: WebSocketConstructor;
  /** Default `globalThis.fetch` (dispatcher lookups only). */
  fetch?: FetchLike;
  /**
   * Where each conversation starts: its whole history, or from now (default: the first list's at their last message,
   * later ones at their unread messages, one first seen live at that message; one the user is in again after leaving
   * it, as a new one unless its chain reaches further).
   */
  history?: HistoryBaseline;
  ackDelayMs?: number;
  reconnect?: { baseMs?: number; capMs?: number; resetAfterMs?: number };
  /** Timeout of `pull`, `sync`, a dispatcher lookup and of connecting up to `welcome`. Default 10 s. */
  requestTimeoutMs?: number;
  /** Unanswered sends of a conversation are re-sent after this long; 0 disables. Default 10 s. */
  sendRetryMs?: number;
  cidStart?: number;
  maxQueue?: number;
  /**
   * Keeps unacknowledged sends across app restarts (e.g. `storageOutbox(localStorage, key)`, one key per user and
   * device): a later client with the same outbox sends them at its first `welcome`, and the server's dedup makes
   * a send that was stored already count once. Without it, what is queued when the app exits is lost.
   */
  outbox?: OutboxStore;
  /** Uniform random in [0, 1) for every jitter; injectable for tests. */
  random?: () => number;
}

/** A conversation's pin, archive and mark as unread as stored (epoch ms; 0: not pinned / not archived / not marked). */
export interface ConvPrefs {
  pinnedAt: number;
  archivedAt: number;
  markedUnreadAt: number;
}
