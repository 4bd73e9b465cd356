/**
 * Serving side of the runtime-throughput benchmark, in its own process. Over NATS it serves:
 * - `echo` actors (an ActorHost with one actor kind) behind S shard subjects — calls and tells. Op `send`
 *   answers a small ack `{ seq, ts }` (what a chat send gets back); op `echo` answers with the payload;
 * - `bench.ack.<s>`: the bare transport answering the same ack, no actors — what the transport alone costs;
 * - `bench.raw`: a plain NATS subscriber, the baseline.
 * Control runs over the IPC channel so it never competes with the measured traffic:
 * `{ expect: 'tells' | 'raw', n }` resets that counter and answers `{ done }` once n messages arrived.
 */
import { connect } from 'nats';
import type { ActorKind } from '../../runtime/actor.js';
import { ActorHost } from '../../runtime/actor-host.js';
import { silentLogger } from '../../runtime/logger.js';
import { Router } from '../../runtime/router.js';
import { shardSubject } from '../../protocol/subjects.js';
import { Transport } from '../../runtime/transport/transport.js';

type Counter = 'tells' | 'raw';
const [natsUrl, shardsRaw] = process.argv.slice(2);
const SHARDS = Number(shardsRaw);
const counts: Record<Counter, number> = { tells: 0, raw: 0 };
const expected: Record<Counter, number> = { tells: Infinity, raw: Infinity };

function bump(what: Counter): void {
  if (++counts[what] === expected[what]) process.send?.({ done: what });
}

let seq = 0;
const ack = (): { seq: number; ts: number } => ({ seq: ++seq, ts: Date.now() });

const echo: ActorKind = {
  kind: 'echo',
  create: () => ({
    handle: (op, payload) => {
      if (op === 'tell') bump('tells');
      return op === 'send' ? ack() : payload;
    },
  }),
};

async function main(): Promise<void> {
  const nc = await connect({ servers: natsUrl! });
  const log = silentLogger();
  const transport = new Transport(nc, { log });
  const router = new Router(transport, new Map([['echo', SHARDS]]));
  const host = new ActorHost({ nodeId: 'worker', kinds: [echo], sender: router, log, defaultIdleMs: 600_000, onFenced: () => {} });
  for (let s = 0; s < SHARDS; s++) {
    const fence = { kind: 'echo', shard: s, epoch: 1 };
    transport.serve(
      shardSubject('echo', s),
      (c) => host.dispatch('echo', c.key, fence, c.op, c.payload),
      (t) => void host.dispatch('echo', t.key, fence, t.op, t.payload),
    );
    transport.serve(`bench.ack.${s}`, () => Promise.resolve(ack()));
  }
  nc.subscribe('bench.raw', { callback: () => bump('raw') });
  await nc.flush();
  process.on('message', (m: { expect?: Counter; n?: number; exit?: boolean }) => {
    if (m.exit) {
      void transport
        .close()
        .then(() => nc.close())
        .finally(() => process.exit(0));
      return;
    }
    if (m.expect) {
      counts[m.expect] = 0;
      expected[m.expect] = m.n ?? Infinity;
      process.send?.({ ready: m.expect });
    }
  });
  // The parent going away ends us too, so a killed benchmark leaves no orphan.
  process.on('disconnect', () => process.exit(0));
  process.send?.({ ready: 'start' });
}

void main();
