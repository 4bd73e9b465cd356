import {
  ChatKind,
  ConnectorOp,
  type AttachReply,
  type ConnectorAttach,
  type ConnectorDeliver,
  type ConnectorDisconnect,
  type ConnectorJoined,
  type ConnectorPresence,
  type ConnectorConvs,
  type ConvsPage,
  type DevicesReply,
  type DisconnectReply,
} from '../protocol/chat-ops.js';
import { CloseCode } from '../protocol/close-codes.js';
import { isDirectConvId } from '../protocol/conv-id.js';
import { ErrorCode, ImError } from '../protocol/errors.js';
import type { ConvSummary, ServerFrame } from '../protocol/frames.js';
import type { Actor, ActorContext, ActorKind } from '../runtime/actor.js';
import type { UserConversation } from '../storage/conversation-store.js';
import type { ChatServices } from './chat-services.js';
import { addInflight, DeviceInflight, forgetInflight, pushedOf, resendDue, settleInflight, type Pushed } from './device-inflight.js';
import { newConvState, refreshConvStates, type ConvState } from './conv-state.js';
import { storeMemberPrefs } from './member-prefs.js';
import { pushEvent } from './push-event.js';
import { sleepingConnectorAnswer } from './sleeping-connector.js';
import { announce, deviceCame, greetNewPeer, peerPresence, presenceLost, privacyChanged } from './connector-presence.js';
import { DeliveryReceipts } from './delivery-receipts.js';
import { markRead } from './connector-read.js';
import { lapsed, LEASE_CHECK_MS, type Device } from './connector-device.js';
import { attachReply, listPage, PagedLists } from './list-pages.js';
import { checkAttach, checkConnectorPrefs, checkConvs, checkDeliver, checkDetach, checkDisconnect, checkGatewayGone, checkJoined, checkMark, checkNotify, checkPresenceLost, checkPushNotice, checkReceipt, checkUid } from './op-checks.js';

/** Unacked messages are pushed again after this long. */
export const DEFAULT_RETRANSMIT_MS = 2000;

/**
 * One user: where each of their devices is connected, what each device has not acknowledged yet
 * (retransmitted on a timer until a cumulative ack covers it), and their conversation list. Device locations
 * are soft state: gateways attach their sessions again whenever the user's connector shard changes owner.
 */
class ConnectorActor implements Actor {
  /**
   * The user's online devices: a short array, not a Map (a Map's table is ~180 bytes, and there is one actor per
   * online user, almost all with one device). Replaced on change, never grown in place, so it keeps its exact size.
   */
  devices: Device[] = [];
  readonly convs = new Map<string, ConvState>();
  /** Users this one blocks or is blocked by (read when the first device attaches); none: undefined. */
  blocked: Set<string> | undefined;
  /** This user has read receipts off: sends none, and passes none on to its devices. */
  receiptsOff = false;
  /** This user has last seen off: tells nobody the time it went offline, and passes no peer's on to its devices. */
  lastSeenOff = false;
  /**
   * Direct peers online, as their presence told (answers to our coming online, then their changes). Made on the
   * first: a Set costs ~150 bytes, and most of the connectors an idle gateway holds have no peer online.
   */
  peersOnline: Set<string> | undefined;
  private retransmitArmed = false;
  /** Delivery marks moved by the devices' acks, on their way to Postgres and the direct peers; made on the first. */
  private receipts: DeliveryReceipts | undefined;
  /** Lists being sent to devices in pages. */
  private readonly paged = new PagedLists();

  constructor(
    readonly ctx: ActorContext,
    readonly svc: ChatServices,
    private readonly retransmitMs: number,
  ) {}

  /** When the host's sweep next runs `check` (devices' leases): set while the user has devices. */
  checkAt: number | undefined;

  holdsLiveState(): boolean {
    return this.devices.length > 0;
  }

  /** A device whose DETACH was lost is dropped even if no op comes (connector-device.ts, LEASE_CHECK_MS). */
  check(now: number): void {
    this.dropLapsed(now);
    this.checkAt = this.devices.length > 0 ? now + LEASE_CHECK_MS : undefined;
  }

