import { decodeEnvelope, type CallReply } from '../../protocol/envelopes.js';
import { ErrorCode, ImError } from '../../protocol/errors.js';
import type { Logger } from '../logger.js';

/** A call as the reply matching needs it. */
export interface RepliedCall {
  id: number;
  settled: boolean;
}

/**
 * Settles the calls of one batch from the reply batch that answered it. Returns the calls the server did not run
 * because it does not serve their shard now (`notServed`): the caller sends those again instead of failing them.
 * An undecodable or refused reply batch fails every call; a call the reply forgot fails with INTERNAL.
 */
export function settleFromReplies<C extends RepliedCall>(
  subject: string,
  live: C[],
  bytes: Uint8Array,
  settle: (c: C, err: ImError | undefined, value?: unknown) => void,
  log: Logger,
): C[] {
  const r = decodeEnvelope(bytes);
  if (!r.ok || r.value.type !== 'replies') {
    const e = r.ok ? new ImError(ErrorCode.BAD_FRAME, `${subject} answered with a ${r.value.type} envelope`) : r.error;
    log.warn({ subject, code: e.code, err: e.message }, 'undecodable reply batch');
    for (const c of live) settle(c, e);
    return [];
  }
  const { replies, error, notServed } = r.value;
  if (error) {
    const e = new ImError(error.code, `${subject} refused the batch: ${error.message}`);
    for (const c of live) settle(c, e);
    return [];
  }
  const bounced = notServed?.length ? new Set(notServed) : undefined;
  const again: C[] = [];
  // The server answers in call order, so position finds the call; the id check guards other peers.
  let byId: Map<number, C> | undefined;
  for (let i = 0; i < replies.length; i++) {
    const rep = replies[i]!;
    let c = live[i];
    if (c === undefined || c.id !== rep.id) {
      byId ??= new Map(live.map((x) => [x.id, x]));
      c = byId.get(rep.id);
      if (c === undefined) continue;
    }
    if (!rep.ok && bounced?.has(rep.id)) again.push(c);
    else settleReply(c, rep, settle);
  }
  // A reply batch that forgot a call must not leave it hanging until its deadline.
  const resent = new Set(again);
  for (const c of live) if (!c.settled && !resent.has(c)) settle(c, new ImError(ErrorCode.INTERNAL, `${subject} sent no reply for call ${c.id}`));
  return again;
}

function settleReply<C extends RepliedCall>(c: C, rep: CallReply, settle: (c: C, err: ImError | undefined, value?: unknown) => void): void {
  if (rep.ok) settle(c, undefined, rep.value);
  else settle(c, new ImError(rep.code, rep.message));
}
