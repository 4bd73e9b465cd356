import type { Msg } from '../../protocol/frames.js';
import type { ImClient, SendResult } from '../../protocol/sdk/index.js';
import type { Sql } from '../../storage/db.js';

/** What one client device saw and did. */
export interface DeviceLog {
  uid: string;
  did: string;
  /** Messages as the SDK delivered them (own messages included), per conversation, in delivery order. */
  delivered: Map<string, Msg[]>;
  /** Sends the SDK confirmed durable: body → seq (and how long the send waited for it, when measured). */
  acked: Map<string, { conv: string; seq: number; cid: number; waitedMs?: number; sentAt?: number }>;
  /** Every body this device tried to send, per conversation. */
  attempted: Map<string, string[]>;
  /** The sends that mentioned members: body → the uids named (with `mentionedAll`: every other member then). */
  mentioned?: Map<string, string[]>;
  /** The sends among `mentioned` that mentioned all (`mentionAll`) rather than a list. */
  mentionedAll?: Set<string>;
  /** The sends that replied to one of this device's user's messages: body → the seq answered. */
  replies?: Map<string, number>;
  /** The sends that were recalls, edits or reactions (their bodies are in `attempted` and `acked` too): body → what and which seq. */
  amends?: Map<string, { kind: AmendKind; target: number }>;
  /** Hides ("delete for me") the server answered: conversation → the seqs it said were hidden. */
  hides?: Map<string, number[]>;
}

/** What a guarantee run's amendment does to its device's message. */
export type AmendKind = 'recall' | 'edit' | 'react';

/** A unique body for amendment `n` of device `did` (the duplicate check counts bodies); a reaction's fits in 32 bytes. */
export const amendBody = (did: string, n: number, kind: AmendKind): string => (kind === 'react' ? `${did.slice(-12)}#${n}` : `${did}#${n} ${kind}`);

/** Sends amendment `kind` of message `seq` with `body` through the SDK. */
export function sendAmendment(client: ImClient, kind: AmendKind, conv: string, seq: number, body: string): Promise<SendResult> {
  return kind === 'recall' ? client.recall(conv, seq, body) : kind === 'edit' ? client.edit(conv, seq, body) : client.react(conv, seq, body);
}

export interface GuaranteeReport {
  sent: number;
  acked: number;
  persisted: number;
  lost: string[];
  duplicated: string[];
  outOfOrder: string[];
  chainBreaks: string[];
  /** Messages whose seq does not follow the one before them directly: a hole the unread count has to read around. */
  seqHoles: string[];
  /** Conversations whose ordinals (migration 450) break: unread counts taken from them would be wrong. The first break each. */
  ordinalBreaks: string[];
  senderOrder: string[];
  deliveryGaps: string[];
  /** Messages a device was delivered of a conversation its user is not in: a leak, however well ordered. */
  foreign: string[];
  /** Recalls or edits stored without their effect (or the reverse), reactions without their target, or any delivered without naming what it changes. */
  amendBreaks: string[];
  /** Delivery marks stored beyond anything a device of that member was delivered: a "delivered" that lies. */
  receiptBreaks: string[];
  /** Members with a delivery mark stored (the marks the check above had something to hold against). */
  marks: number;
  /** Acked mentions stored without their list, or without the unread-mention row of a member they name. */
  mentionBreaks: string[];
  /** Mention rows the check above found, as it wanted them. */
  mentions: number;
  /** Acked replies stored without naming the message they answer and its sender, or any message delivered with other reply fields than stored. */
  replyBreaks: string[];
  /** Acked replies, checked above. */
  replies: number;
  /** Acked hides not stored for their user, and stubs (`hidden: true`) delivered for a message their user never hid or with content. */
  hideBreaks: string[];
  /** Hidden-message stubs delivered, checked above. */
  stubs: number;
}

interface Row {
  conv_id: string;
  seq: number;
  prev_seq: number;
  sender_uid: string;
  sender_did: string;
  client_msg_id: number;
  body: Buffer;
  recalls: number | null;
  recalled_by: number | null;
  edits: number | null;
  edited_by: number | null;
  reacts: number | null;
  mentions: string[] | null;
  mentions_all: boolean | null;
  reply_to: number | null;
  reply_uid: string | null;
  ordinal: number | null;
}

