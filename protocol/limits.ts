/**
 * Size, rate and timing limits of the client protocol. A gateway may be configured tighter, never looser:
 * clients are written against these defaults (protocol/README.md lists them).
 */

/** Largest client → server WebSocket message, in bytes (checked before decoding). */
export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024;
/** Largest server → client frame the SDK accepts (a `history` page of 200 full messages fits). */
export const DEFAULT_MAX_SERVER_FRAME_BYTES = 16 * 1024 * 1024;
/** Largest message body, in UTF-8 bytes. */
export const DEFAULT_MAX_BODY_BYTES = 16 * 1024;
/** Longest id (conversation, user, device), in UTF-8 bytes. */
export const DEFAULT_MAX_ID_LENGTH = 128;
/** Largest `pull.limit`. */
export const DEFAULT_MAX_PULL_LIMIT = 200;
/** Deepest nesting of arrays and maps in one frame; deeper input is refused before msgpackr recurses into it. */
export const DEFAULT_MAX_DEPTH = 16;
/** Longest token accepted at upgrade, in characters. */
export const DEFAULT_MAX_TOKEN_LENGTH = 4096;

/** Heartbeat interval H sent in `welcome.heartbeatMs`. */
export const DEFAULT_HEARTBEAT_MS = 25_000;
/** Clients spread their pings by ± this fraction of H so that reconnect waves do not ping in step. */
export const HEARTBEAT_JITTER = 0.1;
/** The server closes a connection silent for this many heartbeat intervals (4009). */
export const IDLE_HEARTBEATS = 2.5;

/** Sustained client frames per second per connection before `rate_limited`. */
export const DEFAULT_RATE_PER_SEC = 50;
/** Token-bucket burst on top of the sustained rate. */
export const DEFAULT_RATE_BURST = 200;
/** Seconds over the rate limit after which the server closes with 4008. */
export const DEFAULT_RATE_CLOSE_AFTER_SEC = 10;
/** Open connections per gateway process: stays under this machine's 20,000 open-files hard limit. */
export const DEFAULT_MAX_CONNECTIONS = 19_000;
/** Bytes buffered for one slow socket before the server closes it with 4013. */
export const DEFAULT_MAX_BACKPRESSURE_BYTES = 1024 * 1024;

/**
 * Conversations one user may be in. A user's whole list is kept by their connector and travels in one message
 * when they connect, so it must fit in NATS' 1 MiB max_payload even with 128-byte conversation ids.
 */
export const DEFAULT_MAX_USER_CONVERSATIONS = 5_000;

/**
 * Conversations one user may have pinned at once. A bound, not an app's policy: apps that show a few pins set theirs
 * (`--max-pinned 3`), so that the limit holds across all of a user's devices.
 */
export const DEFAULT_MAX_PINNED = 100;
/** Members one server API silence names at most (each of them is told on their devices). */
export const MAX_SILENCE_UIDS = 1_000;
/** A group's app-defined data (`meta`: avatar, description, …), in UTF-8 bytes at most. */
export const MAX_META_BYTES = 4096;
/** The longest slow mode a group may have (a day, in seconds): a plain member's one post per that long. */
export const MAX_SLOW_MODE_SEC = 86_400;
/** The longest reason a `report` may give, in UTF-8 bytes. */
export const MAX_REPORT_REASON_BYTES = 1024;
/** Messages pinned in one conversation at most: a pin past it is `limit_reached` (unpin one first). */
export const MAX_PINNED_MESSAGES = 50;

/**
 * Members one group may have. Its chatter keeps every member id in memory and walks them for each small-group
 * message and each membership change; large groups (past `--large-group`) cost one publish per message.
 */
export const DEFAULT_MAX_GROUP_MEMBERS = 100_000;

/** SDK reconnect backoff: full jitter in [0, min(cap, base · 2^attempt)]. */
export const DEFAULT_RECONNECT_BASE_MS = 1_000;
export const DEFAULT_RECONNECT_CAP_MS = 30_000;

/** Clock skew tolerated on token `exp` / `nbf`. */
export const DEFAULT_TOKEN_LEEWAY_SEC = 30;

/**
 * Longest token lifetime (`exp` − `iat`) a gateway accepts: 30 days. Bounding it lets a revocation be forgotten
 * once every token it covers has expired, so revocations do not pile up in Postgres and in every gateway.
 */
export const DEFAULT_MAX_TOKEN_LIFETIME_SEC = 30 * 24 * 3600;

