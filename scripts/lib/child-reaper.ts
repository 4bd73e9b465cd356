import type { ChildProcess } from 'node:child_process';
import os from 'node:os';

// Node processes, nats-servers and Postgres started by a script must not outlive it. A bench or chaos run that
// died of a signal (Ctrl-C, SIGTERM, or EPIPE once its output was piped into `head`) used to leave them all
// running: its `finally` blocks never ran, and the next run fought them for CPU and ports.

/** Live children and the signal that ends each one promptly (nodes: SIGKILL, not a drain into a dying cluster). */
const live = new Map<ChildProcess, NodeJS.Signals>();
let exitHookInstalled = false;
let signalHookInstalled = false;

/** How long the signal path waits for children to go before it SIGKILLs the rest. */
const SIGNAL_GRACE_MS = 3000;

const isAlive = (c: ChildProcess): boolean => c.exitCode === null && c.signalCode === null;

function send(c: ChildProcess, sig: NodeJS.Signals): void {
  try {
    c.kill('SIGCONT'); // a SIGSTOPped child (chaos freezes them) would not act on anything else
    c.kill(sig);
  } catch {
    // already gone
  }
}

/** Ends `child` with `signal` when this process exits, unless it has ended by then. */
export function reapOnExit(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): void {
  if (!isAlive(child)) return;
  live.set(child, signal);
  child.once('exit', () => live.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // 'exit' listeners run synchronously, so this only sends; Postgres and nats-server finish their shutdown alone.
    process.on('exit', () => {
      for (const [c, sig] of live) if (isAlive(c)) send(c, sig);
    });
  }
}

/**
 * For entry scripts without signal handlers of their own (bench, chaos): SIGINT, SIGTERM or SIGHUP end every
 * reaped child (SIGKILL after a short grace), then exit with 128 + the signal's number, as the default would.
 */
export function stopChildrenOnSignal(): void {
  if (signalHookInstalled) return;
  signalHookInstalled = true;
  let stopping = false;
  const onSignal = (sig: NodeJS.Signals): void => {
    const code = 128 + (os.constants.signals[sig] ?? 0);
    if (stopping) process.exit(code); // a second signal: do not wait
    stopping = true;
    process.stderr.write(`\n${sig}: stopping ${live.size} child process(es)\n`);
    const children = [...live].filter(([c]) => isAlive(c));
    for (const [c, s] of children) send(c, s);
    const gone = Promise.all(children.map(([c]) => (isAlive(c) ? new Promise((r) => c.once('exit', r)) : undefined)));
    const timer = setTimeout(() => {
      for (const [c] of children) if (isAlive(c)) send(c, 'SIGKILL');
    }, SIGNAL_GRACE_MS);
    void gone.then(() => {
      clearTimeout(timer);
      process.exit(code);
    });
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, onSignal);
}

/** How many reaped children are still running (for tests). */
export function liveChildCount(): number {
  return [...live.keys()].filter(isAlive).length;
}
