/** Size and rate limits of the client protocol; the gateway may be configured tighter, never looser. */
export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024;
export const DEFAULT_MAX_BODY_BYTES = 16 * 1024;
export const DEFAULT_MAX_ID_LENGTH = 128;
export const DEFAULT_MAX_PULL_LIMIT = 200;
export const DEFAULT_HEARTBEAT_MS = 25_000;
/** The server closes a connection silent for this many heartbeat intervals. */
export const IDLE_HEARTBEATS = 2.5;

export interface FrameLimits {
  maxFrameBytes: number;
  maxBodyBytes: number;
  maxIdLength: number;
  maxPullLimit: number;
}

export const DEFAULT_LIMITS: FrameLimits = {
  maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
  maxBodyBytes: DEFAULT_MAX_BODY_BYTES,
  maxIdLength: DEFAULT_MAX_ID_LENGTH,
  maxPullLimit: DEFAULT_MAX_PULL_LIMIT,
};
