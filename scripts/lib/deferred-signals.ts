/** A second signal within this long of the first is the same one, passed on again (see deferringSignals). */
const SIGNAL_REPEAT_MS = 1_000;
const SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * Runs `run` with Ctrl-C, SIGTERM and SIGHUP (a lost terminal) deferred: the first aborts the signal `run` gets and
 * prints `what: SIGNAL: finishing`, so that what is in flight finishes; another one later than a moment after
 * quits at once (exit 130). A shard move cut off after its old owner released leaves the shard served by nobody
 * until the coordinator rolls it back (~10 s).
 */
export async function deferringSignals<T>(what: string, finishing: string, run: (interrupted: AbortSignal) => Promise<T>): Promise<T> {
  const interrupt = new AbortController();
  let firstAt = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    // One Ctrl-C can arrive twice: the terminal signals the whole process group, and a parent that passes signals on
    // (the tsx command, if run through it) sends it again. A second one means "quit" only a moment later.
    if (interrupt.signal.aborted) {
      if (Date.now() - firstAt > SIGNAL_REPEAT_MS) process.exit(130);
      return;
    }
    firstAt = Date.now();
    interrupt.abort();
    process.stderr.write(`\n${what}: ${signal}: ${finishing} (again to quit at once)\n`);
  };
  for (const s of SIGNALS) process.on(s, onSignal);
  try {
    return await run(interrupt.signal);
  } finally {
    for (const s of SIGNALS) process.off(s, onSignal);
  }
}
