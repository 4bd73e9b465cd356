import type postgres from 'postgres';
import { ErrorCode, ImError } from '../protocol/errors.js';
import type { Pin } from '../protocol/frames.js';
import type { Sql } from './db.js';
import { checkId } from './ids.js';
import { lastMessage } from './message-ordinals.js';
import { livePins, pinsOf, type PinRow } from './pinned-message-store.js';
import { bounded, DEFAULT_STATEMENT_TIMEOUT_MS } from './pg-errors.js';

/** One entry of a user's conversation list. */
export interface UserConversation {
  convId: string;
  kind: 'direct' | 'group';
  /** A group's title, if it has one. */
  title?: string;
  /** A group's app-defined data, if it has any. */
  meta?: string;
  lastSeq: number;
  /** When the last message that is not a recall, edit or reaction was committed (epoch ms); absent with no message yet. */
  lastTs?: number;
  readSeq: number;
  /**
   * Where unread counting starts (the unread messages are those after it): the latest of the read mark, the user's
   * own last message there, where they joined, and what they cleared or what expired.
   */
  seenSeq: number;
  /** The user's delivery mark: the furthest any of their devices acked (or read). */
  deliveredSeq: number;
  unread: number;
  /** How many of the unread messages mention the user; absent when none. */
  mentions?: number;
  /** Members of the conversation, the user included, counted up to the caller's cap (see `userConversations`). */
  memberCount: number;
  /** The other member of a direct conversation. */
  peer?: string;
  /** That member's read mark. */
  peerRead?: number;
  /** That member's delivery mark (absent across a block). */
  peerDelivered?: number;
  /** When that member was last online (epoch ms), if ever recorded. */
  peerLastSeen?: number;
  /** The user muted the conversation until then (epoch ms; 0: not muted). */
  mutedUntil: number;
  /** The business server silenced the user there until then (epoch ms; 0: not): they may not post. */
  silencedUntil: number;
  /** When the user pinned / archived it (epoch ms; 0: not). */
  pinnedAt: number;
  archivedAt: number;
  /** When the user marked it unread (epoch ms; 0: not, or read since). */
  markedUnreadAt: number;
  /** Its pinned messages, the latest pin first (absent: none). */
  pins?: Pin[];
  /** Only owners and admins may post (an announcement group). */
  adminsPost?: true;
  /** How long its messages are kept, seconds (its own retention; absent: the cluster's). */
  retentionSec?: number;
  /** A group's slow mode, seconds (absent: off). */
  slowModeSec?: number;
  /** Nothing up to this seq is served to the user: they cleared it, or it passed the message retention (0: none). */
  clearedSeq: number;
  /** When the user last hid messages there (epoch ms; absent: never, or only before migration 390). */
  hiddenAt?: number;
}

/** Messages read back from a conversation's last for the last one that is not a recall, edit or reaction (its time orders the list). */
export const LIST_ORDER_LOOKBACK = 50;

/** Members counted per conversation of a user's list unless the caller asks for another cap. */
export const DEFAULT_MEMBER_COUNT_CAP = 10_000;

/**
 * The exact unread count of reader `uid` in conversation `conv` in a statement that has `r.seen`, the point the reader
 * has seen up to: the messages after it, less recalls, edits and reactions (nothing new to read) and the messages the
 * reader hid (plain ones only, by key, 330). `last` is the conversation's last seq, `lastOrdinal` that message's
 * ordinal and `ordinalsFrom` where its ordinals start (columns or values).
 *
 * Ordinals number the counted messages (migration 450), so when the first message after `r.seen` and the last one are
 * numbered in one run, the count is the difference of their ordinals: two rows by the primary key, however many
 * messages and reactions came after the mark. Messages without ordinals (written before migration 450, or by an
 * older node) are counted without reading them either: the seqs in the range minus the holes (each sits just below a
 * message with `seq - prev_seq > 1`, indexed by 020) minus the recalls, edits and reactions (indexed by 190),
 * O(holes + amendments) in the range. A mark from before the run of ordinals takes that way up to its start only;
 * a last message without an ordinal (an older node wrote it) takes it for all.
 */
