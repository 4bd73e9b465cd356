import type { ActorTell } from '../../protocol/envelopes.js';
import { toImError, type ImError } from '../../protocol/errors.js';
import type { Logger } from '../logger.js';
import type { CallHandler, TellHandler } from './serve.js';

/** How long a tell handled as a call may run (the same bound the NATS path gives it). */
const TELL_AS_CALL_DEADLINE_MS = 60_000;

interface Entry {
  handler: CallHandler;
  onTell: TellHandler | undefined;
}

/** One call of a batch as the local path hands it to the handler. */
export interface LocalCall {
  kind: string;
  key: string;
  op: string;
  payload: unknown;
  deadline: number;
}

/**
 * Subjects this process serves itself. A batch bound for one of them is handed to its handler in-process:
 * no msgpack, no NATS round trip, same batch boundaries and the same one-batch-in-flight rule, so per-subject
 * FIFO holds exactly as on the wire (a batch still in flight elsewhere keeps the subject's slot). On a node
 * that owns a user's connector shard and holds the user's socket, most of the fan-out never leaves the process.
 */
export class LocalSubjects {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly log: Logger) {}

  /** Serves `subject` locally until the returned function is called. */
  add(subject: string, handler: CallHandler, onTell?: TellHandler): () => void {
    const entry: Entry = { handler, onTell };
    this.entries.set(subject, entry);
    return () => {
      if (this.entries.get(subject) === entry) this.entries.delete(subject);
    };
  }

  /** True when this process serves `subject`. */
  has(subject: string): boolean {
    return this.entries.has(subject);
  }

  /** Hands tells to the local handler, in order; one bad tell does not cost the rest. */
  tells(subject: string, tells: ActorTell[]): void {
    const e = this.entries.get(subject);
    if (!e) return;
    for (const t of tells) {
      try {
        if (e.onTell) e.onTell(t);
        else
          e.handler({ kind: t.kind, key: t.key, op: t.op, payload: t.payload, deadline: Date.now() + TELL_AS_CALL_DEADLINE_MS }).catch((err: unknown) =>
            this.log.debug({ subject, op: t.op, err: toImError(err).message }, 'tell failed'),
          );
      } catch (err) {
        this.log.warn({ subject, op: t.op, err: (err as Error)?.message }, 'tell handler threw');
      }
    }
  }

  /** Runs a batch of calls through the local handler; `settle(i, …)` per call; resolves once all settled. */
  calls(subject: string, calls: LocalCall[], settle: (i: number, err: ImError | undefined, value?: unknown) => void): Promise<void> {
    const e = this.entries.get(subject)!;
    return new Promise((resolve) => {
      let pending = calls.length;
      const done = (): void => {
        if (--pending === 0) resolve();
      };
      calls.forEach((c, i) => {
        let p: Promise<unknown>;
        try {
          p = Promise.resolve(e.handler(c));
        } catch (err) {
          p = Promise.reject(err);
        }
        p.then(
          (v) => settle(i, undefined, v === undefined ? null : v),
          (err: unknown) => settle(i, toImError(err)),
        ).finally(done);
      });
    });
  }
}
