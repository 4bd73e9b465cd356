import { CloseCode } from '../close-codes.js';
import { ErrorCode, ImError } from '../errors.js';
import { LIST_PAGES_QUERY } from '../limits.js';

/**
 * The slice of the WebSocket API the SDK uses: satisfied by the browser's WebSocket and by the `ws` package,
 * so the SDK imports neither (`ws` is Node-only, the global is missing before Node 22).
 */

/** Close event as both the browser and `ws` deliver it. */
export interface SocketCloseEvent { code: number; reason: string }

/** A WebSocket instance, browser or `ws`. */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  // Handler parameters are `any`: each implementation passes its own event class, and a narrower type here
  // would make `ws`'s or the DOM's WebSocket unassignable. The SDK reads only `data`, `code` and `reason`.
  onopen: ((ev: any) => void) | null;
  onmessage: ((ev: any) => void) | null;
  onclose: ((ev: any) => void) | null;
  onerror: ((ev: any) => void) | null;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
}

/** A WebSocket constructor: `globalThis.WebSocket` in browsers, `WebSocket` from `ws` on Node 20. */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** `readyState` of an open socket (the same in every implementation). */
export const SOCKET_OPEN = 1;

/** The WebSocket constructor given, else the platform's; INVALID_FIELD when there is neither. */
export function webSocketOf(given: WebSocketConstructor | undefined): WebSocketConstructor {
  const WS = given ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (WS === undefined) throw new ImError(ErrorCode.INVALID_FIELD, 'no WebSocket on this platform: pass the WebSocket option (e.g. from the ws package)');
  return WS;
}

/**
 * The bytes of a message event's `data`: ArrayBuffer (browsers, `binaryType = 'arraybuffer'`), Buffer or
 * another view (`ws`), or an array of Buffers (`ws` with `binaryType = 'fragments'`). Text is not a frame
 * (README §1): undefined.
 */
export function messageBytes(data: unknown): Uint8Array | ArrayBuffer | undefined {
  if (data instanceof ArrayBuffer) return data;
  if (ArrayBuffer.isView(data)) return data instanceof Uint8Array ? data : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (Array.isArray(data) && data.every((part) => part instanceof Uint8Array)) {
    const parts = data as Uint8Array[];
    const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.byteLength;
    }
    return out;
  }
  return undefined;
}

/** The connection URL: the endpoint with `token` appended as a query parameter, and `pages=1`: this SDK puts together a list sent in pages (README §2). */
export function urlWithToken(endpoint: string, token: string): string {
  const sep = endpoint.includes('?') ? '&' : '?';
  return `${endpoint}${sep}token=${encodeURIComponent(token)}&${LIST_PAGES_QUERY}=1`;
}

/** Unhooks a socket's handlers and closes it, whatever state it is in; nothing it does afterwards reaches us. */
export function closeQuietly(ws: WebSocketLike, code: number, reason: string): void {
  // No-ops rather than null: `ws` throws an unhandled 'error' event when no listener is left.
  ws.onopen = ws.onmessage = ws.onclose = ws.onerror = () => {};
  try {
    // Browsers refuse to send codes other than 1000 and 3000–4999 (e.g. the local-only 1006).
    ws.close(code === CloseCode.NORMAL || (code >= 3000 && code <= 4999) ? code : CloseCode.NORMAL, reason);
  } catch {
    // already closing, or an implementation refusing the code: the socket is abandoned either way
  }
}

/** What a socket tells its owner: opened, a message's `data`, closed with a code and reason. */
export interface SocketListener {
  open(): void;
  data(data: unknown): void;
  closed(code: number, reason: string): void;
  /** A listener threw: the socket callbacks must not (they run inside the WebSocket implementation). */
  failed(err: unknown): void;
}

/** Hooks `listener` to `ws`; the close event's missing code reads as 1006 (the browser's "abnormal"). */
export function listen(ws: WebSocketLike, listener: SocketListener): void {
  const guarded = (fn: () => void) => {
    try {
      fn();
    } catch (err) {
      listener.failed(err);
    }
  };
  ws.onopen = () => guarded(() => listener.open());
  ws.onmessage = (ev: { data?: unknown }) => guarded(() => listener.data(ev.data));
  ws.onerror = () => {}; // a close event follows with the code
  ws.onclose = (ev: { code?: number; reason?: string }) =>
    guarded(() => listener.closed(typeof ev?.code === 'number' ? ev.code : CloseCode.ABNORMAL, typeof ev?.reason === 'string' ? ev.reason : ''));
}
