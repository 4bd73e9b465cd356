import { DEFAULT_EVENT_LOOP_SAMPLE_MS } from '../../runtime/metrics.js';
import { histogramBuckets, quantileBetween, sampleSum, sampleValue, type Sample } from '../lib/prometheus-text.js';

/** The nodes' latency histograms the latency phase reads around each trial: send → `sent`, the statement, submit → commit. */
const SERVER_HISTOGRAMS = ['im_send_seconds', 'im_commit_statement_seconds', 'im_commit_row_seconds'] as const;

/** What one scrape of every node holds for the latency phase. */
export interface NodeReading {
  /** When it was read (performance.now(), ms). */
  at: number;
  /** SERVER_HISTOGRAMS' cumulative buckets, summed over the nodes, in that order. */
  hist: Map<number, number>[];
  /**
   * The event-loop delay since the node's previous scrape (prom-client resets its window at each one), the worst
   * node's, s. As Node's monitorEventLoopDelay records it: the time between two ticks of its sampling timer, so an idle
   * loop reads the sampling interval (DEFAULT_EVENT_LOOP_SAMPLE_MS), not 0.
   */
  loopP99: number;
  loopMax: number;
  /** Time spent in garbage collection, summed over the nodes and kinds since they started, s. */
  gcSeconds: number;
}

/** The nodes' own figures for one trial, ms (GC: ms of pauses per second of the trial, summed over the nodes). */
export interface NodeFigures {
  sendP50: number;
  sendP99: number;
  stmtP99: number;
  rowP50: number;
  rowP99: number;
  /** How late the loop was beyond its sampling interval: the time a ready callback waited for the loop. */
  loopP99: number;
  loopMax: number;
  gcMsPerSec: number;
}

/** Reads a NodeReading from one scrape of each node. */
export function nodeReading(scrapes: readonly Sample[][]): NodeReading {
  const hist = SERVER_HISTOGRAMS.map((name) => {
    const sum = new Map<number, number>();
    for (const samples of scrapes) for (const [le, n] of histogramBuckets(samples, name)) sum.set(le, (sum.get(le) ?? 0) + n);
    return sum;
  });
  const worst = (name: string) => Math.max(0, ...scrapes.map((s) => sampleValue(s, name) ?? 0));
  return {
    at: performance.now(),
    hist,
    loopP99: worst('nodejs_eventloop_lag_p99_seconds'),
    loopMax: worst('nodejs_eventloop_lag_max_seconds'),
    gcSeconds: scrapes.reduce((n, s) => n + sampleSum(s, 'nodejs_gc_duration_seconds_sum'), 0),
  };
}

/**
 * The nodes' figures between two readings. The event-loop delay is the second reading's own: it covers the time since
 * the first, provided nothing else scraped the nodes in between (nothing does in a benchmark).
 */
export function figuresBetween(before: NodeReading, after: NodeReading): NodeFigures {
  const q = (i: number, p: number) => quantileBetween(before.hist[i]!, after.hist[i]!, p) * 1000;
  return {
    sendP50: q(0, 0.5),
    sendP99: q(0, 0.99),
    stmtP99: q(1, 0.99),
    rowP50: q(2, 0.5),
    rowP99: q(2, 0.99),
    loopP99: Math.max(0, after.loopP99 * 1000 - DEFAULT_EVENT_LOOP_SAMPLE_MS),
    loopMax: Math.max(0, after.loopMax * 1000 - DEFAULT_EVENT_LOOP_SAMPLE_MS),
    gcMsPerSec: ((after.gcSeconds - before.gcSeconds) * 1000) / ((after.at - before.at) / 1000),
  };
}
