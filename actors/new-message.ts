import type { ChatterSend, SendReply } from '../protocol/chat-ops.js';
import type { Msg } from '../protocol/frames.js';
import { SYSTEM_DEVICE } from '../protocol/token.js';
import type { NewMessage } from '../storage/message-store.js';
import { markRow, type Amendment, type Replied } from './amendment.js';
import { MAX_SYSTEM_KEY } from './op-checks.js';

/** Whom a message mentions: a send's or a system message's own fields, handed on as they are. */
export type Named = Pick<ChatterSend, 'mentions' | 'mentionAll'>;

/** A message the chatter gave a seq: its row for the group commit, and what it says beyond its text. */
export interface NewChatMessage {
  row: NewMessage;
  body: string;
  amends: Amendment | undefined;
  named: Named | undefined;
  replied: Replied | undefined;
}

/**
 * The stored cid of a system message without a key: its seq above every key (MAX_SYSTEM_KEY), so that a later message
 * whose key happens to equal that seq is not taken for a repeat of it (seqs are consecutive, keys are often small).
 */
export function keylessCid(seq: number): number {
  return MAX_SYSTEM_KEY + 1 + seq;
}

/** The group commit's row of a message of `uid`'s device `did` given `seq` after `prev`. */
export function newChatMessage(conv: string, seq: number, prev: number, uid: string, did: string, cid: number, body: string, amends?: Amendment, named?: Named, replied?: Replied): NewChatMessage {
  const row: NewMessage = { convId: conv, seq, prevSeq: prev, senderUid: uid, senderDid: did, clientMsgId: cid, body: Buffer.from(body, 'utf8') };
  if (amends) markRow(row, amends);
  if (named?.mentions) row.mentions = named.mentions;
  if (named?.mentionAll === true) row.mentionsAll = true;
  if (replied) (row.replyTo = replied.seq), (row.replyUid = replied.from);
  return { row, body, amends, named, replied };
}

/** Once the message is committed at `ts`: the sender's answer and the frame its members get. */
export function committed(m: NewChatMessage, ts: number): { reply: SendReply; msg: Msg } {
  const { row, amends, named, replied } = m;
  const { convId: conv, seq, prevSeq: prev, senderUid: from, senderDid: did, clientMsgId: cid } = row;
  const reply: SendReply = { seq, ts, prev };
  const msg: Msg = { conv, seq, prev, from, did, cid: did === SYSTEM_DEVICE ? 0 : cid, ts, body: m.body };
  if (amends) msg[amends.kind] = amends.target;
  if (amends?.was !== undefined) msg.was = reply.was = amends.was;
  if (named?.mentions) msg.mentions = named.mentions;
  if (named?.mentionAll === true) msg.mentionAll = true;
  if (replied) (msg.reply = replied.seq), (msg.replyFrom = reply.replyFrom = replied.from);
  return { reply, msg };
}
