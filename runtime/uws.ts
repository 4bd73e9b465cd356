import { createRequire } from 'node:module';
import type * as Uws from 'uWebSockets.js';
import { ErrorCode, ImError } from '../protocol/errors.js';

const require = createRequire(import.meta.url);

/**
 * Loads uWebSockets.js and refuses its pure-JS fallback: the npm build silently falls back to a `ws`-based
 * implementation when its native binary does not load, which would hide a 5-10x slowdown.
 */
export function loadUws(): typeof Uws {
  const uws = require('uWebSockets.js') as typeof Uws;
  if (!isNativeUws(uws)) {
    throw new Error(
      `uWebSockets.js loaded its JS fallback, not the native binary (node ABI ${process.versions.modules}, ` +
        `${process.platform}-${process.arch}); use Node 20 on linux-x64 (see .nvmrc)`,
    );
  }
  return uws;
}

/** True when `uws.App` is the native binding. */
export function isNativeUws(uws: typeof Uws): boolean {
  return String(uws.App).includes('[native code]');
}

/** uWS' ListenOptions.LIBUS_LISTEN_EXCLUSIVE_PORT (its typings omit the host + port + options form of listen). */
const LISTEN_EXCLUSIVE_PORT = 1;
type ListenWithOptions = (host: string, port: number, options: number, cb: (token: Uws.us_listen_socket | false) => void) => void;

/**
 * Listens on `host:port` without SO_REUSEPORT, which uWS sets by default: a second process given a port in use
 * (a misconfigured node) would otherwise share this one's connections silently. UNAVAILABLE when the port is taken.
 */
export function listenExclusive(app: Uws.TemplatedApp, host: string, port: number): Promise<Uws.us_listen_socket> {
  return new Promise((resolve, reject) => {
    const listen = app.listen.bind(app) as unknown as ListenWithOptions;
    listen(host, port, LISTEN_EXCLUSIVE_PORT, (token) => {
      if (token) resolve(token);
      else reject(new ImError(ErrorCode.UNAVAILABLE, `gateway could not listen on ${host}:${port} (in use?)`));
    });
  });
}

/**
 * Fails (UNAVAILABLE) unless `host:port` can be listened on now. A node checks its gateway port before it joins
 * the cluster, so a misconfigured one never takes shards it would give back a moment later.
 */
export async function checkPortFree(host: string, port: number): Promise<void> {
  const uws = loadUws();
  uws.us_listen_socket_close(await listenExclusive(uws.App(), host, port));
}
