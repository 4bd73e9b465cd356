import type { ErrorCode } from './errors.js';

/**
 * The client wire protocol: one msgpack map per binary WebSocket message, keyed on `type`.
 * Shapes are defined once here, validated in validate.ts, documented in README.md.
 */

/** Kinds of conversation: `direct` has exactly two members and a deterministic id. */
export const ConvKind = { DIRECT: 'direct', GROUP: 'group' } as const;
export type ConvKind = (typeof ConvKind)[keyof typeof ConvKind];
/** Who may post in a group: every member (the default), or its owners and admins only (an announcement group). */
export const Posting = { ALL: 'all', ADMINS: 'admins' } as const;
export type Posting = (typeof Posting)[keyof typeof Posting];
/** What a group shows members added later: all of its history, or only what follows their joining (a group's rule). */
export const NewcomerHistory = { ALL: 'all', JOINED: 'joined' } as const;
export type NewcomerHistory = (typeof NewcomerHistory)[keyof typeof NewcomerHistory];

/** Why the server moves a client: it drains, it is full, or the user belongs elsewhere. */
export const RedirectReason = { DRAIN: 'drain', OVERLOADED: 'overloaded', MOVED: 'moved' } as const;
export type RedirectReason = (typeof RedirectReason)[keyof typeof RedirectReason];

/** A member's role in a conversation (the server API sets it; the owner created the group). */
export const MemberRole = { OWNER: 'owner', ADMIN: 'admin', MEMBER: 'member' } as const;
export type MemberRole = (typeof MemberRole)[keyof typeof MemberRole];

// ---- client → server -------------------------------------------------------------------------------------

/**
 * Send a message. `cid` (client msg id) is a positive integer, strictly increasing per device. `after` is the
 * cid of this device's previous send to the same conversation (absent for the first one this client knows of):
 * the server refuses a send whose predecessor it has not stored (`out_of_order`), which keeps sender order.
 */
/**
 * A message; with `recall` (a seq of the sender's own), a recall of that message (then `body` may be empty); with
 * `edit`, a new text (`body`) for that message of the sender's own; with `react`, the sender's reaction to that
 * message (`body`, at most `MAX_REACTION_BYTES`; empty takes the reaction back). At most one of the three.
 * `mentions`: the members the message names (1–`MAX_MENTIONS` user ids), `mentionAll`: it names every member (a
 * group's owners and admins only), and `reply`: the seq of the message it answers (quotes), on a plain message only.
 */
export interface SendFrame { type: 'send'; conv: string; cid: number; body: string; after?: number; recall?: number; edit?: number; react?: number; mentions?: string[]; mentionAll?: boolean; reply?: number }
/** Cumulative delivery ack: "I have every message of `conv` up to `seq`". */
export interface AckFrame { type: 'ack'; conv: string; seq: number }
/** Read mark: the user has read `conv` up to `seq`. */
export interface ReadFrame { type: 'read'; conv: string; seq: number }
/**
 * Fetch at most `limit` messages of `conv`: the first ones with seq > `after` (catching up), or the last ones with
 * seq < `before` (scrolling back: seqs may skip numbers, so "the 50 before X" cannot be worked out as `after: X - 51`).
 * Answered by `history` with the same `rid`, ascending either way.
 */
export type PullFrame = { type: 'pull'; rid: number; conv: string; limit: number } & ({ after: number; before?: never } | { before: number; after?: never });
/**
 * Fetch a page of the members of `conv` (at most `limit`, by uid, those after uid `after`) with their read marks:
 * answered by `members` with the same `rid` (who is in a group, and who has read a message: "seen by").
 */
export interface MembersFrame { type: 'members'; rid: number; conv: string; after?: string; limit: number }
/**
 * Fetch a page of who reacted to message `seq` of `conv` (at most `limit`, by uid, those after uid `after`; only
 * those whose reaction is `emoji`, if given): answered by `reactors` with the same `rid`.
 */
export interface ReactorsFrame { type: 'reactors'; rid: number; conv: string; seq: number; after?: string; emoji?: string; limit: number }
/** Ask for the conversation list again; answered by `convs` with the same `rid`. */
export interface SyncFrame { type: 'sync'; rid: number }
/** The user is typing in `conv` (ephemeral). */
export interface TypingFrame { type: 'typing'; conv: string }
/** Heartbeat; answered by `pong` echoing `ts`. */
export interface PingFrame { type: 'ping'; ts?: number }
/**
 * A new token for this session, before the current one expires: answered by `refreshed` with the same `rid` (the
 * session now lasts until the new token's `exp`), or `error` with it (the session keeps its old expiry).
 */
