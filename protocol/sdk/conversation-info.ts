import type { ConvKind, Msg, Pin } from '../frames.js';

/** Where a new device starts reading a conversation it meets in the first `convs`: all of it, or from now. */
export const HistoryBaseline = { ALL: 'all', LATEST: 'latest' } as const;
export type HistoryBaseline = (typeof HistoryBaseline)[keyof typeof HistoryBaseline];

/** One page of `history`. */
export interface HistoryPage { conv: string; msgs: Msg[]; more: boolean }

/** What the app sees of a conversation. */
export interface ConversationInfo {
  conv: string;
  kind: ConvKind;
  /** A group's title (from `convs`, `joined` and `title`). */
  title?: string;
  /** A group's app-defined data, as the business server set it (from `convs`, `joined` and `meta`): its avatar, description, …. */
  meta?: string;
  /** `admins`: an announcement group, where only owners and admins may post (from `convs`, `joined` and `posting`). Absent: every member may. */
  posting?: 'admins';
  /** A group's slow mode (from `convs`, `joined` and `slowmode`): a plain member posts one message per this many seconds; an app shows the wait after each (the server answers a post sooner with `rate_limited`, which the SDK sends again later). Absent: off. */
  slowMode?: number;
  /** Its messages disappear this many seconds after they were sent (from `convs`, `joined` and `retention`): drop older ones you hold. Absent: none of its own. */
  retention?: number;
  /** Highest seq known to exist (from `convs` or a delivered message). */
  lastSeq: number;
  /** When the latest message known (not a recall, edit or reaction) was committed (epoch ms; from `convs` and delivered messages): sort a list by it. */
  lastTs?: number;
  /** Seq of the last message delivered to the app with no gap before it. */
  last: number;
  readSeq: number;
  /** Exact as of the last `convs`; then +1 per delivered message of another user, 0 once read up to lastSeq. */
  unread: number;
  /** How many of the unread messages mention the user: counted as `unread` is (an app shows an "@" badge). */
  mentions: number;
  /** In a direct conversation, how far the other member has read (from `convs` and `receipt`); 0 in groups. */
  peerRead: number;
  /**
   * In a direct conversation, how far a device of the other member holds the messages (from `convs` and
   * `delivered`; never below `peerRead`): your messages up to it show as delivered. 0 in groups.
   */
  peerDelivered: number;
  /** In a direct conversation, when the other member was last online (epoch ms; from `convs` and `presence`). */
  peerLastSeen?: number;
  /** The user muted the conversation until then (epoch ms; from `convs` and `mute`); absent when not muted now. */
  mutedUntil?: number;
  /** The business server silenced the user in this group until then (epoch ms; from `convs` and `silenced`): show no message box. Absent when not silenced now. */
  silencedUntil?: number;
  /**
   * Its pinned messages, the latest pin first (from `convs` and `pins`; a recall that arrives takes its message out):
   * show those this device can (a message the user cleared or hid is not shown). Absent: none.
   */
  pins?: Pin[];
  /** When the user pinned it (epoch ms; from `convs` and `prefs`): pinned conversations list first. Absent: not pinned. */
  pinnedAt?: number;
  /** When the user archived it (epoch ms; from `convs` and `prefs`): show it apart. Absent: not archived. */
  archivedAt?: number;
  /** When the user marked it unread (epoch ms; from `convs` and `prefs`): show it as unread. Absent: not marked, or read since (any read mark takes it off). */
  markedUnreadAt?: number;
  /** The user cleared its history up to this seq (from `convs` and `cleared`): nothing at or below it shows. Absent: never. */
  clearedSeq?: number;
  /**
   * When the user last hid messages here (epoch ms; from `convs` and `hidden`). An app that stores messages and finds
   * it later than what it stored asks `hiddenMessages(conv)`. Absent: never.
   */
  hiddenAt?: number;
}