/**
 * Checks G1–G5 from what Postgres holds and what every device saw. `members` maps a conversation to the users
 * in it; every device of a member must have received the conversation's whole chain, once, in order.
 */
export async function checkGuarantees(sql: Sql, convs: string[], members: Map<string, string[]>, devices: DeviceLog[]): Promise<GuaranteeReport> {
  const rows = await sql<Row[]>`SELECT conv_id, seq, prev_seq, sender_uid, sender_did, client_msg_id, body, recalls, recalled_by, edits, edited_by, reacts, mentions, mentions_all, reply_to, reply_uid, ordinal FROM messages WHERE conv_id = ANY(${convs}) ORDER BY conv_id, seq`;
  const byConv = new Map<string, Row[]>();
  for (const r of rows) {
    let l = byConv.get(r.conv_id);
    if (!l) byConv.set(r.conv_id, (l = []));
    l.push(r);
  }
  const report: GuaranteeReport = { sent: 0, acked: 0, persisted: rows.length, lost: [], duplicated: [], outOfOrder: [], chainBreaks: [], seqHoles: [], ordinalBreaks: [], senderOrder: [], deliveryGaps: [], foreign: [], amendBreaks: [], receiptBreaks: [], marks: 0, mentionBreaks: [], mentions: 0, replyBreaks: [], replies: 0, hideBreaks: [], stubs: 0 };
  const hidden = new Set((await sql<{ uid: string; conv_id: string; seq: number }[]>`SELECT uid, conv_id, seq FROM hidden_messages WHERE conv_id = ANY(${convs})`).map((h) => `${h.uid}|${h.conv_id}|${h.seq}`));
  const bodyCount = new Map<string, number>();
  // A recalled or edited message's body is no longer its own (empty, or a copy of its latest edit's).
  for (const r of rows) {
    if (r.recalled_by !== null || r.edited_by !== null) continue;
    const k = `${r.conv_id}|${r.body.toString('utf8')}`;
    bodyCount.set(k, (bodyCount.get(k) ?? 0) + 1);
  }
  // A recall or an edit and its effect are stored together or not at all: each names the other; a recalled body is
  // gone, an edited one is its latest edit's.
  for (const [conv, list] of byConv) {
    const at = new Map(list.map((r) => [r.seq, r]));
    const latestEdit = new Map<number, Row>();
    for (const r of list) if (r.edits !== null) latestEdit.set(r.edits, r); // ascending seq: the last one wins
    for (const r of list) {
      if (r.recalls !== null && (at.get(r.recalls)?.recalled_by !== r.seq || at.get(r.recalls)!.body.length > 0)) {
        report.amendBreaks.push(`${conv}: seq ${r.seq} recalls ${r.recalls}, which is not emptied and marked recalled by it`);
      }
      if (r.recalled_by !== null && at.get(r.recalled_by)?.recalls !== r.seq) report.amendBreaks.push(`${conv}: seq ${r.seq} is marked recalled by ${r.recalled_by}, which is no recall of it`);
      if (r.edits !== null && !at.has(r.edits)) report.amendBreaks.push(`${conv}: seq ${r.seq} edits ${r.edits}, which is not stored`);
      if (r.reacts !== null && (r.reacts >= r.seq || !at.has(r.reacts))) report.amendBreaks.push(`${conv}: seq ${r.seq} reacts to ${r.reacts}, which is not stored before it`);
      if (r.edits !== null && at.get(r.edits)?.recalled_by != null && r.body.length > 0) report.amendBreaks.push(`${conv}: seq ${r.seq} still holds a text of ${r.edits}, which was recalled`);
      const edit = latestEdit.get(r.seq);
      if ((edit?.seq ?? null) !== r.edited_by) report.amendBreaks.push(`${conv}: seq ${r.seq} is marked edited by ${r.edited_by}, its latest edit is ${edit?.seq}`);
      else if (edit && r.recalled_by === null && !edit.body.equals(r.body)) report.amendBreaks.push(`${conv}: seq ${r.seq} does not hold the body of its latest edit ${edit.seq}`);
    }
  }
  // G2: one chain per conversation. G5: a device's cids grow with seq.
  for (const [conv, list] of byConv) {
    let prev = 0;
    const lastCid = new Map<string, number>();
    for (const r of list) {
      if (r.prev_seq !== prev) report.chainBreaks.push(`${conv}: seq ${r.seq} has prev ${r.prev_seq}, expected ${prev}`);
      // Seqs are the owner's last + 1, across moves, restarts and refused commits alike.
      if (r.seq !== prev + 1) report.seqHoles.push(`${conv}: seq ${r.seq} follows ${prev}`);
      prev = r.seq;
      // A device id is its user's own: two users' "phone"s are two devices.
      const dev = `${r.sender_uid}/${r.sender_did}`;
      const c = lastCid.get(dev) ?? 0;
      if (r.client_msg_id <= c) report.senderOrder.push(`${conv}: device ${dev} cid ${r.client_msg_id} after ${c}`);
      lastCid.set(dev, r.client_msg_id);
    }
  }
  // Every row from where a conversation's ordinals start counts the plain messages up to it, across moves and crashes.
  const ordinalsFrom = new Map((await sql<{ conv_id: string; ordinals_from: number }[]>`SELECT conv_id, ordinals_from FROM conversations WHERE conv_id = ANY(${convs})`).map((c) => [c.conv_id, c.ordinals_from]));
  for (const [conv, list] of byConv) {
    let n = 0;
    for (const r of list) {
      if (r.seq < (ordinalsFrom.get(conv) ?? Infinity)) continue;
      if (r.recalls === null && r.edits === null && r.reacts === null) n++;
      if (r.ordinal === n) continue;
      report.ordinalBreaks.push(`${conv}: seq ${r.seq} has ordinal ${r.ordinal}, expected ${n}`);
      break;
    }
  }
  for (const d of devices) {
    // G1 and G3: every acked send is stored once, at the seq it was acked with.
    for (const [body, a] of d.acked) {
      report.acked++;
      const stored = byConv.get(a.conv)?.find((r) => r.seq === a.seq);
      // A recalled or edited message keeps its seq with its body emptied or replaced (checked above).
      const recalledTarget = stored?.edits != null && byConv.get(a.conv)?.find((r) => r.seq === stored.edits)?.recalled_by != null;
      // The row is this send's own: this device's, under its cid (a body alone would let another send's row stand in).
      const own = stored !== undefined && stored.sender_uid === d.uid && stored.sender_did === d.did && stored.client_msg_id === a.cid;
      const held = own && (stored.body.toString('utf8') === body || stored.recalled_by !== null || stored.edited_by !== null || recalledTarget);
      if (!held) report.lost.push(`${d.did}: acked "${body}" (cid ${a.cid}) at ${a.conv}/${a.seq} is not stored there as its own`);
    }
    for (const [body, { kind, target }] of d.amends ?? []) {
      const a = d.acked.get(body);
      if (!a) continue; // never acked: nothing is promised
      const stored = byConv.get(a.conv)?.find((r) => r.seq === a.seq);
      if ((kind === 'recall' ? stored?.recalls : kind === 'edit' ? stored?.edits : stored?.reacts) !== target) report.amendBreaks.push(`${d.did}: acked ${kind} "${body}" at ${a.conv}/${a.seq} is not stored as a ${kind} of ${target}`);
    }
    for (const [body, target] of d.replies ?? []) {
      const a = d.acked.get(body);
      if (!a) continue; // never acked: nothing is promised
      report.replies++;
      const stored = byConv.get(a.conv)?.find((r) => r.seq === a.seq);
      if (stored?.reply_to !== target || stored.reply_uid !== d.uid) report.replyBreaks.push(`${d.did}: acked reply "${body}" at ${a.conv}/${a.seq} is stored answering ${stored?.reply_to} of ${stored?.reply_uid}, not ${target} of ${d.uid}`);
    }
    for (const [conv, bodies] of d.attempted) {
      report.sent += bodies.length;
      for (const b of bodies) if ((bodyCount.get(`${conv}|${b}`) ?? 0) > 1) report.duplicated.push(`${conv}: "${b}" stored ${bodyCount.get(`${conv}|${b}`)} times`);
    }
    for (const conv of d.delivered.keys()) if (!members.get(conv)?.includes(d.uid)) report.foreign.push(`${d.did} got messages of ${conv}, which ${d.uid} is not in`);
    // G4: each member device holds its conversations' chains exactly once and in order.
    for (const conv of convs) {
      if (!members.get(conv)?.includes(d.uid)) continue;
      const want = (byConv.get(conv) ?? []).map((r) => r.seq);
      const got = (d.delivered.get(conv) ?? []).map((m) => m.seq);
      if (new Set(got).size !== got.length) report.duplicated.push(`${d.did} got a message of ${conv} twice: ${got.join(',')}`);
      for (let i = 1; i < got.length; i++) if (got[i]! <= got[i - 1]!) report.outOfOrder.push(`${d.did} got ${conv} seq ${got[i]} after ${got[i - 1]}`);
      if (got.join(',') !== want.join(',')) report.deliveryGaps.push(`${d.did} in ${conv}: got [${got.join(',')}], stored [${want.join(',')}]`);
      const storedAt = new Map((byConv.get(conv) ?? []).map((r) => [r.seq, r]));
      for (const m of d.delivered.get(conv) ?? []) {
        const r = storedAt.get(m.seq);
        // A message its user hid comes from history as a stub: its place in the chain, nothing of what it said.
        if (m.hidden === true) {
          report.stubs++;
          if (!hidden.has(`${d.uid}|${conv}|${m.seq}`)) report.hideBreaks.push(`${d.did} got ${conv}/${m.seq} as hidden, which ${d.uid} never hid`);
          if (m.body !== '' || m.reply !== undefined || m.mentions !== undefined || m.reactions !== undefined) report.hideBreaks.push(`${d.did} got ${conv}/${m.seq} hidden but with content`);
          continue;
        }
        if (m.recall !== (r?.recalls ?? undefined) || m.edit !== (r?.edits ?? undefined) || m.react !== (r?.reacts ?? undefined)) {
          report.amendBreaks.push(`${d.did} got ${conv}/${m.seq} with recall ${m.recall} / edit ${m.edit} / react ${m.react}, stored ${r?.recalls} / ${r?.edits} / ${r?.reacts}`);
        }
        if (m.reply !== (r?.reply_to ?? undefined) || m.replyFrom !== (r?.reply_uid ?? undefined)) report.replyBreaks.push(`${d.did} got ${conv}/${m.seq} replying to ${m.reply} of ${m.replyFrom}, stored ${r?.reply_to} of ${r?.reply_uid}`);
      }
    }
  }
  // A mention is stored with its message, in the same statement: the list on the message and a row per member named.
  const mentionRows = new Set((await sql<{ uid: string; conv_id: string; seq: number }[]>`SELECT uid, conv_id, seq FROM mentions WHERE conv_id = ANY(${convs})`).map((r) => `${r.conv_id}|${r.seq}|${r.uid}`));
  for (const d of devices) {
    for (const [body, named] of d.mentioned ?? []) {
      const a = d.acked.get(body);
      if (!a) continue; // never acked: nothing is promised
      const stored = byConv.get(a.conv)?.find((r) => r.seq === a.seq);
      if (d.mentionedAll?.has(body) === true) {
        if (stored?.mentions_all !== true || stored.mentions !== null) report.mentionBreaks.push(`${d.did}: acked "${body}" at ${a.conv}/${a.seq} is not stored as mentioning all`);
      } else if (stored?.mentions?.join(',') !== named.join(',')) report.mentionBreaks.push(`${d.did}: acked "${body}" at ${a.conv}/${a.seq} is stored mentioning [${stored?.mentions?.join(',') ?? ''}], not [${named.join(',')}]`);
      for (const uid of named) {
        if (uid === d.uid || !members.get(a.conv)?.includes(uid)) continue;
        if (mentionRows.has(`${a.conv}|${a.seq}|${uid}`)) report.mentions++;
        else report.mentionBreaks.push(`${d.did}: acked "${body}" at ${a.conv}/${a.seq} has no mention row for ${uid}`);
      }
    }
  }
  // A delivery mark is a member's devices' cumulative ack: it never names a seq none of them was delivered.
  const gotUpTo = new Map<string, number>();
  for (const d of devices) {
    for (const [conv, msgs] of d.delivered) {
      const k = `${conv}|${d.uid}`;
      gotUpTo.set(k, Math.max(gotUpTo.get(k) ?? 0, msgs.at(-1)?.seq ?? 0));
    }
  }
  for (const m of await sql<{ conv_id: string; uid: string; delivered_seq: number }[]>`SELECT conv_id, uid, delivered_seq FROM members WHERE conv_id = ANY(${convs})`) {
    if (m.delivered_seq > 0) report.marks++;
    const got = gotUpTo.get(`${m.conv_id}|${m.uid}`) ?? 0;
    if (m.delivered_seq > got) report.receiptBreaks.push(`${m.uid} in ${m.conv_id}: delivery mark ${m.delivered_seq}, but their devices got up to ${got}`);
  }
  for (const b of await reactionCountBreaks(sql, convs)) report.amendBreaks.push(b);
  for (const d of devices) {
    for (const [conv, seqs] of d.hides ?? []) for (const seq of seqs) if (!hidden.has(`${d.uid}|${conv}|${seq}`)) report.hideBreaks.push(`${d.did}: acked hide of ${conv}/${seq} is not stored`);
  }
  return report;
}