export interface RefreshFrame { type: 'refresh'; rid: number; token: string }
/** Leave group `conv` (a direct conversation cannot be left): answered by `left` with the same `rid`. */
export interface LeaveFrame { type: 'leave'; rid: number; conv: string }
/**
 * Mute `conv` for this user (every device) until `until` (epoch ms; MUTED_FOREVER for good, 0 unmutes): the app's
 * push service is told the conversation is muted. Answered by `mute` with the same `rid`.
 */
export interface MuteFrame { type: 'mute'; rid: number; conv: string; until: number }

/**
 * The user's own list preferences for `conv`, on every device: `pinned` (pinned conversations list first),
 * `archived` (the app shows it apart) and `unread` ("mark as unread": the app shows it as unread until the user's
 * next read mark there); at least one. Answered by `prefs` with the same `rid`.
 */
export interface PrefsFrame { type: 'prefs'; rid: number; conv: string; pinned?: boolean; archived?: boolean; unread?: boolean }

/**
 * Clear `conv`'s history for this user (every device) up to `seq`, the latest message the device shows: the user
 * is served nothing at or below it from then on, and it counts as read. Never moves back; capped at the
 * conversation's last message. Others keep theirs. Answered by `cleared` with the same `rid`.
 */
export interface ClearFrame { type: 'clear'; rid: number; conv: string; seq: number }

/**
 * "Delete for me": hide messages `seqs` of `conv` (1–MAX_HIDE_SEQS) from this user's history, on every device; others
 * keep them. Answered by `hidden` with the same `rid`, listing those hidden now.
 */
export interface HideFrame { type: 'hide'; rid: number; conv: string; seqs: number[] }

/**
 * Which messages of `conv` this user hid (the latest 10,000 by seq), for a device that was away when they were hidden
 * (its list row's `hiddenAt` is later than what it knows). Answered by `hidden` with the same `rid`.
 */
export interface HidesFrame { type: 'hides'; rid: number; conv: string }

/**
 * Pin message `seq` of `conv` for every member (`pinned: false` unpins it); in a group only its owners and admins
 * may. Answered by `pins` with the same `rid`: the conversation's pinned messages now.
 */
export interface PinFrame { type: 'pin'; rid: number; conv: string; seq: number; pinned: boolean }

/**
 * Report message `seq` of `conv` to the app's moderators (abuse, spam), with an optional `reason` of the app's
 * choosing: the business server gets a `report` event. Answered by `reported` with the same `rid`.
 */
export interface ReportFrame { type: 'report'; rid: number; conv: string; seq: number; reason?: string }

/** `mute.until` for a conversation muted until it is unmuted: the latest time a JavaScript Date can hold. */
export const MUTED_FOREVER = 8_640_000_000_000_000;

export type ClientFrame = SendFrame | AckFrame | ReadFrame | PullFrame | MembersFrame | ReactorsFrame | SyncFrame | TypingFrame | PingFrame | RefreshFrame | MuteFrame | LeaveFrame | PrefsFrame | ClearFrame | HideFrame | HidesFrame | PinFrame | ReportFrame;

export const CLIENT_FRAME_TYPES = ['send', 'ack', 'read', 'pull', 'members', 'reactors', 'sync', 'typing', 'ping', 'refresh', 'mute', 'leave', 'prefs', 'clear', 'hide', 'hides', 'pin', 'report'] as const;
export type ClientFrameType = (typeof CLIENT_FRAME_TYPES)[number];
/** The client frame of one type, e.g. `ClientFrameOf<'send'>`. */
export type ClientFrameOf<T extends ClientFrameType> = Extract<ClientFrame, { type: T }>;

// ---- server → client -------------------------------------------------------------------------------------

