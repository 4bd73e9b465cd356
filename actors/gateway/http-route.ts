import { createHash, timingSafeEqual } from 'node:crypto';
import type * as Uws from 'uWebSockets.js';
import { ErrorCode, ImError, toImError } from '../../protocol/errors.js';
import type { Logger } from '../../runtime/logger.js';
import { corsOrigin } from './origin-policy.js';
import { isOurFailure, publicError } from './public-error.js';
import { idProblem } from '../../protocol/validate-fields.js';

/*
 * The JSON route plumbing of the server API (http-api.ts): registering a route on uWS, the key check, reading the
 * body, coded errors as statuses, and the checks of path and query parameters.
 */

/** Largest JSON body the server API reads. */
export const MAX_API_BODY_BYTES = 1024 * 1024;

/** The HTTP status each error code answers with (500 for any other). */
const STATUS: Partial<Record<ErrorCode, string>> = {
  [ErrorCode.BAD_FRAME]: '400 Bad Request',
  [ErrorCode.INVALID_FIELD]: '400 Bad Request',
  [ErrorCode.UNKNOWN_TYPE]: '400 Bad Request',
  [ErrorCode.UNAUTHORIZED]: '401 Unauthorized',
  [ErrorCode.NOT_MEMBER]: '403 Forbidden',
  [ErrorCode.FORBIDDEN]: '403 Forbidden',
  [ErrorCode.NOT_FOUND]: '404 Not Found',
  [ErrorCode.CONFLICT]: '409 Conflict',
  [ErrorCode.LIMIT_REACHED]: '409 Conflict',
  [ErrorCode.FRAME_TOO_LARGE]: '413 Payload Too Large',
  [ErrorCode.RATE_LIMITED]: '429 Too Many Requests',
  [ErrorCode.TIMEOUT]: '503 Service Unavailable',
  [ErrorCode.UNAVAILABLE]: '503 Service Unavailable',
  [ErrorCode.OVERLOADED]: '503 Service Unavailable',
  [ErrorCode.CLOSED]: '503 Service Unavailable',
  [ErrorCode.FENCED]: '503 Service Unavailable',
};

/** A route's answer: a status and a JSON body, or a status, a text body and its content type. */
export type Answer = [status: string, body: unknown] | [status: string, body: string, contentType: string];
export type Handler = (body: Record<string, unknown>, params: string[], query: URLSearchParams) => Promise<Answer>;

/** What registering a route needs of the node: its uWS app, the server key and allowed origins, and a logger. */
export interface RouteDeps {
  app: Uws.TemplatedApp;
  config: { serverKey: string; previousServerKey?: string; allowedOrigins: readonly string[] };
  log: Logger;
}

/** A field error of a request (`400 invalid_field`). */
export const bad = (msg: string): ImError => new ImError(ErrorCode.INVALID_FIELD, msg);
/** An integer query parameter in [min, max], `fallback` when absent. */
export const intParam = (q: URLSearchParams, name: string, fallback: number, min: number, max: number): number => {
  const raw = q.get(name);
  if (raw === null) return fallback;
  const n = Number(raw);
  if (raw === '' || !Number.isSafeInteger(n) || n < min || n > max) throw bad(`${name} must be an integer from ${min} to ${max}`);
  return n;
};
export const str = (v: unknown, field: string): string => {
  if (typeof v !== 'string' || v.length === 0) throw bad(`${field} must be a non-empty string`);
  return v;
};
export const strings = (v: unknown, field: string): string[] => {
  if (!Array.isArray(v)) throw bad(`${field} must be an array of user ids`);
  return v.map((x, i) => str(x, `${field}[${i}]`));
};

/** Path parameters that name a user or a conversation: checked as ids before the handler runs. */
const ID_PARAMS: ReadonlySet<string> = new Set([':conv', ':uid']);

/** The paths each app serves, as patterns to match a URL, with the methods each serves. */
const servedBy = new WeakMap<Uws.TemplatedApp, Map<string, { path: RegExp; methods: Set<string> }>>();

