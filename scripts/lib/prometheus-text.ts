/** One sample of a Prometheus text exposition. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Parses the Prometheus text format (the subset prom-client writes); throws on a line that is not one. */
export function parseExposition(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m) throw new Error(`not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** The value of the first sample named `name` whose labels include `labels`. */
export function sampleValue(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

/** `name` summed over all its label sets (0 when absent). */
export function sampleSum(samples: readonly Sample[], name: string): number {
  let n = 0;
  for (const s of samples) if (s.name === name) n += s.value;
  return n;
}

/** A histogram's cumulative bucket counts by upper bound (`le`, +Inf included), summed over label sets. */
export function histogramBuckets(samples: readonly Sample[], name: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const s of samples) {
    if (s.name !== `${name}_bucket` || s.labels['le'] === undefined) continue;
    const le = s.labels['le'] === '+Inf' ? Infinity : Number(s.labels['le']);
    out.set(le, (out.get(le) ?? 0) + s.value);
  }
  return out;
}

// Shared with the nodes, which report their recent send latency in their heartbeat.
export { quantileBetween } from '../../runtime/histogram-quantile.js';