/** A message as delivered (`msg`) and as returned by `pull` (`history.msgs`). */
export interface Msg {
  conv: string;
  seq: number;
  /** The previous seq of this conversation, 0 for the first: a gap shows as `prev` ≠ the last seq held. */
  prev: number;
  /** Sender user id. */
  from: string;
  /** Sender device id. */
  did: string;
  /** The sender device's client msg id (0 for system messages). */
  cid: number;
  /** Commit time, ms since the epoch. */
  ts: number;
  body: string;
  /** This message recalls message `recall` of the conversation: hide that one (its body is gone from the server). */
  recall?: number;
  /** In history only: message `recalled` recalled this one, whose body is now empty. */
  recalled?: number;
  /** This message edits message `edit` of the conversation: show its `body` in that one's place. */
  edit?: number;
  /** In history only: message `edited` is the latest edit of this one, whose body is now that edit's. */
  edited?: number;
  /** This message is `from`'s reaction to message `react`: `body` is the reaction, empty when `from` took theirs back. */
  react?: number;
  /** A reaction's: the reaction of `from`'s to that message it replaces (absent: they had none). */
  was?: string;
  /** In history only: the reactions this message has now (absent when it never had any). */
  reactions?: Reactions;
  /** The users the message mentions, as its sender gave them. */
  mentions?: string[];
  /** The message mentions every member ("@all"). */
  mentionAll?: true;
  /** This message replies to message `reply` of the conversation, which `replyFrom` sent. */
  reply?: number;
  replyFrom?: string;
  /** In history only: the reader hid this message ("delete for me"); it keeps its place in the chain, and nothing else. */
  hidden?: true;
}

/**
 * A message's reactions as history gives them. A client keeps them by applying each later reaction message (seq
 * above `at`): one off `was`, one on `body` (protocol/README.md §4, React).
 */
export interface Reactions {
  /** Each reaction at least one user has, in the order they were first used (at most MAX_REACTION_KINDS). */
  counts: ReactionCount[];
  /** The seq of the last reaction to the message that these counts include. */
  at: number;
  /** The reader's own reaction, when they have one. */
  mine?: string;
}

/** `n` users have reacted to a message with `emoji`. */
export interface ReactionCount {
  emoji: string;
  n: number;
}

/** One user's current reaction to a message (in a `reactors` page): `seq` is the message that made it. */
export interface Reactor {
  uid: string;
  emoji: string;
  seq: number;
}

/** A pinned message of a conversation: its seq, who pinned it (absent: the business server) and when (epoch ms). */
export interface Pin {
  seq: number;
  by?: string;
  at: number;
}

/**
 * One row of the conversation list. `title`: a group's, if it has one; `meta`: a group's app-defined data, if any; `lastTs`: when its last message (not a recall, edit or reaction) was committed
 * (epoch ms; absent with none yet); `peerRead`: in a direct conversation, the
 * other member's read mark; `peerDelivered`: their delivery mark (their devices hold every message up to it);
 * `mutedUntil`: the user muted the conversation until then (epoch ms; absent when it is not muted now); `pinnedAt` /
 * `archivedAt`: when the user pinned / archived it (epoch ms; absent when not); `markedUnreadAt`: when the user marked it
 * unread (epoch ms; absent when not, or read since); `mentions`: how many of the unread
 * messages mention the user (absent when none); `clearedSeq`: the user cleared the history up to it (absent: never);
 * `posting`: `admins` in a group where only owners and admins may post (absent: every member may); `retention`: its
 * messages disappear this many seconds after they were sent (absent: as long as the cluster keeps them);
 * `silencedUntil`: the business server silenced the user in this group until then (epoch ms; absent when not now);
 * `pins`: its pinned messages, the latest pin first (absent: none); `slowMode`: a group's slow mode, seconds (absent:
 * off); `hiddenAt`: when the user last hid messages there (epoch ms; absent: never): a device that holds messages
 * from before asks `hides` for them when it is later than what it knows. `seenSeq` (with `unread` > 0): the unread
 * messages are those after it (seqs are not consecutive, so `lastSeq − unread` is no such point).
 */
export interface ConvSummary { conv: string; kind: ConvKind; title?: string; meta?: string; lastSeq: number; lastTs?: number; readSeq: number; deliveredSeq?: number; unread: number; seenSeq?: number; mentions?: number; peerRead?: number; peerDelivered?: number; peerLastSeen?: number; mutedUntil?: number; pinnedAt?: number; archivedAt?: number; markedUnreadAt?: number; clearedSeq?: number; posting?: 'admins'; retention?: number; silencedUntil?: number; pins?: Pin[]; slowMode?: number; hiddenAt?: number }

/** The session is open. */
/** The session is open. `rate` (frames a second) and `burst`: the gateway's limit for this connection (absent from older gateways). */
export interface WelcomeFrame { type: 'welcome'; uid: string; did: string; node: string; heartbeatMs: number; maxFrameBytes: number; rate?: number; burst?: number }
/**
 * The server's ack of a `send`, only once durable. Named `sent` so one type name never means two things on a
 * socket. `prev` is the message's predecessor: the sending device gets no `msg` for its own message, it links
 * the message into its chain from `sent` (its other devices get the `msg`). `replyFrom`: a reply's, and `was`: a reaction's, as its `msg` has them.
 */
