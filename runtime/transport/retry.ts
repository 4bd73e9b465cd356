import { ErrorCode as NatsErrorCode } from 'nats';
import { ErrorCode, ImError } from '../../protocol/errors.js';

/** Backoff for resending a batch nobody received. */
export interface RetryPolicy {
  /** First delay. */
  initialMs: number;
  /** Cap of the doubling delay. */
  maxMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { initialMs: 5, maxMs: 200 };

/** Delay before resend number `attempt` (0-based): doubling up to the cap, with jitter in [50%, 100%] so callers spread out. */
export function backoffDelay(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  const base = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(attempt, 30));
  return Math.max(1, Math.round(base * (0.5 + random() * 0.5)));
}

/** How a failed NATS request is handled. */
export type RequestFailure = { retry: true } | { retry: false; error: ImError };

/**
 * Classifies a rejected nats.js request. Only "no responders" is retried: the server says nobody subscribed,
 * so the batch was never delivered. A timeout is final, because the batch may have been processed.
 * `connectionClosed` says the connection is closed by now, whatever the error claims.
 */
export function classifyRequestError(err: unknown, subject: string, connectionClosed = false): RequestFailure {
  const code = (err as { code?: unknown } | null)?.code;
  // nats.js fails the requests still waiting when its connection closes with a Timeout error.
  if (connectionClosed && code !== NatsErrorCode.NoResponders) {
    return { retry: false, error: new ImError(ErrorCode.CLOSED, 'NATS connection closed', { cause: err }) };
  }
  switch (code) {
    case NatsErrorCode.NoResponders:
      return { retry: true };
    case NatsErrorCode.Timeout:
      return { retry: false, error: new ImError(ErrorCode.TIMEOUT, `no reply from ${subject} in time`, { cause: err }) };
    case NatsErrorCode.ConnectionClosed:
    case NatsErrorCode.ConnectionDraining:
      return { retry: false, error: new ImError(ErrorCode.CLOSED, 'NATS connection closed', { cause: err }) };
    case NatsErrorCode.MaxPayloadExceeded:
      return { retry: false, error: new ImError(ErrorCode.FRAME_TOO_LARGE, `batch for ${subject} exceeds the server's max_payload`, { cause: err }) };
    default:
      return { retry: false, error: new ImError(ErrorCode.UNAVAILABLE, `request to ${subject} failed: ${(err as Error)?.message ?? String(err)}`, { cause: err }) };
  }
}
