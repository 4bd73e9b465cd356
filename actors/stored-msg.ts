import type { Msg } from '../protocol/frames.js';
import { SYSTEM_DEVICE } from '../protocol/token.js';
import type { StoredMessage } from '../storage/message-store.js';

const utf8 = new TextDecoder();

/** A stored message as clients see it. */
export function toMsg(m: StoredMessage): Msg {
  const msg: Msg = { conv: m.convId, seq: m.seq, prev: m.prevSeq, from: m.senderUid, did: m.senderDid, cid: m.senderDid === SYSTEM_DEVICE ? 0 : m.clientMsgId, ts: m.createdAt, body: utf8.decode(m.body) };
  if (m.recalls !== undefined) msg.recall = m.recalls;
  if (m.recalledBy !== undefined) msg.recalled = m.recalledBy;
  if (m.edits !== undefined) msg.edit = m.edits;
  if (m.editedBy !== undefined) msg.edited = m.editedBy;
  if (m.reacts !== undefined) msg.react = m.reacts;
  if (m.reactWas !== undefined) msg.was = m.reactWas;
  if (m.reactions !== undefined) msg.reactions = m.reactions;
  if (m.mentions !== undefined) msg.mentions = m.mentions;
  if (m.replyTo !== undefined) msg.reply = m.replyTo;
  if (m.replyUid !== undefined) msg.replyFrom = m.replyUid;
  if (m.mentionsAll === true) msg.mentionAll = true;
  if (m.hidden === true) msg.hidden = true;
  return msg;
}