export function unreadAfter(sql: Sql, conv: postgres.Fragment, last: postgres.Fragment, lastOrdinal: postgres.Fragment, ordinalsFrom: postgres.Fragment, uid: postgres.Fragment): postgres.Fragment {
  const hidden = sql`(SELECT count(*) FROM hidden_messages h WHERE h.uid = ${uid} AND h.conv_id = ${conv} AND h.seq > r.seen)`;
  // The plain messages among the seqs in (seen, upto), counted around what is not there: each hole sits just below a
  // message with `seq - prev_seq > 1` (index 020; that message may be `upto` itself), each amendment has index 190.
  const unnumbered = (upto: postgres.Fragment) => sql`GREATEST(${upto} - 1 - r.seen, 0)
        - COALESCE((SELECT sum(m.seq - GREATEST(m.prev_seq, r.seen) - 1) FROM messages m
                    WHERE m.conv_id = ${conv} AND m.seq > r.seen AND m.seq <= ${upto} AND m.seq - m.prev_seq > 1), 0)
        - (SELECT count(*) FROM messages m
           WHERE m.conv_id = ${conv} AND m.seq > r.seen AND m.seq < ${upto} AND (m.recalls IS NOT NULL OR m.edits IS NOT NULL OR m.reacts IS NOT NULL))`;
  return sql`COALESCE((
    SELECT CASE
      WHEN ${lastOrdinal} IS NOT NULL AND b.seq >= ${ordinalsFrom} AND b.ordinal IS NOT NULL
        -- The first unseen message is counted when it is a plain one: its ordinal already includes it.
        THEN ${lastOrdinal} - b.ordinal + (b.recalls IS NULL AND b.edits IS NULL AND b.reacts IS NULL)::int - ${hidden}
      WHEN ${lastOrdinal} IS NOT NULL AND b.seq < ${ordinalsFrom} AND ${last} >= ${ordinalsFrom}
        -- Some unseen messages predate the ordinals: those are counted the old way, the numbered ones by the last ordinal.
        THEN ${unnumbered(ordinalsFrom)} + ${lastOrdinal} - ${hidden}
      ELSE ${unnumbered(sql`${last} + 1`)} - ${hidden} END
    FROM (SELECT m.seq, m.ordinal, m.recalls, m.edits, m.reacts FROM messages m WHERE m.conv_id = ${conv} AND m.seq > r.seen ORDER BY m.seq LIMIT 1) b
  ), 0)::int8`;
}

/**
 * How many messages after `r.seen` mention user `uid` in `conv` (columns or values of a statement that has `r.seen`):
 * their rows in `mentions` (migration 200), by key, less the recalled messages and those the user hid.
 */
export function mentionsAfter(sql: Sql, conv: postgres.Fragment, uid: postgres.Fragment): postgres.Fragment {
  return sql`(SELECT count(*) FROM mentions x
    WHERE x.uid = ${uid} AND x.conv_id = ${conv} AND x.seq > r.seen
      AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.conv_id = x.conv_id AND m.seq = x.seq AND m.recalled_by IS NOT NULL)
      AND NOT EXISTS (SELECT 1 FROM hidden_messages h WHERE h.uid = x.uid AND h.conv_id = x.conv_id AND h.seq = x.seq))::int8`;
}

/**
 * What member row `mb` of conversation row `c` has seen, where unread counting starts: the read mark, the user's own
 * last message, where they joined (what came before is history, not news), or (nothing older is served) what they
 * cleared and what expired. A clear moves the read mark too, but in a call of its own that may fail.
 */
function seenBy(sql: Sql): postgres.Fragment {
  return sql`GREATEST(mb.read_seq, mb.joined_seq, mb.cleared_seq, c.expired_seq, COALESCE((SELECT max(seq) FROM messages m WHERE m.conv_id = mb.conv_id AND m.sender_uid = mb.uid), 0))`;
}

/** A user's unread count in one conversation, exact as of `lastSeq`, and how many of those messages mention them. */
export interface UnreadCount {
  unread: number;
  mentions: number;
  /** The conversation's last stored seq when the count was taken. */
  lastSeq: number;
}

/**
 * `uid`'s unread count in `convId` now, counted as in their list (from the later of their read mark, their own last
 * message, where they joined and what expired); undefined when they are not a member.
 */
