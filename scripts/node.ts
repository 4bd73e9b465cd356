/**
 * Entry point of one node process: `tsx scripts/node.ts --node-id n1 --nats nats://… --database-url postgres://…`.
 * SIGTERM / SIGINT / SIGHUP drain the node (its shards move to other nodes first), a second signal closes it at once.
 * A repeat within 2 s counts as the same one: Ctrl-C on `npm start` reaches the node from the terminal (SIGINT to
 * the whole process group) and from its parent (SIGTERM) at once, and used to skip the drain.
 */
import { KNOWN_KINDS, startChatNode } from '../actors/chat-node.js';
import { ImError } from '../protocol/errors.js';
import { ConfigError, parseConfig } from '../runtime/config.js';
import { devSecretsInUse } from '../runtime/config-secrets.js';
import { createLogger } from '../runtime/logger.js';

/** Signals this close together are one request to stop. */
const SAME_SIGNAL_MS = 2000;

async function main(): Promise<void> {
  let config;
  try {
    config = parseConfig();
    const unknown = config.kinds.filter((k) => !KNOWN_KINDS.includes(k));
    if (unknown.length) throw new ConfigError(`unknown actor kind(s) ${unknown.join(', ')}; known: ${KNOWN_KINDS.join(', ')}`);
  } catch (err) {
    console.error(`node: ${(err as Error).message}`);
    process.exit(2);
  }
  const log = createLogger({ level: config.logLevel, base: { node: config.nodeId } });
  const node = await startChatNode(config, log, (err) => {
    log.error({ err: err.message }, 'node stopped by itself; exiting');
    log.flush();
    setTimeout(() => process.exit(1), 50);
  });
  log.info({ kinds: config.kinds, nats: config.natsServers, gateway: node.gateway ? config.gateway.publicUrl : null }, 'node started');
  // A restart is then another node: a drain (cordon) does not outlive it, and each old id stays in `imctl nodes`.
  if (config.nodeIdFromHost) log.warn({ nodeId: config.nodeId }, 'no --node-id given: this id changes at every restart; give each node a stable one');
  const dev = node.gateway ? devSecretsInUse(config.gateway) : [];
  // Refused beyond loopback; on loopback a reverse proxy may still expose the gateway to anyone who read the README.
  if (dev.length > 0) log.warn({ unset: dev }, 'the gateway takes the public development secrets (README): anyone who reaches it can mint tokens or call the server API; set IM_TOKEN_SECRET and IM_SERVER_KEY');
  process.send?.({ type: 'ready', nodeId: config.nodeId });
  let firstSignalAt = 0;
  const stop = (sig: string): void => {
    if (firstSignalAt > 0) {
      if (Date.now() - firstSignalAt < SAME_SIGNAL_MS) return;
      log.warn({ sig }, 'second signal: exiting now');
      process.exit(1);
    }
    firstSignalAt = Date.now();
    log.info({ sig }, 'draining');
    node
      .drain()
      .then(() => {
        log.info('drained; bye');
        log.flush();
        setTimeout(() => process.exit(0), 50);
      })
      .catch((err: unknown) => {
        log.error({ err: (err as Error).message }, 'drain failed');
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // A closed terminal reaches every process of `npm start`: drain, as for SIGTERM, rather than die undrained.
  process.on('SIGHUP', () => stop('SIGHUP'));
}

main().catch((err: unknown) => {
  // A coded refusal (the node id is taken, the database is unreachable) says all there is to say; anything else
  // is a bug, and its stack is wanted.
  if (err instanceof ConfigError) {
    console.error(`node: ${err.message}`);
    process.exit(2);
  }
  if (err instanceof ImError) console.error(`node: failed to start: ${err.message} (${err.code})`);
  else console.error('node: failed to start:', err);
  process.exit(1);
});