export interface SentFrame { type: 'sent'; cid: number; conv: string; seq: number; ts: number; prev?: number; replyFrom?: string; was?: string }
export interface MsgFrame extends Msg { type: 'msg' }
/**
 * The conversation list, or one part of it: a list past MAX_LIST_PAGE_BYTES comes in several frames, all with the
 * same `rid` (if any), its rows in conversation id order then: each but the last has `more: true`, each but the
 * first `after`, the conversation id its rows go on from (the previous frame's last).
 */
export interface ConvsFrame { type: 'convs'; rid?: number; list: ConvSummary[]; after?: string; more?: true }
/**
 * A member as `members` lists it. `readSeq` is absent when the read mark is not for you to see: that member or you
 * turned read receipts off, or one of you blocks the other (your own mark is always there). `deliveredSeq` (the
 * member's devices hold every message up to it) is absent only across a block. `silencedUntil` (epoch ms): the member
 * is silenced until then, shown to the group's owners and admins and to the member themself.
 */
export interface MemberInfo { uid: string; role: MemberRole; readSeq?: number; deliveredSeq?: number; silencedUntil?: number }
/** A page of members, by uid, answering `members` `rid`; `more`: members after the last one remain. */
export interface MembersPageFrame { type: 'members'; rid: number; conv: string; members: MemberInfo[]; more: boolean }
/** A page of who reacted to message `seq`, by uid, answering `reactors` `rid`; `more`: others after the last one remain. */
export interface ReactorsPageFrame { type: 'reactors'; rid: number; conv: string; seq: number; reactors: Reactor[]; more: boolean }
export interface HistoryFrame { type: 'history'; rid: number; conv: string; msgs: Msg[]; more: boolean }
/** A read mark made on another device of the same user. */
export interface ReadEchoFrame {
  type: 'read';
  conv: string;
  seq: number;
  /** The user's unread count in `conv` after this mark, exact as of the conversation's `lastSeq` (optional: a client must cope without them). */
  unread?: number;
  lastSeq?: number;
  /** How many of those unread messages mention the user (with `unread`). */
  mentions?: number;
}
/**
 * The user's mute of `conv` changed: until `until` (epoch ms; 0: not muted). With `rid` it answers this device's
 * `mute`; without, another device of the user (or the server API) made the change.
 */
export interface MuteEchoFrame { type: 'mute'; rid?: number; conv: string; until: number }
/**
 * The business server silenced the user in group `conv` until `until` (epoch ms; 0: lifted): until then they may
 * not post, react or edit there, only recall what they posted.
 */
export interface SilencedFrame { type: 'silenced'; conv: string; until: number }
/**
 * The user was added to `conv` (a group created with them, or they were added to one): it belongs in the list
 * now. `lastSeq`: its last message then; what follows is news (what came before is history the client may pull).
 */
export interface JoinedFrame { type: 'joined'; conv: string; kind: ConvKind; title?: string; meta?: string; lastSeq: number; posting?: 'admins'; retention?: number; slowMode?: number; pins?: Pin[]; clearedSeq?: number }
/** Group `conv` has a new title (absent: it has none now). */
export interface TitleFrame { type: 'title'; conv: string; title?: string }
/** Group `conv` has new app-defined data (absent: none now). */
export interface MetaFrame { type: 'meta'; conv: string; meta?: string }
/** Who may post in group `conv` changed. */
export interface PostingFrame { type: 'posting'; conv: string; posting: Posting }
/** Group `conv`'s slow mode changed: a plain member posts one message of their own per `slowMode` seconds (0: off). */
export interface SlowModeFrame { type: 'slowmode'; conv: string; slowMode: number }
/** How long `conv`'s messages are kept changed: seconds after they were sent (0: as long as the cluster keeps them). */
export interface RetentionFrame { type: 'retention'; conv: string; retention: number }
/** Members of group `conv` have new roles (the members named; the others keep theirs). */
export interface RolesFrame { type: 'roles'; conv: string; roles: Record<string, MemberRole> }
/**
 * The user is no longer a member of `conv`: it leaves the list (its history is no longer theirs to pull). With
 * `rid`, the answer to this device's `leave`.
 */
export interface LeftFrame { type: 'left'; rid?: number; conv: string }
/** The other member of a direct conversation read up to `seq` (a read receipt); ephemeral, like typing. */
export interface ReceiptFrame { type: 'receipt'; conv: string; uid: string; seq: number }
/** The user's list preferences for `conv` changed (with `rid`: the answer to this device's `prefs`); 0: not pinned / archived / marked unread. */
export interface PrefsEchoFrame { type: 'prefs'; rid?: number; conv: string; pinnedAt: number; archivedAt: number; markedUnreadAt?: number }
/**
 * The user's history of `conv` is cleared up to `seq` (with `rid`: the answer to this device's `clear`): drop what
 * you hold at or below it; nothing there is served to this user any more.
 */
