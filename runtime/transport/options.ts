import type { Logger } from '../logger.js';
import type { RetryPolicy } from './retry.js';

/** How a transport batches, times out and retries; every field has a `DEFAULT_*` below. */
export interface TransportOptions {
  log: Logger;
  /** Most calls (or tells) in one batch. */
  maxBatchItems?: number;
  /** Most encoded bytes in one batch; never more than the server's max_payload. Bigger batches are split. */
  maxBatchBytes?: number;
  /** 0 (default) flushes on the next tick; up to ~1 ms trades latency for bigger batches. */
  flushDelayMs?: number;
  /** Call batches outstanding per subject. 1 (default) keeps per-subject FIFO even across no-responders retries. */
  maxInFlightPerSubject?: number;
  /** Deadline of a call that names none. */
  defaultTimeoutMs?: number;
  /** Backoff for resending a batch that met no responders. */
  retry?: RetryPolicy;
}

export const DEFAULT_MAX_BATCH_ITEMS = 4096;
export const DEFAULT_MAX_BATCH_BYTES = 512 * 1024;
export const DEFAULT_MAX_IN_FLIGHT_PER_SUBJECT = 1;
export const DEFAULT_CALL_TIMEOUT_MS = 5000;
export const DEFAULT_DRAIN_TIMEOUT_MS = 5000;

/** What the transport has done, for metrics and benchmarks. */
export interface TransportStats {
  callsSent: number;
  batchesSent: number;
  tellsSent: number;
  tellBatchesSent: number;
  tellsDropped: number;
  noResponderRetries: number;
  /** Batches (or parts of them) sent again because the node they reached did not serve their shard any more. */
  notServedRetries: number;
  timeouts: number;
  unavailable: number;
  /** Batches cut in pieces because they were over maxBatchBytes. */
  oversizeSplits: number;
  /** Calls waiting for their answer right now (queued or in flight). */
  outstanding: number;
}
