import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** How often the process metrics sample event-loop delay (prom-client's default is 10 ms: 100 wake-ups a second). */
export const DEFAULT_EVENT_LOOP_SAMPLE_MS = 20;

let processRegistry: Registry | undefined;

/**
 * The process's own metrics (CPU, memory, heap, GC, event-loop delay, handles), made once per process: they
 * start a sampler and a GC observer that live as long as the process, and several nodes in one process (tests)
 * share them.
 */
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry, eventLoopMonitoringPrecision: DEFAULT_EVENT_LOOP_SAMPLE_MS });
  }
  return processRegistry;
}

/** Buckets (seconds) of the latency histograms: from a lone message on an idle node to a stalled one. */
export const LATENCY_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5] as const;

/**
 * A latency histogram that a component owns and observes on the path it times (~0.2 µs an observation);
 * `NodeMetrics.histogram` exposes it. The one kind of metric touched on the message path: a distribution
 * cannot be read from a counter at scrape time.
 */
export function latencyHistogram(name: string, help: string): Histogram {
  return new Histogram({ name, help, buckets: [...LATENCY_BUCKETS_S], registers: [] });
}

type Read = () => number;
type ReadLabelled = () => Iterable<readonly [string, number]>;

/**
 * One node's metrics in the Prometheus text format. Every value but a latency histogram's is read from counters
 * the components keep anyway, at scrape time. Counters stay monotonic because their sources only grow for the
 * life of the node.
 */
export class NodeMetrics {
  private readonly registry = new Registry();

  constructor(readonly nodeId: string) {
    this.registry.setDefaultLabels({ node: nodeId });
    // Started with the node: made at the first scrape instead, the event-loop delay read NaN there.
    processMetrics();
  }

  /** A counter whose value is `read()` at scrape time (`read` must never go down). */
  counter(name: string, help: string, read: Read): void {
    this.add(Counter, name, help, undefined, read);
  }

  /** A counter per value of `label`, read at scrape time. */
  counterBy(name: string, help: string, label: string, read: ReadLabelled): void {
    this.add(Counter, name, help, label, read);
  }

  /** A gauge whose value is `read()` at scrape time. */
  gauge(name: string, help: string, read: Read): void {
    this.add(Gauge, name, help, undefined, read);
  }

  /** A gauge per value of `label`, read at scrape time; values that disappear are dropped. */
  gaugeBy(name: string, help: string, label: string, read: ReadLabelled): void {
    this.add(Gauge, name, help, label, read);
  }

  /** Exposes a histogram made by `latencyHistogram`. */
  histogram(h: Histogram): void {
    this.registry.registerMetric(h);
  }

  private add(type: typeof Counter | typeof Gauge, name: string, help: string, label: string | undefined, read: Read | ReadLabelled): void {
    new type({
      name,
      help,
      labelNames: label === undefined ? [] : [label],
      registers: [this.registry],
      // Reset, then add what the source says now: both kinds expose the source's value, never a running sum.
      collect(this: Counter | Gauge) {
        this.reset();
        const v = read();
        if (typeof v === 'number') this.inc(v);
        else for (const [k, n] of v) this.inc({ [label!]: k }, n);
      },
    });
  }

  /** The exposition text: this node's metrics and the process's. */
  async text(): Promise<string> {
    // Concatenated, not Registry.merge()d: a merged registry loses this one's default `node` label.
    const [proc, own] = await Promise.all([processMetrics().metrics(), this.registry.metrics()]);
    return proc + own;
  }

  /** The Content-Type of `text()`. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** Forgets every metric of this node (the process's stay, for the process's other nodes). */
  close(): void {
    this.registry.clear();
  }
}