export async function readUnreadCount(sql: Sql, uid: string, convId: string, timeoutMs = DEFAULT_STATEMENT_TIMEOUT_MS): Promise<UnreadCount | undefined> {
  checkId(uid, 'uid');
  checkId(convId, 'convId');
  const rows = await bounded('count unread', sql<UnreadCount[]>`
    WITH l AS (${lastMessage(sql, sql`${convId}::text`)}),
    r AS (SELECT ${seenBy(sql)} AS seen, c.ordinals_from FROM members mb JOIN conversations c ON c.conv_id = mb.conv_id WHERE mb.conv_id = ${convId} AND mb.uid = ${uid})
    SELECT ${unreadAfter(sql, sql`${convId}::text`, sql`(SELECT last_seq FROM l)`, sql`(SELECT last_ordinal FROM l)`, sql`r.ordinals_from`, sql`${uid}::text`)} AS unread,
           ${mentionsAfter(sql, sql`${convId}::text`, sql`${uid}::text`)} AS mentions, (SELECT last_seq FROM l) AS "lastSeq"
    FROM r`, timeoutMs);
  return rows[0];
}

/**
 * A user's conversation list with last seq, read mark and exact unread count, in one statement; pinned ones
 * first, then most recent first. Members are counted up to `memberCap` only: a full count cost every attach of a 5,000-member group's
 * members 5,000 index entries (25 M for the group coming online), and callers only ask "more than N?".
 *
 * Unread counts the messages after what the user has seen: their read mark or their own last message in the
 * conversation, whichever is later (whoever writes has read what came before, as in the SDK's own count; the
 * read mark itself only moves on `read`). It is exact without reading the unread messages (`unreadAfter`): from two
 * rows' ordinals (migration 450) where the chatter numbered them, else from the holes between seqs and the recalls,
 * edits and reactions after the mark, each by an index of its own (020, 190). Recalls, edits and reactions are not
 * counted (nothing new to read, as in WhatsApp or Telegram).
 */