/** Records that `app` serves `method` on `pattern`, so that another method there is answered 405, not 404. */
export function served(app: Uws.TemplatedApp, method: 'get' | 'head' | 'post', pattern: string): void {
  let paths = servedBy.get(app);
  if (paths === undefined) servedBy.set(app, (paths = new Map()));
  let p = paths.get(pattern);
  if (p === undefined) {
    // `[^/]+`: uWS gives a parameter no empty segment, so `/v1/users//erase` is no path of ours (404).
    const source = pattern.split('/').map((seg) => (seg.startsWith(':') ? '[^/]+' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('/');
    paths.set(pattern, (p = { path: new RegExp(`^${source}$`), methods: new Set() }));
  }
  p.methods.add(method.toUpperCase());
}

/**
 * Answers a request no route took: 405 with `Allow` when its path is served by other methods (a client bug in the
 * method, which a 404 would hide as a wrong path), else 404. The code stays `not_found`: this route does not exist.
 */
export function unrouted(app: Uws.TemplatedApp, res: Uws.HttpResponse, req: Uws.HttpRequest): void {
  const url = req.getUrl();
  const allow = new Set<string>();
  for (const p of servedBy.get(app)?.values() ?? []) if (p.path.test(url)) for (const m of p.methods) allow.add(m);
  if (allow.size === 0) return json(res, '404 Not Found', { code: ErrorCode.NOT_FOUND, message: 'no such route' });
  const methods = [...allow].sort().join(', ');
  json(res, '405 Method Not Allowed', { code: ErrorCode.NOT_FOUND, message: `${req.getCaseSensitiveMethod()} is not served on this path: it serves ${methods}` }, { allow: methods });
}

/** Registers one JSON route: reads what uWS only lends synchronously, checks the key, reads the body, answers. */
export function route(d: RouteDeps, method: 'get' | 'post', pattern: string, keyed: boolean, handler: Handler): void {
  const names = pattern.match(/:[a-z]+/g) ?? [];
  const params = names.length;
  served(d.app, method, pattern);
  d.app[method](pattern, (res, req) => {
    const auth = req.getHeader('authorization');
    // Keyed routes are for servers (a key must never be in a browser): only the public ones answer other origins.
    const cors = keyed ? undefined : corsOrigin(req.getHeader('origin'), d.config.allowedOrigins);
    const query = new URLSearchParams(req.getQuery() ?? '');
    const args: string[] = [];
    for (let i = 0; i < params; i++) args.push(safeDecode(req.getParameter(i) ?? ''));
    let aborted = false;
    res.onAborted(() => (aborted = true));
    const answer = (status: string, body: unknown, contentType?: string): void => {
      if (aborted) return;
      res.cork(() => {
        res.writeStatus(status);
        if (cors !== undefined) res.writeHeader('access-control-allow-origin', cors).writeHeader('vary', 'origin');
        // RFC 9110 §15.5.2: a 401 names the scheme that would be accepted (the key is a bearer token, see keyTaken).
        if (status.startsWith('401')) res.writeHeader('www-authenticate', 'Bearer');
        res.writeHeader('content-type', contentType ?? 'application/json').end(contentType === undefined ? JSON.stringify(body) : (body as string));
      });
    };
    const fail = (err: unknown): void => {
      const e = apiError(err);
      // A storage error is no refusal of the caller's: Postgres failed a statement it should have taken.
      if (isOurFailure(e)) d.log.error({ route: pattern, code: e.code, err: e.message }, 'server API failed');
      answer(STATUS[e.code] ?? '500 Internal Server Error', { code: e.code, message: publicError(e).message });
    };
    if (keyed && !keyTaken(auth, d.config)) return fail(new ImError(ErrorCode.UNAUTHORIZED, 'the server API needs Authorization: Bearer <server key>'));
    // A malformed id would fail the actor's activation, answered 503 "retry" (for good) instead of 400.
    const badId = names.findIndex((n, i) => ID_PARAMS.has(n) && idProblem(args[i]) !== undefined);
    if (badId >= 0) return fail(new ImError(ErrorCode.INVALID_FIELD, `${names[badId]!.slice(1)} ${idProblem(args[badId])}`));
    const run = (body: Record<string, unknown>): void => {
      handler(body, args, query).then(([status, out, contentType]) => answer(status, out, contentType), fail);
    };
    if (method === 'get') return run({});
    readJson(res, (err, body) => (err ? fail(err) : run(body!)));
  });
}

/**
 * The coded error a failed request is answered with. (A deadlock or serialization failure is `unavailable`, 503, to
 * be sent again, from storage/pg-errors.ts on.)
 */
export function apiError(err: unknown): ImError {
  return toImError(err);
}

/** Reads a JSON object body of at most MAX_API_BODY_BYTES; `done` gets it, or BAD_FRAME / FRAME_TOO_LARGE. */
function readJson(res: Uws.HttpResponse, done: (err: ImError | undefined, body?: Record<string, unknown>) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let over = false;
  res.onData((chunk, isLast) => {
    if (over) return;
    size += chunk.byteLength;
    if (size > MAX_API_BODY_BYTES) {
      over = true;
      return done(new ImError(ErrorCode.FRAME_TOO_LARGE, `request body over ${MAX_API_BODY_BYTES} bytes`));
    }
    chunks.push(Buffer.from(chunk.slice(0))); // uWS reuses the chunk's memory after this callback
    if (!isLast) return;
    const text = Buffer.concat(chunks).toString('utf8');
    let body: unknown;
    try {
      body = text.length === 0 ? {} : JSON.parse(text);
    } catch {
      return done(new ImError(ErrorCode.BAD_FRAME, 'the request body is not JSON'));
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return done(new ImError(ErrorCode.BAD_FRAME, 'the request body must be a JSON object'));
    done(undefined, body as Record<string, unknown>);
  });
}

/** Answers with a JSON body (outside a route, e.g. the catch-all 404), synchronously: uWS corks a handler's writes. */
export function json(res: Uws.HttpResponse, status: string, body: unknown, headers: Record<string, string> = {}): void {
  res.writeStatus(status);
  for (const [name, value] of Object.entries(headers)) res.writeHeader(name, value);
  res.writeHeader('content-type', 'application/json').end(JSON.stringify(body));
}

/** Whether `auth` carries the server key, or the previous one during a rotation (both compared, in constant time). */
export function keyTaken(auth: string, config: { serverKey: string; previousServerKey?: string }): boolean {
  // The scheme is case-insensitive (RFC 9110 §11.1): `bearer <key>` is as good as `Bearer <key>`.
  const m = /^bearer +(.*)$/i.exec(auth);
  const given = m === null ? '' : m[1]!;
  const current = m !== null && sameSecret(given, config.serverKey);
  if (config.previousServerKey === undefined) return current;
  const previous = m !== null && sameSecret(given, config.previousServerKey);
  return current || previous;
}

/** Compares a presented secret with the real one in constant time (digests first, so lengths leak nothing either). */
export function sameSecret(given: string, real: string): boolean {
  const digest = (s: string): Buffer => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(given), digest(real));
}

/** A path parameter decoded, or as it came when it is not valid percent-encoding. */
function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
