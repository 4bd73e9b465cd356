import type { Msg } from '../../protocol/frames.js';
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
}

export interface GuaranteeReport {
  sent: number;
  acked: number;
  persisted: number;
  lost: string[];
  duplicated: string[];
  outOfOrder: string[];
  chainBreaks: string[];
  senderOrder: string[];
  deliveryGaps: string[];
}

interface Row {
  conv_id: string;
  seq: number;
  prev_seq: number;
  sender_did: string;
  client_msg_id: number;
  body: Buffer;
}

/**
 * Checks G1–G5 from what Postgres holds and what every device saw. `members` maps a conversation to the users
 * in it; every device of a member must have received the conversation's whole chain, once, in order.
 */
export async function checkGuarantees(sql: Sql, convs: string[], members: Map<string, string[]>, devices: DeviceLog[]): Promise<GuaranteeReport> {
  const rows = await sql<Row[]>`SELECT conv_id, seq, prev_seq, sender_did, client_msg_id, body FROM messages WHERE conv_id = ANY(${convs}) ORDER BY conv_id, seq`;
  const byConv = new Map<string, Row[]>();
  for (const r of rows) {
    let l = byConv.get(r.conv_id);
    if (!l) byConv.set(r.conv_id, (l = []));
    l.push(r);
  }
  const report: GuaranteeReport = { sent: 0, acked: 0, persisted: rows.length, lost: [], duplicated: [], outOfOrder: [], chainBreaks: [], senderOrder: [], deliveryGaps: [] };
  const bodyCount = new Map<string, number>();
  for (const r of rows) bodyCount.set(`${r.conv_id}|${r.body.toString('utf8')}`, (bodyCount.get(`${r.conv_id}|${r.body.toString('utf8')}`) ?? 0) + 1);
  // G2: one chain per conversation. G5: a device's cids grow with seq.
  for (const [conv, list] of byConv) {
    let prev = 0;
    const lastCid = new Map<string, number>();
    for (const r of list) {
      if (r.prev_seq !== prev) report.chainBreaks.push(`${conv}: seq ${r.seq} has prev ${r.prev_seq}, expected ${prev}`);
      prev = r.seq;
      const c = lastCid.get(r.sender_did) ?? 0;
      if (r.client_msg_id <= c) report.senderOrder.push(`${conv}: device ${r.sender_did} cid ${r.client_msg_id} after ${c}`);
      lastCid.set(r.sender_did, r.client_msg_id);
    }
  }
  for (const d of devices) {
    // G1 and G3: every acked send is stored once, at the seq it was acked with.
    for (const [body, a] of d.acked) {
      report.acked++;
      const stored = byConv.get(a.conv)?.find((r) => r.seq === a.seq);
      if (!stored || stored.body.toString('utf8') !== body) report.lost.push(`${d.did}: acked "${body}" at ${a.conv}/${a.seq} is not stored there`);
    }
    for (const [conv, bodies] of d.attempted) {
      report.sent += bodies.length;
      for (const b of bodies) if ((bodyCount.get(`${conv}|${b}`) ?? 0) > 1) report.duplicated.push(`${conv}: "${b}" stored ${bodyCount.get(`${conv}|${b}`)} times`);
    }
    // G4: each member device holds its conversations' chains exactly once and in order.
    for (const conv of convs) {
      if (!members.get(conv)?.includes(d.uid)) continue;
      const want = (byConv.get(conv) ?? []).map((r) => r.seq);
      const got = (d.delivered.get(conv) ?? []).map((m) => m.seq);
      if (new Set(got).size !== got.length) report.duplicated.push(`${d.did} got a message of ${conv} twice: ${got.join(',')}`);
      for (let i = 1; i < got.length; i++) if (got[i]! <= got[i - 1]!) report.outOfOrder.push(`${d.did} got ${conv} seq ${got[i]} after ${got[i - 1]}`);
      if (got.join(',') !== want.join(',')) report.deliveryGaps.push(`${d.did} in ${conv}: got [${got.join(',')}], stored [${want.join(',')}]`);
    }
  }
  return report;
}

/** True when no guarantee is broken. */
export function allHeld(r: GuaranteeReport): boolean {
  return r.lost.length + r.duplicated.length + r.outOfOrder.length + r.chainBreaks.length + r.senderOrder.length + r.deliveryGaps.length === 0;
}
