/**
 * Stable error codes shared by the wire, the runtime and storage.
 * Codes are part of the public protocol: never rename one, only add. Documented in protocol/README.md.
 */
export const ErrorCode = {
  /** Bytes that are not a msgpack map, or a frame that is not an object. */
  BAD_FRAME: 'bad_frame',
  /** A frame whose `type` is not one we know. */
  UNKNOWN_TYPE: 'unknown_type',
  /** A field is missing, of the wrong type, or out of range. */
  INVALID_FIELD: 'invalid_field',
  /** A frame or payload over the configured size limit. */
  FRAME_TOO_LARGE: 'frame_too_large',
  /** No token, or a token whose signature or claims are wrong. */
  UNAUTHORIZED: 'unauthorized',
  /** A token past its expiry. */
  TOKEN_EXPIRED: 'token_expired',
  /** The caller is not a member of the conversation. */
  NOT_MEMBER: 'not_member',
  /** The conversation, user or shard does not exist. */
  NOT_FOUND: 'not_found',
  /** The caller sends faster than its limit. */
  RATE_LIMITED: 'rate_limited',
  /** The node refuses new work (connection limit, draining). */
  OVERLOADED: 'overloaded',
  /** A request did not get an answer before its deadline. */
  TIMEOUT: 'timeout',
  /** Nobody serves the target right now (e.g. a shard between owners); retry later. */
  UNAVAILABLE: 'unavailable',
  /** A write carried a stale shard epoch: another node owns the shard now. */
  FENCED: 'fenced',
  /**
   * A `send` whose `after` (the device's previous send to that conversation) is not stored yet: re-send the
   * unacknowledged messages of that conversation from the oldest, in cid order. Keeps sender order (G5).
   */
  OUT_OF_ORDER: 'out_of_order',
  /** A compare-and-set lost, or a uniqueness rule was broken. */
  CONFLICT: 'conflict',
  /**
   * A re-sent `send` whose message was stored and has since passed the conversation's retention: it was sent (every
   * member was served it), and is gone now. Not a failure: drop it as any expired message.
   */
  EXPIRED: 'expired',
  /** Understood and authenticated, but not allowed: recalling another user's message, or past the recall window. */
  FORBIDDEN: 'forbidden',
  /** The change would take a user past a limit (the conversations one user may be in). */
  LIMIT_REACHED: 'limit_reached',
  /** The database refused or failed a statement for a reason that is not the caller's. */
  STORAGE: 'storage_error',
  /** The node is closing and takes no new work. */
  CLOSED: 'closed',
  /** A bug or an unexpected failure on our side. */
  INTERNAL: 'internal',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const KNOWN_CODES: ReadonlySet<string> = new Set(Object.values(ErrorCode));

/** True when `code` is one of our stable error codes. */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && KNOWN_CODES.has(code);
}

/**
 * Codes a caller inside the cluster may retry at once after a backoff: the same request can succeed later. A client
 * keeps a send for more than these (README §9: `rate_limited` after a pause, `storage_error` later; the SDK's
 * SEND_RETRYABLE_CODES): port that set, not this one.
 */
export const RETRYABLE_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  ErrorCode.TIMEOUT,
  ErrorCode.UNAVAILABLE,
  ErrorCode.OVERLOADED,
  ErrorCode.FENCED,
  ErrorCode.CLOSED,
  ErrorCode.OUT_OF_ORDER,
]);

/** The one error class of the system: every failure that crosses a module boundary is an ImError. */
export class ImError extends Error {
  override readonly name: string = 'ImError';
  readonly code: ErrorCode;
  /** A `rate_limited` refusal's wait, when it names one (the error frame's `retryAfterMs`). */
  retryAfterMs?: number;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  /** The plain shape sent over the wire (no stack, no cause). */
  toJSON(): { code: ErrorCode; message: string; retryAfterMs?: number } {
    return this.retryAfterMs === undefined ? { code: this.code, message: this.message } : { code: this.code, message: this.message, retryAfterMs: this.retryAfterMs };
  }
}

/** How a `rate_limited` refusal names its wait in its message: the cluster's reply envelopes carry a code and a message only. */
const WAIT_SUFFIX = /; try again in (\d+) s$/;

/**
 * A `rate_limited` refusal of `what` that says how long to wait (`waitMs`, rounded up to the second). The gateway
 * reads the wait back from the message, wherever in the cluster it was made, into the error frame's `retryAfterMs`.
 */
export function rateLimited(what: string, waitMs: number): ImError {
  const sec = Math.max(1, Math.ceil(waitMs / 1000));
  const e = new ImError(ErrorCode.RATE_LIMITED, `${what}; try again in ${sec} s`);
  e.retryAfterMs = sec * 1000;
  return e;
}

/** The wait a `rate_limited` error names (rateLimited), in ms; undefined for any other error, or one naming none. */
export function retryAfterMsOf(e: ImError): number | undefined {
  if (e.code !== ErrorCode.RATE_LIMITED) return undefined;
  if (e.retryAfterMs !== undefined) return e.retryAfterMs;
  const m = WAIT_SUFFIX.exec(e.message);
  return m === null ? undefined : Number(m[1]) * 1000;
}

/** Wraps anything thrown into an ImError, keeping ImErrors as they are. */
export function toImError(err: unknown, fallback: ErrorCode = ErrorCode.INTERNAL): ImError {
  if (err instanceof ImError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new ImError(fallback, message, { cause: err });
}

/** A decode or validation outcome that never throws. */
export type Result<T> = { ok: true; value: T } | { ok: false; error: ImError };
