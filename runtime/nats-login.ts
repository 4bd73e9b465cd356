import { connect, type NatsConnection } from 'nats';
import { ErrorCode, ImError } from '../protocol/errors.js';
import { ConfigError } from './config-error.js';

/**
 * How the nodes and imctl log in to a NATS server that asks for it (nats.conf's `authorization`): a user and password,
 * or a token. nats.js reads neither from a server URL (it keeps only host and port), so they are taken out here.
 */
export type NatsAuth = { user: string; pass: string } | { token: string };

/** The servers to dial, without credentials, and the credentials to log in with (none: an open server). */
export interface NatsLogin {
  servers: string[];
  auth?: NatsAuth;
}

/** `nats://user:pass@host:port` or `nats://token@host:port` (the Go client's and the nats CLI's forms). */
const USERINFO = /^([a-z][a-z0-9+.-]*:\/\/)?([^@/]*)@/i;

/**
 * Reads the NATS credentials: NATS_USER with NATS_PASSWORD, or NATS_TOKEN (the nats CLI's names), or those written in
 * the server URLs (NATS_URL's: `fromFlag`, URLs given as --nats, must carry none). Environment only, never a flag: a
 * command line shows in `ps`. Refuses what cannot be meant: a
 * variable set but empty, a user without a password, two kinds of credentials, or URLs that disagree.
 */
export function natsLogin(urls: string[], env: NodeJS.ProcessEnv, fromFlag = false): NatsLogin {
  for (const name of ['NATS_USER', 'NATS_PASSWORD', 'NATS_TOKEN'] as const) if (env[name] === '') throw new ConfigError(`${name} is set but empty`);
  if (fromFlag && urls.some((u) => USERINFO.test(u))) throw new ConfigError('--nats carries credentials, which any local user reads on a command line (ps): put them in NATS_URL, or in NATS_USER and NATS_PASSWORD (or NATS_TOKEN)');
  const fromUrls = new Set<string>();
  const servers = urls.map((u) => {
    const m = USERINFO.exec(u);
    if (!m) return u;
    if (m[2] !== '') fromUrls.add(m[2]!);
    return u.replace(USERINFO, '$1');
  });
  if (fromUrls.size > 1) throw new ConfigError('the NATS URLs carry different credentials: the nodes log in to every server of a cluster the same way');
  const { NATS_USER: user, NATS_PASSWORD: pass, NATS_TOKEN: token } = env;
  const fromEnv = user !== undefined || pass !== undefined || token !== undefined;
  if (fromEnv && fromUrls.size > 0) throw new ConfigError('NATS credentials are given twice, in the environment and in a NATS URL: keep one');
  if (token !== undefined && (user !== undefined || pass !== undefined)) throw new ConfigError('NATS_TOKEN and NATS_USER/NATS_PASSWORD are both set: a NATS server takes one of them');
  if ((user === undefined) !== (pass === undefined)) throw new ConfigError(`${user === undefined ? 'NATS_PASSWORD' : 'NATS_USER'} is set without ${user === undefined ? 'NATS_USER' : 'NATS_PASSWORD'}`);
  if (token !== undefined) return { servers, auth: { token } };
  if (user !== undefined) return { servers, auth: { user, pass: pass! } };
  const [info] = fromUrls;
  if (info === undefined) return { servers };
  const colon = info.indexOf(':');
  if (colon < 0) return { servers, auth: { token: decoded(info) } };
  return { servers, auth: { user: decoded(info.slice(0, colon)), pass: decoded(info.slice(colon + 1)) } };
}

/** A URL's percent-encoded user or password; a stray `%` stops the start naming it, not with a URIError's stack. */
function decoded(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new ConfigError('the credentials in a NATS URL are not valid percent-encoding: write % as %25 (and @ as %40, : as %3A, / as %2F)');
  }
}

/** Dials a node's NATS connection; a refusal (a wrong login, no server) is an `unavailable` naming the servers. */
export async function dialNodeNats(servers: string[], auth: NatsAuth | undefined, name: string): Promise<NatsConnection> {
  try {
    return await connect({
      servers,
      ...auth,
      name,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      // Each dial gives up after this (nats.js waits 20 s): after a network that dropped packets heals, every node
      // is back within a few seconds of the others, well inside --nats-cut-grace-ms, and none gives way to another.
      timeout: 5000,
      pingInterval: 5000,
      // nats.js otherwise captures two stack traces per request (a share of a node's CPU under load).
      noAsyncTraces: true,
    });
  } catch (err) {
    throw new ImError(ErrorCode.UNAVAILABLE, `cannot reach NATS at ${servers.join(',')}: ${(err as Error).message}`, { cause: err });
  }
}
