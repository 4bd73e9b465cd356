/**
 * Which web pages may use a gateway (`--allowed-origins`). Browsers name the page's origin on a WebSocket upgrade
 * and on a cross-origin fetch; native apps and servers send none and are admitted by their token alone.
 */

/** Whether a request with `origin` (empty: none) may open a socket: any origin when `allowed` is empty. */
export function originAllowed(origin: string, allowed: readonly string[]): boolean {
  return origin === '' || allowed.length === 0 || allowed.includes(origin);
}

/**
 * The `Access-Control-Allow-Origin` a public route (the dispatcher) answers `origin` with, so that a web app served
 * from another origin can read it; undefined: none (the browser then keeps the answer from the page).
 */
export function corsOrigin(origin: string, allowed: readonly string[]): string | undefined {
  if (allowed.length === 0) return '*';
  return origin !== '' && allowed.includes(origin) ? origin : undefined;
}
