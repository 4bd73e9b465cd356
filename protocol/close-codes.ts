/** WebSocket close codes the gateway uses (and 1006, which clients observe). Stable: documented in protocol/README.md §8. */
export const CloseCode = {
  /** Normal close (client or server said goodbye). */
  NORMAL: 1000,
  /** The server is shutting down; reconnect (with backoff) elsewhere. */
  GOING_AWAY: 1001,
  /** Never sent: what a client sees when the connection dropped without a close frame. */
  ABNORMAL: 1006,
  /** A frame over the size limit: the gateway sends it after a `frame_too_large` error (uWS cuts a frame over 4× the limit without any close frame: 1006). */
  TOO_BIG: 1009,
  /** Protocol violations: undecodable frames, text messages. */
  BAD_FRAME: 4000,
  /** The token expired while connected; reconnect with a fresh one. */
  UNAUTHORIZED: 4001,
  /** Sent faster than the rate limit for too long. */
  RATE_LIMITED: 4008,
  /** No frame within ~2.5 heartbeat intervals. */
  HEARTBEAT_TIMEOUT: 4009,
  /** The node is over its connection limit; a `redirect` frame preceded this with other endpoints. */
  OVERLOADED: 4010,
  /** The node is draining or the user moved; a `redirect` frame preceded this. */
  REDIRECT: 4011,
  /** A newer connection of the same device replaced this one. */
  REPLACED: 4012,
  /** The client fell too far behind (send buffer over its limit); reconnect and sync. */
  SLOW_CONSUMER: 4013,
  /** The business server signed this device out (server API): do not reconnect until the user signs in again. */
  SIGNED_OUT: 4014,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];
