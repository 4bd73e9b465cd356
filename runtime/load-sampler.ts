import type { Histogram } from 'prom-client';
import { quantileBetween } from './histogram-quantile.js';

/** How often a node measures the load its heartbeat reports. */
export const LOAD_SAMPLE_MS = 1000;

/** What a node reports of its last LOAD_SAMPLE_MS (DESIGN.md §8), for the dispatcher and `imctl nodes`. */
export interface SampledLoad {
  /** CPU time of the process over wall time, in percent of one core. */
  cpu: number;
  /** Observations of the latency histogram per second (for a gateway: `send`s answered). */
  perSec: number;
  /** Its 90th and 99th percentiles in ms (bucket-interpolated), absent with nothing observed. */
  p90Ms?: number;
  p99Ms?: number;
}

/**
 * Samples the process's CPU and the recent percentiles of one latency histogram once a LOAD_SAMPLE_MS, so that a
 * heartbeat reads the last figures synchronously. The histogram's totals are cumulative: each sample is the
 * difference from the one before.
 */
export class LoadSampler {
  private latest: SampledLoad = { cpu: 0, perSec: 0 };
  private timer: NodeJS.Timeout | undefined;
  private cpuAt = process.cpuUsage();
  private wallAt = performance.now();
  private bucketsAt = new Map<number, number>();

  constructor(private readonly latency?: Histogram) {}

  /** The last sample's figures. */
  get current(): SampledLoad {
    return this.latest;
  }

  /** Samples every LOAD_SAMPLE_MS until `close`. */
  start(): void {
    this.timer = setInterval(() => void this.sample(), LOAD_SAMPLE_MS);
    this.timer.unref();
  }

  /** Takes one sample now (the interval calls this). */
  async sample(): Promise<SampledLoad> {
    const cpu = process.cpuUsage();
    const wall = performance.now();
    const buckets = this.latency ? await bucketsOf(this.latency) : new Map<number, number>();
    const wallMs = Math.max(1, wall - this.wallAt);
    const out: SampledLoad = {
      cpu: round1(((cpu.user - this.cpuAt.user + cpu.system - this.cpuAt.system) / 1000 / wallMs) * 100),
      perSec: round1((((buckets.get(Infinity) ?? 0) - (this.bucketsAt.get(Infinity) ?? 0)) * 1000) / wallMs),
    };
    const [p90, p99] = [0.9, 0.99].map((q) => quantileBetween(this.bucketsAt, buckets, q) * 1000);
    if (Number.isFinite(p90)) out.p90Ms = round1(p90!);
    if (Number.isFinite(p99)) out.p99Ms = round1(p99!);
    [this.cpuAt, this.wallAt, this.bucketsAt, this.latest] = [cpu, wall, buckets, out];
    return out;
  }

  /** Stops sampling. */
  close(): void {
    if (this.timer) clearInterval(this.timer);
  }
}

/** A prom-client histogram's cumulative bucket counts by upper bound (+Inf as Infinity). */
async function bucketsOf(h: Histogram): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  for (const v of (await h.get()).values) {
    if (v.metricName?.endsWith('_bucket') !== true || v.labels['le'] === undefined) continue;
    const le = v.labels['le'] === '+Inf' ? Infinity : Number(v.labels['le']);
    out.set(le, (out.get(le) ?? 0) + v.value);
  }
  return out;
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}