export async function readUserConversations(sql: Sql, uid: string, memberCap = DEFAULT_MEMBER_COUNT_CAP, timeoutMs = DEFAULT_STATEMENT_TIMEOUT_MS): Promise<UserConversation[]> {
  checkId(uid, 'uid');
  if (!Number.isSafeInteger(memberCap) || memberCap < 1) throw new ImError(ErrorCode.INVALID_FIELD, 'memberCap must be a positive integer');
  const rows = await bounded('list user conversations', sql<{ conv_id: string; kind: 'direct' | 'group'; read_seq: number; seen_seq: number; delivered_seq: number; last_seq: number; unread: number; mentions: number; member_count: number; peer: string | null; peer_read: number | null; peer_delivered: number | null; peer_seen: Date | null; muted_until: number; silenced_until: number; pinned_at: number; archived_at: number; marked_unread_at: number; cleared_seq: number; posting: string; retention_sec: number; slow_mode_sec: number; title: string | null; meta: string | null; last_at: Date | null; pins: PinRow[] | null; hidden_at: number | null }[]>`
    SELECT mb.conv_id, c.kind, c.title, c.meta, c.posting, c.retention_sec, c.slow_mode_sec, mb.read_seq, mb.delivered_seq, mb.muted_until, mb.silenced_until, mb.pinned_at, mb.archived_at, mb.marked_unread_at, COALESCE(p2.last_plain, l.last_any) AS last_at,
           -- What is no longer served to the user: what they cleared, and what passed the retention.
           GREATEST(mb.cleared_seq, c.expired_seq) AS cleared_seq,
           COALESCE(l.last_seq, 0) AS last_seq, r.seen AS seen_seq, ${livePins(sql, sql`mb.conv_id`)} AS pins,
           ${unreadAfter(sql, sql`mb.conv_id`, sql`COALESCE(l.last_seq, 0)`, sql`l.last_ordinal`, sql`c.ordinals_from`, sql`mb.uid`)} AS unread,
           ${mentionsAfter(sql, sql`mb.conv_id`, sql`mb.uid`)} AS mentions,
           -- The user's latest hide there, by key (migration 395): a device that was away catches up on its hides.
           NULLIF((SELECT max(h.hidden_at) FROM hidden_messages h WHERE h.uid = mb.uid AND h.conv_id = mb.conv_id), 0) AS hidden_at,
           (SELECT count(*)::int FROM (SELECT 1 FROM members x WHERE x.conv_id = mb.conv_id LIMIT ${memberCap}) x) AS member_count,
           p.uid AS peer, p.read_seq AS peer_read, p.delivered_seq AS peer_delivered,
           -- Hidden (NULL) when either of the two has last seen off, as the read mark is with receipts.
           CASE WHEN EXISTS (SELECT 1 FROM user_settings s WHERE s.uid IN (mb.uid, p.uid) AND NOT s.last_seen) THEN NULL
                ELSE (SELECT s.last_seen FROM user_last_seen s WHERE s.uid = p.uid) END AS peer_seen
    FROM members mb
    JOIN conversations c ON c.conv_id = mb.conv_id
    -- The peer's read mark stays hidden (NULL) when either of the two has read receipts off.
    LEFT JOIN LATERAL (
      SELECT x.uid, CASE WHEN EXISTS (SELECT 1 FROM user_settings s WHERE s.uid IN (mb.uid, x.uid) AND NOT s.read_receipts) THEN NULL ELSE x.read_seq END AS read_seq, x.delivered_seq
      FROM members x WHERE c.kind = 'direct' AND x.conv_id = mb.conv_id AND x.uid <> mb.uid LIMIT 1
    ) p ON true
    -- The last message by the primary key, read backwards: its seq and when it was committed.
    LEFT JOIN LATERAL (SELECT m.seq AS last_seq, m.ordinal AS last_ordinal, m.created_at AS last_any FROM messages m WHERE m.conv_id = mb.conv_id ORDER BY m.seq DESC LIMIT 1) l ON true
    -- When the last one that says something new was (no recall, edit or reaction: those do not move a conversation
    -- up), read backwards too and stopping at the first, among the last LIST_ORDER_LOOKBACK only; else the last one's.
    LEFT JOIN LATERAL (
      SELECT t.created_at AS last_plain FROM (
        SELECT m.seq, m.created_at, m.recalls, m.edits, m.reacts FROM messages m WHERE m.conv_id = mb.conv_id ORDER BY m.seq DESC LIMIT ${LIST_ORDER_LOOKBACK}
      ) t WHERE t.recalls IS NULL AND t.edits IS NULL AND t.reacts IS NULL ORDER BY t.seq DESC LIMIT 1
    ) p2 ON true
    CROSS JOIN LATERAL (SELECT ${seenBy(sql)} AS seen) r
    WHERE mb.uid = ${uid}
    -- Pinned first, the latest pin first; then most recent first (seqs of different conversations do not compare),
    -- those with no message yet by when joined.
    ORDER BY mb.pinned_at DESC, COALESCE(p2.last_plain, l.last_any, mb.joined_at) DESC, mb.conv_id`, timeoutMs);
  return rows.map((r) => {
    const c: UserConversation = { convId: r.conv_id, kind: r.kind, lastSeq: r.last_seq, readSeq: r.read_seq, seenSeq: r.seen_seq, deliveredSeq: r.delivered_seq, unread: r.unread, memberCount: r.member_count, mutedUntil: r.muted_until, silencedUntil: r.silenced_until, pinnedAt: r.pinned_at, archivedAt: r.archived_at, markedUnreadAt: r.marked_unread_at, clearedSeq: r.cleared_seq };
    if (r.mentions > 0) c.mentions = r.mentions;
    if (r.title !== null) c.title = r.title;
    if (r.meta !== null) c.meta = r.meta;
    if (r.posting === 'admins') c.adminsPost = true;
    if (r.retention_sec > 0) c.retentionSec = r.retention_sec;
    if (r.slow_mode_sec > 0) c.slowModeSec = r.slow_mode_sec;
    if (r.last_at !== null) c.lastTs = r.last_at.getTime();
    if (r.peer !== null) c.peer = r.peer;
    if (r.peer_read !== null) c.peerRead = r.peer_read;
    if (r.peer_delivered !== null) c.peerDelivered = r.peer_delivered;
    if (r.peer_seen !== null) c.peerLastSeen = r.peer_seen.getTime();
    if (r.pins !== null) c.pins = pinsOf(r.pins);
    if (r.hidden_at !== null) c.hiddenAt = r.hidden_at;
    return c;
  });
}