  async onDeactivate(): Promise<void> {
    await this.receipts?.flush();
  }

  handle(op: string, payload: unknown): unknown {
    switch (op) {
      case ConnectorOp.ATTACH:
        return this.attach(checkAttach(payload));
      case ConnectorOp.DETACH:
        return this.detach(checkDetach(payload));
      case ConnectorOp.DISCONNECT:
        return this.disconnect(checkDisconnect(payload));
      case ConnectorOp.DELIVER:
        return this.deliver(checkDeliver(payload));
      case ConnectorOp.PUSH:
        this.dropLapsed(Date.now());
        return this.devices.length === 0 ? pushEvent(this.svc, this.ctx.key, checkPushNotice(payload)) : undefined;
      case ConnectorOp.ACK:
        return this.ack(checkMark(payload));
      case ConnectorOp.READ:
        return markRead(this, checkMark(payload));
      case ConnectorOp.PREFS:
        return storeMemberPrefs(this.svc, this.ctx.key, checkConnectorPrefs(payload), this.notify, this.ctx.fence);
      case ConnectorOp.CONVS:
        return this.list(checkConvs(payload));
      case ConnectorOp.DEVICES:
        this.dropLapsed(Date.now());
        return { devices: this.devices.map((d) => ({ did: d.did, node: d.gw })) } satisfies DevicesReply;
      case ConnectorOp.NOTIFY: {
        const { frame, except } = checkNotify(payload);
        return this.notify(frame, except);
      }
      case ConnectorOp.PRESENCE:
        return peerPresence(this, payload as ConnectorPresence);
      case ConnectorOp.RECEIPT:
      case ConnectorOp.DELIVERED: {
        // A delivery receipt is not a read receipt: the read-receipts setting leaves it alone, a block does not.
        const r = checkReceipt(payload);
        if (this.blocked?.has(r.uid) || (op === ConnectorOp.RECEIPT && this.receiptsOff)) return;
        return this.broadcast({ type: op === ConnectorOp.RECEIPT ? 'receipt' : 'delivered', conv: r.conv, uid: r.uid, seq: r.seq });
      }
      case ConnectorOp.PRIVACY:
        return privacyChanged(this);
      case ConnectorOp.GATEWAY_GONE: {
        const g = checkGatewayGone(payload);
        // As if each of its sessions had detached: the last device out makes the user offline, with a last seen.
        for (const d of this.devices.filter((x) => x.gw === g.gw && x.life === g.life)) this.detach(d);
        return;
      }
      case ConnectorOp.PRESENCE_LOST:
        return presenceLost(this, checkPresenceLost(payload));
      case ConnectorOp.JOINED:
        return this.joined(checkJoined(payload));
      case ConnectorOp.LEFT:
        return this.left(checkUid((payload as { conv?: unknown } | null)?.conv));
      default:
        throw new ImError(ErrorCode.UNKNOWN_TYPE, `connector has no operation "${op}"`);
    }
  }

