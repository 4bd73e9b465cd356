import { createRequire } from 'node:module';
import type * as Uws from 'uWebSockets.js';

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
