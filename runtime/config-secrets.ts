import { ConfigError } from './config-error.js';

/*
 * The node's secrets, read by parseConfig from the environment it is given (never from flags: a flag shows in `ps`).
 * Each is refused at start when it cannot protect anything: set but empty, too short to resist a guess, or one of the
 * public development values on a gateway other machines can reach.
 */

/** Development defaults: a real deployment sets IM_TOKEN_SECRET and IM_SERVER_KEY. */
export const DEV_TOKEN_SECRET = 'natsim-dev-secret-change-me';
export const DEV_SERVER_KEY = 'natsim-dev-server-key';

/**
 * Fewest bytes a secret or key may have: HS256 and the webhooks' HMAC-SHA256 want a key at least as long as the hash
 * (RFC 7518 §3.2), and a short one can be found offline from a single signed token.
 */
export const MIN_SECRET_BYTES = 32;

export interface GatewaySecrets {
  tokenSecret: string;
  serverKey: string;
  /** A rotation's previous values: still taken, never used to sign. */
  previousTokenSecret?: string;
  previousServerKey?: string;
}

/** Refuses a secret the operator set that is shorter than MIN_SECRET_BYTES. */
export function checkSecretLength(name: string, value: string): void {
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes < MIN_SECRET_BYTES) throw new ConfigError(`${name} has ${bytes} bytes; at least ${MIN_SECRET_BYTES} are needed (\`openssl rand -base64 32\` makes one)`);
}

/** The gateway's token secret and server key from `env`; `beyondLoopback` refuses the public development ones. */
export function gatewaySecrets(env: NodeJS.ProcessEnv, beyondLoopback: string | undefined): GatewaySecrets {
  // Set but empty (`IM_SERVER_KEY=${UNSET}` in a compose file) is a mistake, not a choice: no key would be asked.
  for (const name of ['IM_TOKEN_SECRET', 'IM_SERVER_KEY'] as const) if (env[name] === '') throw new ConfigError(`${name} is set but empty`);
  const tokenSecret = env['IM_TOKEN_SECRET'] ?? DEV_TOKEN_SECRET;
  const serverKey = env['IM_SERVER_KEY'] ?? DEV_SERVER_KEY;
  // The previous values may be short: a rotation is how a deployment moves off a short secret.
  if (tokenSecret !== DEV_TOKEN_SECRET) checkSecretLength('IM_TOKEN_SECRET', tokenSecret);
  if (serverKey !== DEV_SERVER_KEY) checkSecretLength('IM_SERVER_KEY', serverKey);
  const previousTokenSecret = env['IM_TOKEN_SECRET_PREVIOUS'] || undefined;
  const previousServerKey = env['IM_SERVER_KEY_PREVIOUS'] || undefined;
  // The development secrets are public (they are in the README): with them anyone can mint tokens or call the
  // server API, so a gateway reachable from other machines refuses to start with either, as current or previous.
  const devToken = tokenSecret === DEV_TOKEN_SECRET || previousTokenSecret === DEV_TOKEN_SECRET;
  if (beyondLoopback !== undefined && (devToken || serverKey === DEV_SERVER_KEY || previousServerKey === DEV_SERVER_KEY)) {
    throw new ConfigError(`the gateway would listen on ${beyondLoopback}, beyond this machine, with the public development ${devToken ? 'token secret' : 'server key'}: set IM_TOKEN_SECRET and IM_SERVER_KEY`);
  }
  return {
    tokenSecret,
    serverKey,
    ...(previousTokenSecret !== undefined && { previousTokenSecret }),
    ...(previousServerKey !== undefined && { previousServerKey }),
  };
}

/**
 * The secrets of `g` that are still the public development values: a gateway on loopback may run with them (a proxy
 * on the same host may expose it all the same), so the node says so at start.
 */
export function devSecretsInUse(g: GatewaySecrets): string[] {
  return [...(g.tokenSecret === DEV_TOKEN_SECRET ? ['IM_TOKEN_SECRET'] : []), ...(g.serverKey === DEV_SERVER_KEY ? ['IM_SERVER_KEY'] : [])];
}
