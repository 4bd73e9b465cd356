import type { Sql } from './db.js';
import type { StoredMessage } from './message-store.js';
import { bounded, DEFAULT_STATEMENT_TIMEOUT_MS } from './pg-errors.js';

/** One user's current reaction to a message, and the message (`seq`) that made it. */
export interface MessageReaction {
  uid: string;
  emoji: string;
  seq: number;
}

const utf8 = new TextDecoder();

/**
 * Fills in the current reactions of `msgs` (messages of one or more conversations), one statement per
 * conversation. Reactions are messages themselves (`reacts` names their target): a user's latest one to a message
 * is their reaction, an empty one a reaction taken back. A recalled message shows none, and recalls, edits and
 * reactions cannot be reacted to. Reactions come in the order they were made.
 */
export async function attachReactions(sql: Sql, msgs: StoredMessage[], timeoutMs = DEFAULT_STATEMENT_TIMEOUT_MS): Promise<StoredMessage[]> {
  const byConv = new Map<string, Map<number, StoredMessage>>();
  for (const m of msgs) {
    if (m.recalledBy !== undefined || m.recalls !== undefined || m.edits !== undefined || m.reacts !== undefined) continue;
    let seqs = byConv.get(m.convId);
    if (seqs === undefined) byConv.set(m.convId, (seqs = new Map()));
    seqs.set(m.seq, m);
  }
  for (const [conv, targets] of byConv) {
    const rows = await bounded('read reactions', sql<{ reacts: number; sender_uid: string; body: Buffer; seq: number }[]>`
      SELECT reacts, sender_uid, body, seq FROM (
        SELECT DISTINCT ON (reacts, sender_uid) reacts, sender_uid, body, seq FROM messages
        WHERE conv_id = ${conv} AND reacts IS NOT NULL AND reacts = ANY(${[...targets.keys()]}::int8[])
        ORDER BY reacts, sender_uid, seq DESC
      ) latest
      WHERE length(body) > 0
      ORDER BY reacts, seq`, timeoutMs);
    for (const r of rows) {
      const m = targets.get(r.reacts)!;
      (m.reactions ??= []).push({ uid: r.sender_uid, emoji: utf8.decode(r.body), seq: r.seq });
    }
  }
  return msgs;
}