export interface ClearedFrame { type: 'cleared'; rid?: number; conv: string; seq: number }
/** The pinned messages of `conv` changed (with `rid`: the answer to this device's `pin`): all of them now, the latest pin first. */
export interface PinsFrame { type: 'pins'; rid?: number; conv: string; pins: Pin[] }
/**
 * The user hid messages `seqs` of `conv` (with `rid`: the answer to this device's `hide`, or to its `hides`, which
 * lists every message the user hid there): stop showing them. `unread`, `mentions` and `lastSeq` (together, when a
 * `hide` hid any): the user's counts after the hide, as in `read`; `hiddenAt`: when that hide was stored (epoch ms),
 * as in the list.
 */
export interface HiddenFrame { type: 'hidden'; rid?: number; conv: string; seqs: number[]; unread?: number; mentions?: number; lastSeq?: number; hiddenAt?: number }
/** The other member of a direct conversation holds every message up to `seq` on a device (a delivery receipt). */
export interface DeliveredFrame { type: 'delivered'; conv: string; uid: string; seq: number }
export interface TypingEventFrame { type: 'typing'; conv: string; from: string }
/** A direct peer came online or went offline; `lastSeen` (epoch ms) with `online: false`: when they left. */
export interface PresenceFrame { type: 'presence'; uid: string; online: boolean; lastSeen?: number }
export interface PongFrame { type: 'pong'; ts?: number }
/** The `report` with this `rid` reached the business server's moderators (as an event). */
export interface ReportedFrame { type: 'reported'; rid: number; conv: string; seq: number }
/** The session took the token of `refresh` `rid`: it now lasts until `exp` (seconds since the epoch). */
export interface RefreshedFrame { type: 'refreshed'; rid: number; exp: number }
/** A request failed; `cid` names a `send`, `rid` any other request that carries one, `conv` the conversation (alone for an `ack` or `read`). */
/** `retryAfterMs`: a `rate_limited` refusal's wait (slow mode, a mention or reaction budget), when it names one. */
export interface ErrorFrame { type: 'error'; code: ErrorCode; message: string; rid?: number; cid?: number; conv?: string; retryAfterMs?: number }
/** Reconnect to one of `endpoints` (in order of preference); the server closes right after. */
export interface RedirectFrame { type: 'redirect'; endpoints: string[]; reason: RedirectReason }

export type ServerFrame =
  | WelcomeFrame
  | SentFrame
  | MsgFrame
  | ConvsFrame
  | HistoryFrame
  | MembersPageFrame
  | ReactorsPageFrame
  | ReadEchoFrame
  | MuteEchoFrame
  | SilencedFrame
  | PrefsEchoFrame
  | ClearedFrame
  | HiddenFrame
  | PinsFrame
  | JoinedFrame
  | LeftFrame
  | TitleFrame
  | MetaFrame
  | PostingFrame
  | RetentionFrame
  | SlowModeFrame
  | RolesFrame
  | ReceiptFrame
  | DeliveredFrame
  | TypingEventFrame
  | PresenceFrame
  | PongFrame
  | RefreshedFrame
  | ReportedFrame
  | ErrorFrame
  | RedirectFrame;

export const SERVER_FRAME_TYPES = ['welcome', 'sent', 'msg', 'convs', 'history', 'members', 'reactors', 'read', 'mute', 'silenced', 'prefs', 'cleared', 'hidden', 'pins', 'joined', 'left', 'title', 'meta', 'posting', 'retention', 'slowmode', 'roles', 'receipt', 'delivered', 'typing', 'presence', 'pong', 'refreshed', 'reported', 'error', 'redirect'] as const;
export type ServerFrameType = (typeof SERVER_FRAME_TYPES)[number];
/** The server frame of one type, e.g. `ServerFrameOf<'msg'>`. */
export type ServerFrameOf<T extends ServerFrameType> = Extract<ServerFrame, { type: T }>;

// Compile-time guards: the type-name lists and the unions cannot drift apart (no runtime cost).
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Assert<T extends true> = T;
type _ClientTypesMatch = Assert<Same<ClientFrameType, ClientFrame['type']>>;
type _ServerTypesMatch = Assert<Same<ServerFrameType, ServerFrame['type']>>;