/** The limits the frame codec and validators enforce. */
export interface FrameLimits {
  readonly maxFrameBytes: number;
  readonly maxBodyBytes: number;
  /** Longest id, in UTF-8 bytes. */
  readonly maxIdLength: number;
  readonly maxPullLimit: number;
  readonly maxDepth: number;
}

export const DEFAULT_LIMITS: FrameLimits = Object.freeze({
  maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
  maxBodyBytes: DEFAULT_MAX_BODY_BYTES,
  maxIdLength: DEFAULT_MAX_ID_LENGTH,
  maxPullLimit: DEFAULT_MAX_PULL_LIMIT,
  maxDepth: DEFAULT_MAX_DEPTH,
});

/** Limits for server frames in the SDK: shape checks only, no policing of a trusted server's sizes. */
export const SERVER_FRAME_LIMITS: FrameLimits = Object.freeze({
  maxFrameBytes: DEFAULT_MAX_SERVER_FRAME_BYTES,
  maxBodyBytes: Number.MAX_SAFE_INTEGER,
  maxIdLength: Number.MAX_SAFE_INTEGER,
  maxPullLimit: Number.MAX_SAFE_INTEGER,
  maxDepth: DEFAULT_MAX_DEPTH,
});

/**
 * A client sends `typing` for a conversation at most this often while its user types (the SDK does); receivers show
 * a typist for a little longer than this after the last event.
 */
export const DEFAULT_TYPING_INTERVAL_MS = 2_000;
/** The server passes on one `typing` per user and conversation in this long; repeats are dropped, not fanned out. */
export const TYPING_REPEAT_DROP_MS = 1_000;
/** Longest group title, in characters. */
export const MAX_TITLE_LENGTH = 200;
/** Longest reaction, in UTF-8 bytes: room for any emoji ZWJ sequence (a family is 25) or a short code like `:+1:`. */
export const MAX_REACTION_BYTES = 32;
/**
 * Different reactions one message may have at once (`limit_reached` past it): history gives a message's counts per
 * reaction, and this keeps that list small however many users react.
 */
export const MAX_REACTION_KINDS = 50;
/**
 * Most bytes (roughly) of the messages in one `history` page: a pull may answer fewer than its `limit`, with `more`.
 * Half the gateway's default backpressure limit (1 MiB), so that one page never makes its reader a slow one.
 */
export const MAX_HISTORY_PAGE_BYTES = 512 * 1024;
/**
 * Most bytes (roughly) of the rows in one `convs` frame. A longer list comes in several frames (`more`), so that
 * neither the connector's answer (NATS' 1 MiB max_payload) nor one frame (the 1 MiB backpressure limit) grows with
 * it: 5,000 groups with a few hundred bytes of `meta` each would pass both.
 */
export const MAX_LIST_PAGE_BYTES = 256 * 1024;
/**
 * The connection URL's query parameter by which a client says it puts together a list sent in pages (`pages=1`,
 * README §2): an older client would take the first page for the whole list. Without it the list comes whole.
 */
export const LIST_PAGES_QUERY = 'pages';
/** Most users one message may mention. */
export const MAX_MENTIONS = 50;
/** Messages one `hide` names at most ("delete for me" of a selection). */
export const MAX_HIDE_SEQS = 100;

/**
 * Reports one user may make a minute (on one gateway, across their devices and reconnects). Each reaches the business
 * server's moderators and costs the gateway two reads, and the per-connection frame rate alone would let one client
 * send 3,000 a minute.
 */
export const MAX_REPORTS_PER_MINUTE = 20;
/**
 * Most members a conversation may have for a message to mention all: each member gets a mention row in the node's
 * group-commit statement, which every conversation on the node waits behind (one mentioning all of 10,000 was
 * acked 168–191 ms after it was sent, in three runs of the test on this box).
 */
export const MAX_MENTION_ALL_MEMBERS = 10_000;
/** How long after a message its sender may recall it (`--recall-window`; 0: clients may not recall, the server API may). */
export const DEFAULT_RECALL_WINDOW_SEC = 120;
/** How long after a message its sender may edit it (`--edit-window`; 0: clients may not edit). */
export const DEFAULT_EDIT_WINDOW_SEC = 900;
/**
 * How long messages are kept (`--message-retention`, a cluster setting, seconds); 0: for good. Older ones are
 * expired by a sweep: served to nobody, then deleted.
 */
export const DEFAULT_MESSAGE_RETENTION_SEC = 0;
/** The longest retention a conversation may have of its own (ten years, in seconds). */
export const MAX_CONVERSATION_RETENTION_SEC = 10 * 365 * 86_400;
