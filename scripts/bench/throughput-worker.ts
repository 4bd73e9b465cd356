/**
 * Serving side of the runtime-throughput benchmark, in its own process: an ActorHost with an `echo` actor
 * kind behind S shard subjects, plus a raw NATS subscriber for the baseline. Driven over NATS only.
 */
import { connect } from 'nats';
import type { ActorKind } from '../../runtime/actor.js';
import { ActorHost } from '../../runtime/actor-host.js';
import { silentLogger } from '../../runtime/logger.js';
import { Router } from '../../runtime/router.js';
import { shardSubject } from '../../protocol/subjects.js';
import { Transport } from '../../runtime/transport/transport.js';

const [natsUrl, shardsRaw] = process.argv.slice(2);
const SHARDS = Number(shardsRaw);
let tells = 0;
let raw = 0;

const echo: ActorKind = {
  kind: 'echo',
  create: () => ({
    handle: (op, payload) => {
      if (op === 'tell') tells++;
      return op === 'count' ? { tells, raw } : payload;
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
  }
  nc.subscribe('bench.raw', { callback: () => raw++ });
  nc.subscribe('bench.reset', { callback: (_e, m) => ((tells = 0), (raw = 0), m.respond(new Uint8Array())) });
  await nc.flush();
  process.send?.({ type: 'ready' });
  process.on('SIGTERM', () => void nc.close().then(() => process.exit(0)));
}

void main();