/**
 * Reaction counts the group commit kept (migration 290) that the reactions stored do not add up to, and reactions
 * whose `was` is not their sender's reaction before them: what a client applying reactions to a page would get wrong.
 */
async function reactionCountBreaks(sql: Sql, convs: string[]): Promise<string[]> {
  const counts = await sql<{ conv_id: string; target: number; emoji: string; kept: number; summed: number }[]>`
    WITH summed AS (
      SELECT conv_id, reacts AS target, emoji, sum(d)::int AS n FROM (
        SELECT conv_id, reacts, convert_from(body, 'UTF8') AS emoji, 1 AS d FROM messages WHERE conv_id = ANY(${convs}) AND reacts IS NOT NULL AND body <> ''::bytea
        UNION ALL SELECT conv_id, reacts, react_was, -1 FROM messages WHERE conv_id = ANY(${convs}) AND reacts IS NOT NULL AND react_was IS NOT NULL
      ) x GROUP BY 1, 2, 3
    ),
    kept AS (SELECT conv_id, target, emoji, n FROM reaction_counts WHERE conv_id = ANY(${convs}))
    SELECT COALESCE(k.conv_id, s.conv_id) AS conv_id, COALESCE(k.target, s.target) AS target, COALESCE(k.emoji, s.emoji) AS emoji, COALESCE(k.n, 0) AS kept, COALESCE(s.n, 0) AS summed
    FROM kept k FULL JOIN summed s USING (conv_id, target, emoji) WHERE COALESCE(k.n, 0) <> COALESCE(s.n, 0)`;
  const was = await sql<{ conv_id: string; seq: number; react_was: string | null; before: string | null }[]>`
    SELECT conv_id, seq, react_was, before FROM (
      SELECT conv_id, seq, react_was, NULLIF(convert_from(lag(body) OVER (PARTITION BY conv_id, reacts, sender_uid ORDER BY seq), 'UTF8'), '') AS before
      FROM messages WHERE conv_id = ANY(${convs}) AND reacts IS NOT NULL
    ) x WHERE react_was IS DISTINCT FROM before`;
  return [
    ...counts.map((r) => `${r.conv_id}: message ${r.target} counts ${r.kept} of "${r.emoji}", its reactions add up to ${r.summed}`),
    ...was.map((r) => `${r.conv_id}: reaction ${r.seq} replaced "${r.react_was ?? ''}", its sender's reaction before it was "${r.before ?? ''}"`),
  ];
}

/** True when no guarantee is broken. */
export function allHeld(r: GuaranteeReport): boolean {
  return r.lost.length + r.duplicated.length + r.outOfOrder.length + r.chainBreaks.length + r.seqHoles.length + r.ordinalBreaks.length + r.senderOrder.length + r.deliveryGaps.length + r.foreign.length + r.amendBreaks.length + r.receiptBreaks.length + r.mentionBreaks.length + r.replyBreaks.length + r.hideBreaks.length === 0;
}
