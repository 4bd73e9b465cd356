import type { Msg, NatsConnection, Subscription } from 'nats';
import { decodeEnvelope, encodeEnvelope, type ActorCall, type ActorTell, type CallReply } from '../../protocol/envelopes.js';
import { ErrorCode, ImError, toImError } from '../../protocol/errors.js';
import type { Logger } from '../logger.js';
import { encodeRepliesWithin } from './fit-replies.js';
import { NotServedError } from './not-served.js';

/** `r`, or an INTERNAL error in its place when msgpack cannot carry its value (logged: a handler's bug). */
function encodable(r: CallReply, log: Logger, subject: string): CallReply {
  try {
    encodeEnvelope({ type: 'replies', replies: [r] });
    return r;
  } catch (err) {
    log.error({ subject, err: (err as Error).message }, 'call reply not encodable');
    return { id: r.id, ok: false, code: ErrorCode.INTERNAL, message: `reply not encodable: ${(err as Error).message}` };
  }
}

/** How long stopping a subject waits for calls it already accepted. */
export const DEFAULT_STOP_GRACE_MS = 10_000;

/** How long a tell handed to a call handler (no `onTell`) may run; nobody waits for it. */
const TELL_AS_CALL_DEADLINE_MS = 60_000;

/** A call as a handler sees it: the wire's relative `ttl` turned into a local epoch-ms `deadline`. */
export type ActorCallIn = Omit<ActorCall, 'id' | 'ttl'> & { deadline: number };

export type CallHandler = (call: ActorCallIn) => Promise<unknown>;
export type TellHandler = (tell: ActorTell) => void;

/** A subject being served. */
export interface ServeHandle {
  readonly subject: string;
  /** Stops intake: calls already received are still handled and answered; resolves when they are, or after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
  /** Resolves once the handle stopped (by `stop()` or because the connection closed). */
  readonly closed: Promise<void>;
}

/** Sends a reply; the connection may be closing under us, and a reply nobody can receive is not an error. */
function respond(msg: Msg, bytes: Uint8Array, log: Logger, subject: string): void {
  if (!msg.reply) return;
  try {
    msg.respond(bytes);
  } catch (err) {
    log.debug({ subject, err: (err as Error).message }, 'reply not sent');
  }
}

/**
 * Serves one subject: decodes batches, hands every call to `handler` in order without waiting between them
 * (ordering inside an actor is its mailbox's job), and answers a batch with one reply batch once all its calls
 * settled. A malformed batch is logged as a warning and answered with a batch-level BAD_FRAME.
 */
export function serveSubject(nc: NatsConnection, subject: string, handler: CallHandler, onTell: TellHandler | undefined, log: Logger): ServeHandle {
  let inFlight = 0;
  let idle: (() => void) | undefined;
  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => (resolveClosed = r));

  const batchDone = (): void => {
    inFlight--;
    if (inFlight === 0 && idle) idle();
  };

  const refuse = (msg: Msg, error: ImError): void => {
    log.warn({ subject, code: error.code, err: error.message }, 'dropped a malformed batch');
    respond(msg, encodeEnvelope({ type: 'replies', replies: [], error: { code: error.code, message: error.message } }), log, subject);
  };

  const runTells = (tells: ActorTell[]): void => {
    for (const t of tells) {
      try {
        if (onTell) onTell(t);
        else {
          handler({ kind: t.kind, key: t.key, op: t.op, payload: t.payload, deadline: Date.now() + TELL_AS_CALL_DEADLINE_MS }).catch((err: unknown) =>
            log.debug({ subject, op: t.op, err: toImError(err).message }, 'tell failed'),
          );
        }
      } catch (err) {
        // One bad tell must not cost the rest of its batch.
        log.warn({ subject, op: t.op, err: (err as Error)?.message }, 'tell handler threw');
      }
    }
  };

  const runCalls = (msg: Msg, calls: ActorCall[]): void => {
    const replies: CallReply[] = new Array(calls.length);
    let notServed: number[] | undefined;
    let pending = calls.length;
    inFlight++;
    const settle = (i: number, reply: CallReply): void => {
      replies[i] = reply;
      if (--pending === 0) {
        let bytes: Uint8Array;
        const limit = nc.info?.max_payload ?? Number.POSITIVE_INFINITY;
        try {
          bytes = encodeRepliesWithin(replies, notServed, limit);
        } catch {
          // A handler returned something msgpack cannot carry (a bug): that call alone learns it. The others ran, and
          // told INTERNAL with the batch their callers would retry them; the unserved ones would not be sent again.
          bytes = encodeRepliesWithin(replies.map((r) => encodable(r, log, subject)), notServed, limit);
        }
        respond(msg, bytes, log, subject);
        batchDone();
      }
    };
    if (pending === 0) {
      respond(msg, encodeEnvelope({ type: 'replies', replies }), log, subject);
      batchDone();
      return;
    }
    const now = Date.now();
    for (let i = 0; i < calls.length; i++) {
      const c = calls[i]!;
      const id = c.id;
      if (c.ttl <= 0) {
        settle(i, { id, ok: false, code: ErrorCode.TIMEOUT, message: 'deadline passed before the call arrived' });
        continue;
      }
      let p: Promise<unknown>;
      try {
        // Promise.resolve returns a native promise as is; it only guards handlers that return plain values.
        p = Promise.resolve(handler({ kind: c.kind, key: c.key, op: c.op, payload: c.payload, deadline: now + c.ttl }));
      } catch (err) {
        p = Promise.reject(err);
      }
      p.then(
        (value) => settle(i, { id, ok: true, value: value === undefined ? null : value }),
        (err: unknown) => {
          const e = toImError(err);
          if (!(err instanceof ImError)) log.error({ subject, op: c.op, err }, 'call handler failed');
          if (err instanceof NotServedError) (notServed ??= []).push(id);
          settle(i, { id, ok: false, code: e.code, message: e.message });
        },
      );
    }
  };

  const onMessage = (msg: Msg): void => {
    const r = decodeEnvelope(msg.data);
    if (!r.ok) return refuse(msg, r.error);
    const env = r.value;
    if (env.type === 'calls') runCalls(msg, env.calls);
    else if (env.type === 'tells') runTells(env.tells);
    else refuse(msg, new ImError(ErrorCode.BAD_FRAME, 'a reply batch sent to a serving subject'));
  };

  const sub: Subscription = nc.subscribe(subject, {
    callback: (err, msg) => {
      if (err) {
        log.warn({ subject, err: err.message }, 'subscription error');
        return;
      }
      onMessage(msg);
    },
  });

  let stopping: Promise<void> | undefined;
  const stop = (graceMs = DEFAULT_STOP_GRACE_MS): Promise<void> => {
    stopping ??= (async () => {
      // drain() unsubscribes, then lets messages already delivered to this client run through the callback.
      await sub.drain().catch(() => undefined);
      if (inFlight > 0) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([new Promise<void>((r) => (idle = r)), new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
        clearTimeout(timer);
        if (inFlight > 0) log.warn({ subject, inFlight, graceMs }, 'stopped serving with calls still running');
      }
      resolveClosed();
    })();
    return stopping;
  };
  // The connection closing ends the subscription too; replies could not leave anyway.
  void sub.closed.then(
    () => stopping ?? resolveClosed(),
    () => stopping ?? resolveClosed(),
  );

  return { subject, closed, stop };
}