  private async attach(p: ConnectorAttach): Promise<AttachReply> {
    const old = this.device(p.did);
    const same = old !== undefined && old.gw === p.gw && old.sid === p.sid;
    if (same) old.seenAt = Date.now();
    if (same && p.refresh) return { large: this.largeConvs() };
    // Session ids are open times: an attach of an older session (a gateway that was frozen, re-stating what it
    // held) must not displace the device's newer one; the older one is closed instead.
    if (old && !same && p.sid < old.sid) {
      this.svc.closeSession(p.gw, p.sid, this.ctx.key, CloseCode.REPLACED, 'a newer connection of this device took over');
      return { large: [] };
    }
    if (old && !same) this.svc.closeSession(old.gw, old.sid, this.ctx.key, CloseCode.REPLACED, 'a newer connection of this device took over');
    const wasOnline = this.devices.length > 0;
    if (!same) {
      const dev: Device = { did: p.did, gw: p.gw, sid: p.sid, life: p.life, inflight: undefined, seenAt: Date.now() };
      const others = this.devices.filter((d) => d.did !== p.did);
      // An array literal has exactly its length; a pushed or spread one gets room for 16 more (150 bytes).
      this.devices = others.length === 0 ? [dev] : others.concat([dev]);
    }
    const before = this.largeConvs();
    const [list] = await Promise.all([this.svc.convs.userConversations(this.ctx.key, this.svc.settings.largeGroupMembers + 1), wasOnline ? undefined : this.readPrivacy()]).catch((err: unknown) => {
      // Not attached after all: the gateway's retry must find the device absent, or it would skip the privacy read and the online announcement.
      if (!same) this.devices = this.devices.filter((d) => d.did !== p.did || d.sid !== p.sid);
      // The session it replaced is gone as well: with no device left, the user is offline (the retry says online again).
      if (wasOnline && this.devices.length === 0) this.detached(p.did);
      throw err;
    });
    const convs = this.refresh(list);
    // The attaching device's bindings follow the answer; the user's other devices are told here.
    this.rebind(before, p.did);
    if (!wasOnline || !same) deviceCame(this, p.did, !wasOnline);
    // Until the last device is gone (detached): a device whose DETACH was lost is dropped even if no op comes.
    if (!wasOnline) this.checkAt = Date.now() + LEASE_CHECK_MS;
    return attachReply(p.did, convs, this.largeConvs(), p.pageBytes, this.paged);
  }

  /** Reads who this user blocks or is blocked by, and whether the user has read receipts or last seen off. */
  async readPrivacy(): Promise<void> {
    const { related, readReceipts, lastSeen } = await this.svc.userSettings.privacy(this.ctx.key);
    this.blocked = related.length === 0 ? undefined : new Set(related);
    this.receiptsOff = !readReceipts;
    this.lastSeenOff = !lastSeen;
  }

  /** Detaches the devices whose lease ran out (connector-device.ts): the last one out makes the user offline. */
  private dropLapsed(now: number): void {
    for (const d of this.devices) if (lapsed(d, now)) this.detach(d);
  }

  private device(did: string): Device | undefined {
    for (const d of this.devices) if (d.did === did) return d;
    return undefined;
  }

  private largeConvs(): string[] {
    return [...this.convs].filter(([, c]) => c.large).map(([conv]) => conv);
  }

  private detach(p: { did: string; sid: number }): void {
    const dev = this.device(p.did);
    if (!dev || dev.sid !== p.sid) return; // a newer session of the device already took its place
    this.devices = this.devices.filter((d) => d !== dev);
    this.paged.forget(p.did);
    if (this.devices.length === 0) this.detached(p.did);
  }

  /** The last device (`did`) is gone: nothing to retransmit to, and the user is offline. */
  private detached(did: string): void {
    this.disarmRetransmit();
    this.checkAt = undefined;
    announce(this, did, false);
  }

  /**
   * Signs the user out (every device, or the one named) for the business server: their sessions close with 4014
   * and the devices are forgotten at once, whether or not the gateways' detaches ever arrive.
   */
  private async disconnect(p: ConnectorDisconnect): Promise<DisconnectReply> {
    const gone = this.devices.filter((d) => p.did === undefined || d.did === p.did);
    for (const d of gone) {
      this.svc.closeSession(d.gw, d.sid, this.ctx.key, CloseCode.SIGNED_OUT, p.reason ?? 'signed out');
      this.detach(d);
    }
    // Answered once the sign-out's last seen is stored: an erasure deletes it next (one still to be retried is dropped).
    if (gone.length > 0) await this.svc.presence.flush();
    if (p.erase) this.svc.presence.forget(this.ctx.key);
    return { devices: gone.map((d) => d.did) };
  }

