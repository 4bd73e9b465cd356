import type { Msg, NatsConnection, Subscription } from 'nats';
import { decodeEnvelope, encodeEnvelope, type ActorCall, type ActorTell, type CallReply } from '../../protocol/envelopes.js';
import { ErrorCode, ImError, toImError } from '../../protocol/errors.js';
import type { Logger } from '../logger.js';

/** How long stopping a subject waits for calls it already accepted. */
export const DEFAULT_STOP_GRACE_MS = 10_000;

/** A call as a handler sees it. */
export type ActorCallIn = Omit<ActorCall, 'id' | 'ttl'> & { deadline: number };

export type CallHandler = (call: ActorCallIn) => Promise<unknown>;
export type TellHandler = (tell: ActorTell) => void;

/** A subject being served. */
export interface ServeHandle {
  readonly subject: string;
  /** Stops intake: calls already received are still handled and answered; resolves when they are, or after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
  /** Resolves once the handle stopped. */
  readonly closed: Promise<void>;
}

/**
 * Serves one subject: decodes batches, hands every call to `handler` in order without waiting between them
 * (ordering inside an actor is its mailbox's job), and answers a batch with one reply batch once all its calls
 * settled.
 */
export function serveSubject(nc: NatsConnection, subject: string, handler: CallHandler, onTell: TellHandler | undefined, log: Logger): ServeHandle {
  let inFlight = 0;
  let idle: (() => void) | undefined;
  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => (resolveClosed = r));

  const done = (): void => {
    inFlight--;
    if (inFlight === 0 && idle) idle();
  };

  const onMessage = (msg: Msg): void => {
    const r = decodeEnvelope(msg.data);
    if (!r.ok || r.value.type === 'replies') {
      const error = r.ok ? new ImError(ErrorCode.BAD_FRAME, 'a reply batch sent to a serving subject') : r.error;
      log.warn({ subject, code: error.code, err: error.message }, 'dropped a malformed batch');
      if (msg.reply) msg.respond(encodeEnvelope({ type: 'replies', replies: [], error: { code: error.code, message: error.message } }));
      return;
    }
    const env = r.value;
    if (env.type === 'tells') {
      for (const t of env.tells) {
        if (onTell) onTell(t);
        else handler({ kind: t.kind, key: t.key, op: t.op, payload: t.payload, deadline: Date.now() + 60_000 }).catch((err: unknown) => log.debug({ subject, err: toImError(err).message }, 'tell failed'));
      }
      return;
    }
    const now = Date.now();
    const calls = env.calls;
    const replies: CallReply[] = new Array(calls.length);
    let pending = calls.length;
    inFlight++;
    const settle = (i: number, reply: CallReply): void => {
      replies[i] = reply;
      if (--pending === 0) {
        if (msg.reply) msg.respond(encodeEnvelope({ type: 'replies', replies }));
        done();
      }
    };
    if (pending === 0) {
      if (msg.reply) msg.respond(encodeEnvelope({ type: 'replies', replies }));
      done();
      return;
    }
    for (let i = 0; i < calls.length; i++) {
      const c = calls[i]!;
      if (c.ttl <= 0) {
        settle(i, { id: c.id, ok: false, code: ErrorCode.TIMEOUT, message: 'deadline passed before the call arrived' });
        continue;
      }
      let p: Promise<unknown>;
      try {
        p = handler({ kind: c.kind, key: c.key, op: c.op, payload: c.payload, deadline: now + c.ttl });
      } catch (err) {
        p = Promise.reject(err);
      }
      p.then(
        (value) => settle(i, { id: c.id, ok: true, value: value === undefined ? null : value }),
        (err: unknown) => {
          const e = toImError(err);
          settle(i, { id: c.id, ok: false, code: e.code, message: e.message });
        },
      );
    }
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
  return {
    subject,
    closed,
    stop(graceMs = DEFAULT_STOP_GRACE_MS) {
      stopping ??= (async () => {
        // drain() lets messages already delivered to this client run through the callback, then unsubscribes.
        await sub.drain().catch(() => undefined);
        if (inFlight > 0) {
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([new Promise<void>((r) => (idle = r)), new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
          clearTimeout(timer);
          if (inFlight > 0) log.warn({ subject, inFlight }, 'stopped serving with calls still running');
        }
        resolveClosed();
      })();
      return stopping;
    },
  };
}
