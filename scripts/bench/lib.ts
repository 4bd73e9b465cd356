import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { table } from '../lib/table.js';

/** One figure of a scenario: the median over trials, its spread, and the same-run baseline it is compared to. */
export interface BenchFigure {
  scenario: string;
  name: string;
  unit: string;
  /** Every trial's value. */
  trials: number[];
  median: number;
  min: number;
  max: number;
  /** The baseline measured in the same run (e.g. raw INSERT, raw NATS pub/sub), when there is one. */
  baseline?: { name: string; median: number; trials: number[] };
  /** median / baseline.median. */
  ratio?: number;
  /** The target, printed next to the figure; never asserted. */
  target?: string;
}

export interface BenchContext {
  /** How many times each measurement is repeated; median and spread are reported. */
  trials: number;
  /** A scratch dir for servers the scenario starts. */
  workDir: string;
  /** Scenario options from the command line (`--key value`). */
  options: Record<string, string>;
  /** Prints a single overwritten progress line on a terminal, plain lines otherwise. */
  progress(message: string): void;
  /** Records a figure for the table and the JSON file. */
  record(figure: Omit<BenchFigure, 'median' | 'min' | 'max' | 'ratio' | 'scenario'>): BenchFigure;
}

/** A benchmark scenario selectable by name: `npm run bench -- <name>`. */
export interface BenchScenario {
  name: string;
  description: string;
  run(ctx: BenchContext): Promise<void>;
}

/** The median of a non-empty list. */
export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** The p-th percentile (0..100) of a list, nearest-rank. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const rank = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[rank]!;
}

/** Runs `fn` `trials` times and returns every result. */
export async function repeat(trials: number, fn: (trial: number) => Promise<number>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < trials; i++) out.push(await fn(i));
  return out;
}

function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) >= 1000) return Math.round(n).toLocaleString('en-US');
  return n.toFixed(Math.abs(n) >= 10 ? 1 : 2);
}

/** Creates the context a scenario runs in; `finish()` prints the table and writes bench-results/<scenario>-<time>.json. */
export function createBenchContext(
  scenario: string,
  options: { trials: number; workDir: string; options: Record<string, string>; isTTY: boolean },
): BenchContext & { figures: BenchFigure[]; finish(): Promise<string> } {
  const figures: BenchFigure[] = [];
  return {
    trials: options.trials,
    workDir: options.workDir,
    options: options.options,
    figures,
    progress(message) {
      if (options.isTTY) process.stderr.write(`\r\x1b[2K[${scenario}] ${message}`);
      else process.stderr.write(`[${scenario}] ${message}\n`);
    },
    record(f) {
      const fig: BenchFigure = { ...f, scenario, median: median(f.trials), min: Math.min(...f.trials), max: Math.max(...f.trials) };
      if (f.baseline) fig.ratio = fig.median / f.baseline.median;
      figures.push(fig);
      return fig;
    },
    async finish() {
      if (options.isTTY) process.stderr.write('\r\x1b[2K');
      const rows = figures.map((f) => [
        f.name,
        `${fmt(f.median)} ${f.unit}`,
        `${fmt(f.min)}–${fmt(f.max)}`,
        f.baseline ? `${f.baseline.name}: ${fmt(f.baseline.median)}` : '',
        f.ratio !== undefined ? `${(f.ratio * 100).toFixed(0)}%` : '',
        f.target ?? '',
      ]);
      const head = ['figure', 'median', `spread (${options.trials} trials)`, 'baseline (same run)', 'ratio', 'target'];
      console.log(`\n== ${scenario}`);
      console.log(table(head, rows));
      const dir = path.resolve('bench-results');
      await mkdir(dir, { recursive: true });
      const file = path.join(dir, `${scenario}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
      await writeFile(file, JSON.stringify({ scenario, trials: options.trials, at: new Date().toISOString(), figures }, null, 2));
      return file;
    },
  };
}