  private deliver(d: ConnectorDeliver): void {
    const now = Date.now();
    this.dropLapsed(now);
    if (this.devices.length === 0) return pushEvent(this.svc, this.ctx.key, d); // offline: the devices catch up by sync
    let c = this.convs.get(d.conv);
    if (c) {
      // Dedup window: an older delivery arriving late is not pushed either; the device repairs that gap by `prev`.
      if (d.seq <= (c.pushedSeq ?? 0)) return;
      if (d.seq > c.lastSeq) c.lastSeq = d.seq;
    } else this.convs.set(d.conv, (c = newConvState(d.conv, isDirectConvId(d.conv) ? 'direct' : 'group', false, this.ctx.key, d.seq)));
    c.pushedSeq = d.seq;
    let frames: Uint8Array[] | undefined;
    let pushed: Pushed | undefined;
    const own = d.from === this.ctx.key;
    for (const dev of this.devices) {
      // The sending device links its own message from `sent` (which carries `prev`): no push, no ack, no resend.
      if (own && dev.did === d.did) continue;
      this.svc.pushEncoded(dev.gw, dev.sid, this.ctx.key, (frames ??= [d.frame]));
      pushed ??= pushedOf(d.seq, d.frame);
      addInflight((dev.inflight ??= new DeviceInflight()), d.conv, pushed, now);
    }
    if (pushed) this.armRetransmit();
  }

  /** The retransmit timer runs only while something is unacked: idle users cost no timer work. */
  private armRetransmit(): void {
    if (this.retransmitArmed) return;
    this.retransmitArmed = true;
    // Ticks faster than the retransmit interval so that a message waits at most 1.25 intervals for its resend.
    this.ctx.setTimer('retransmit', Math.max(50, this.retransmitMs / 4), () => this.retransmit(), true);
  }

  private disarmRetransmit(): void {
    this.retransmitArmed = false;
    this.ctx.clearTimer('retransmit');
  }

  /** A cumulative ack; synchronous unless it names a seq beyond what this actor has heard of. */
  private ack(p: { did: string; conv: string; seq: number }): void | Promise<void> {
    const dev = this.device(p.did);
    if (!dev) return;
    const c = this.convs.get(p.conv);
    if (!c) return this.svc.push(dev.gw, dev.sid, this.ctx.key, [{ type: 'error', code: ErrorCode.NOT_MEMBER, message: `not a member of ${p.conv}`, conv: p.conv }]);
    // A device may have pulled a message before its delivery reached us: ask Postgres before calling it bogus.
    if (!c.large && p.seq > c.lastSeq) return this.ackBeyond(p, dev, c);
    this.acked(dev, p.conv, p.seq, c);
  }

  /** The device holds `conv` up to `seq`: its unacked messages up to there are settled, and the user's delivery mark moves. */
  private acked(dev: Device, conv: string, seq: number, c: ConvState): void {
    settleInflight(dev.inflight, conv, seq, Date.now());
    this.delivery().moved(conv, seq, c);
  }

  delivery(): DeliveryReceipts {
    return (this.receipts ??= new DeliveryReceipts(this.ctx, this.svc, this.convs, () => this.blocked));
  }

  private async ackBeyond(p: { did: string; conv: string; seq: number }, dev: Device, c: ConvState): Promise<void> {
    c.lastSeq = Math.max(c.lastSeq, await this.svc.messages.lastSeq(p.conv));
    if (p.seq > c.lastSeq) {
      return this.svc.push(dev.gw, dev.sid, this.ctx.key, [{ type: 'error', code: ErrorCode.INVALID_FIELD, message: `ack.seq ${p.seq} is beyond the last message of ${p.conv} (${c.lastSeq})`, conv: p.conv }]);
    }
    // The list may have been read again meanwhile: the mark belongs in the state kept now.
    this.acked(dev, p.conv, p.seq, this.convs.get(p.conv) ?? c);
  }

  /**
   * A client's `sync` (bindings put right for whatever the read found became large or small), or a page of a list
   * being sent in pages: from the list held since its first page, else read again. Whole (an array) when the
   * gateway asks no pages.
   */
  private async list(p: ConnectorConvs): Promise<ConvSummary[] | ConvsPage> {
    const did = p.did ?? '';
    if (p.after !== undefined && p.pageBytes !== undefined) {
      const held = this.paged.next(did, p.after, p.pageBytes);
      if (held !== undefined) return held;
    }
    const before = this.largeConvs();
    const rows = this.refresh(await this.svc.convs.userConversations(this.ctx.key, this.svc.settings.largeGroupMembers + 1));
    this.rebind(before);
    if (p.pageBytes === undefined) return rows;
    return p.after === undefined ? this.paged.first(did, rows, p.pageBytes) : listPage(rows, p.after, p.pageBytes);
  }

