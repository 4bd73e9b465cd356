/** The kinds of fault the chaos harness injects; every kind runs at least once when the run is long enough. */
export const FaultKind = {
  KILL_NODE: 'kill-node',
  FREEZE_NODE: 'freeze-node',
  KILL_NATS: 'kill-nats',
  /** One node's NATS links go silent (Postgres and its clients still reach it), past its --nats-cut-grace-ms. */
  CUT_NATS: 'cut-nats',
  RESTART_POSTGRES: 'restart-postgres',
  REBALANCE: 'rebalance',
  MOVE: 'move',
  DROP_SOCKETS: 'drop-sockets',
  SET_LARGE_GROUP: 'set-large-group',
  /** An app restart: a device sends, its client closes at once, and a new one opens on its outbox. */
  REOPEN_APP: 'reopen-app',
} as const;
export type FaultKind = (typeof FaultKind)[keyof typeof FaultKind];

/** One planned fault: what, when (ms after the start of sending), and its seeded choices. */
export interface PlannedFault {
  at: number;
  kind: FaultKind;
  /** A number in [0, 1) that picks the node, server, shard or clients the fault hits. */
  pick: number;
}

/** mulberry32: a small seeded PRNG, so that a seed always gives the same schedule. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The fault schedule of a run: every kind once (in a seeded order), then seeded extra faults, spaced evenly
 * over the run with seeded jitter and never closer than `minGapMs`, so that each fault's recovery is visible.
 * The last 20 % of the run is left quiet: the system must settle before the verifier looks.
 */
export function planFaults(durationMs: number, seed: number, kinds: FaultKind[], minGapMs = 4000): PlannedFault[] {
  const rnd = seeded(seed);
  const order = [...kinds];
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const window = durationMs * 0.8;
  const slots = Math.max(1, Math.floor(window / minGapMs));
  while (order.length < slots) order.push(kinds[Math.floor(rnd() * kinds.length)]!);
  const plan = order.slice(0, slots);
  const gap = window / plan.length;
  return plan.map((kind, i) => ({ at: Math.round(i * gap + rnd() * gap * 0.3 + 1000), kind, pick: rnd() }));
}
