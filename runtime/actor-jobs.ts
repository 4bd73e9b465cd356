import { ErrorCode, ImError, toImError } from '../protocol/errors.js';
import { LaterReply } from './actor.js';
import { MailboxJob } from './mailbox.js';

/** What an actor's queued operation needs from its host; made once per host, so each operation is one object. */
export interface OperationRunner<C> {
  /** Runs `op` on the cell's actor; a promise when the handler made one. */
  run(cell: C, op: string, payload: unknown): unknown;
  /** Maps a handler's failure to a coded error (and acts on FENCED). */
  failure(cell: C, err: unknown): ImError;
  /** A tell nobody waits for failed. */
  tellFailed(cell: C, op: string, err: ImError): void;
}

/**
 * A call: its caller waits for the handler's answer, or for a `LaterReply`'s. One whose `deadline` (epoch ms) passed
 * while it waited in the mailbox is refused TIMEOUT unrun: its caller gave up (and was told it may not have run), and
 * run late after a stall, the calls queued meanwhile and their callers' retries would all do their work for nobody.
 */
export class CallJob<C> extends MailboxJob {
  constructor(
    private readonly runner: OperationRunner<C>,
    private readonly cell: C,
    private readonly op: string,
    private readonly payload: unknown,
    private readonly deadline: number,
    private readonly resolve: (value: unknown) => void,
    private readonly reject: (err: unknown) => void,
  ) {
    super();
  }

  run(): unknown {
    if (Date.now() >= this.deadline) throw new ImError(ErrorCode.TIMEOUT, `"${this.op}" waited past its caller's deadline in the actor's mailbox; not run`);
    return this.runner.run(this.cell, this.op, this.payload);
  }

  done(value: unknown): void {
    if (!(value instanceof LaterReply)) {
      this.resolve(value);
      return;
    }
    // The actor answers later, off its mailbox: the caller waits for that, not for the job.
    value.result.then(this.resolve, (err: unknown) => this.reject(this.runner.failure(this.cell, err)));
  }

  failed(err: unknown): void {
    this.reject(err);
  }
}

/** A tell: nobody waits, so a failure is only reported. */
export class TellJob<C> extends MailboxJob {
  constructor(
    private readonly runner: OperationRunner<C>,
    private readonly cell: C,
    private readonly op: string,
    private readonly payload: unknown,
  ) {
    super();
  }

  run(): unknown {
    return this.runner.run(this.cell, this.op, this.payload);
  }

  /** Takes the handler's value: a later reply (returned at once or by an async handler) may still fail. */
  done(value: unknown): void {
    if (value instanceof LaterReply) value.result.catch((err: unknown) => this.runner.tellFailed(this.cell, this.op, this.runner.failure(this.cell, err)));
  }

  failed(err: unknown): void {
    this.runner.tellFailed(this.cell, this.op, toImError(err));
  }
}