  /** Binds the devices (but `skipDid`) to the large conversations not in `before`, and unbinds them from those no longer large. */
  private rebind(before: string[], skipDid?: string): void {
    const now = new Set(this.largeConvs());
    const was = new Set(before);
    for (const dev of this.devices) {
      if (dev.did === skipDid) continue;
      for (const conv of now) if (!was.has(conv)) this.svc.bind(dev.gw, dev.sid, this.ctx.key, conv, true);
      for (const conv of was) if (!now.has(conv)) this.svc.bind(dev.gw, dev.sid, this.ctx.key, conv, false);
    }
  }

  /** An encoded frame for the user's devices but `except`. */
  private readonly notify = (frame: Uint8Array, except?: string): void => {
    for (const dev of this.devices) if (dev.did !== except) this.svc.pushEncoded(dev.gw, dev.sid, this.ctx.key, [frame]);
  };

  broadcast(frame: ServerFrame): void {
    for (const dev of this.devices) this.svc.push(dev.gw, dev.sid, this.ctx.key, [frame]);
  }

  /**
   * Added to a conversation (the devices are told), or told that one of ours became large or small: sessions take
   * or leave its subject.
   */
  private joined(p: ConnectorJoined): void | Promise<void> {
    const c = this.convs.get(p.conv);
    const was = c?.large === true;
    if (c === undefined) this.convs.set(p.conv, newConvState(p.conv, p.kind, p.large, this.ctx.key));
    else c.large = p.large;
    // A newcomer's history starts past clearedSeq: what the gateway hears on the subject up to there (a replay after
    // the chatter's NATS reconnect) is not theirs to see.
    const hidden = p.added === true ? (p.clearedSeq ?? 0) : 0;
    // What the devices are told is the payload but the connector's own fields (checkJoined kept only those set).
    const { large: _large, added, ...shown } = p;
    if (added) this.broadcast({ type: 'joined', ...shown, lastSeq: p.lastSeq ?? 0 });
    // Binding again is harmless (the gateway ignores a repeat); unbinding what never was bound is just noise.
    // A newcomer's list is the welcome, a member's the group's last message when it grew large: the gateway catches
    // the session up past it (ConvBinding.bind), as the bind grace may be over before the session takes the subject.
    const listed = added ? Math.max(p.lastSeq ?? 0, hidden) : p.large && !was ? p.lastSeq : undefined;
    if (p.large || was) for (const dev of this.devices) this.svc.bind(dev.gw, dev.sid, this.ctx.key, p.conv, p.large, hidden, listed);
    if (added && p.kind === 'direct') return greetNewPeer(this, p.conv, this.convs.get(p.conv));
  }

  private left(conv: string): void {
    const c = this.convs.get(conv);
    this.convs.delete(conv);
    for (const dev of this.devices) {
      dev.inflight?.delete(conv);
      if (c?.large) this.svc.bind(dev.gw, dev.sid, this.ctx.key, conv, false);
    }
    this.broadcast({ type: 'left', conv });
  }

  /** Takes a fresh list from Postgres (see refreshConvStates). */
  private refresh(list: UserConversation[]): ConvSummary[] {
    const rows = refreshConvStates(this.convs, list, this.svc.settings.largeGroupMembers, this.blocked);
    forgetInflight(this.devices, (conv) => this.convs.has(conv));
    return rows;
  }

  private retransmit(): void {
    const now = Date.now();
    this.dropLapsed(now);
    const pending = resendDue(this.devices, now - this.retransmitMs, now, (dev, frames) => this.svc.pushEncoded(dev.gw, dev.sid, this.ctx.key, frames));
    if (!pending) this.disarmRetransmit();
  }
}

/** The connector actor kind (one actor per user). */
export function connectorKind(svc: ChatServices, retransmitMs = DEFAULT_RETRANSMIT_MS): ActorKind {
  return {
    kind: ChatKind.CONNECTOR,
    create: (ctx) => new ConnectorActor(ctx, svc, retransmitMs),
    idleAnswer: sleepingConnectorAnswer(svc),
  };
}
