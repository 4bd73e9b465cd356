import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createBenchContext, type BenchScenario } from './bench/lib.js';
import { stopChildrenOnSignal } from './lib/child-reaper.js';

/** Scenario name → module. Add a scenario by adding a line here. */
const SCENARIOS: Record<string, () => Promise<{ default: BenchScenario }>> = {
  storage: () => import('./bench/storage.js'),
  'runtime-throughput': () => import('./bench/runtime-throughput.js'),
  'runtime-failover': () => import('./bench/runtime-failover.js'),
  chat: () => import('./bench/chat.js'),
  soak: () => import('./bench/soak.js'),
  storm: () => import('./bench/storm.js'),
};

/** Names that stand for several scenarios. */
const GROUPS: Record<string, string[]> = {
  runtime: ['runtime-throughput', 'runtime-failover'],
  // The soak runs for minutes on purpose: it is asked for by name.
  all: Object.keys(SCENARIOS).filter((n) => n !== 'soak'),
};

function parse(argv: string[]): { names: string[]; trials: number; options: Record<string, string> } {
  const names: string[] = [];
  const options: Record<string, string> = {};
  let trials = 3;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.startsWith('--')) {
      const v = argv[i + 1] ?? '';
      i++;
      if (a === '--trials') trials = Math.max(1, Number(v) || 3);
      else options[a.slice(2)] = v;
    } else names.push(a);
  }
  return { names: names.length ? names : ['all'], trials, options };
}

async function main(): Promise<void> {
  stopChildrenOnSignal();
  const { names, trials, options } = parse(process.argv.slice(2));
  const selected = [...new Set(names.flatMap((n) => GROUPS[n] ?? [n]))];
  const unknown = selected.filter((n) => !(n in SCENARIOS));
  if (unknown.length) {
    console.error(`unknown scenario(s): ${unknown.join(', ')}; known: ${Object.keys(SCENARIOS).join(', ')}, ${Object.keys(GROUPS).join(', ')}`);
    process.exit(2);
  }
  const runStarted = Date.now();
  for (const [i, name] of selected.entries()) {
    process.stderr.write(`[bench] scenario ${i + 1}/${selected.length}: ${name}\n`);
    const scenario = (await SCENARIOS[name]!()).default;
    const workDir = await mkdtemp(path.join(os.tmpdir(), `natsim-bench-${name}-`));
    const ctx = createBenchContext(name, { trials, workDir, options, isTTY: process.stderr.isTTY === true });
    const started = Date.now();
    let ok = false;
    try {
      await scenario.run(ctx);
      ok = true;
    } finally {
      const file = await ctx.finish();
      console.log(`(${((Date.now() - started) / 1000).toFixed(1)} s; ${path.relative(process.cwd(), file)})`);
      // A failed scenario keeps its node and server logs for whoever looks into it.
      if (ok) await rm(workDir, { recursive: true, force: true });
      else console.error(`[bench] ${name} failed; its logs are kept in ${workDir}`);
    }
  }
  if (selected.length > 1) console.log(`\nall ${selected.length} scenarios in ${((Date.now() - runStarted) / 60_000).toFixed(1)} min`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
