import type { NatsConnection } from 'nats';
import { encodeFrame } from '../protocol/codec.js';
import type { ServerFrame } from '../protocol/frames.js';
import { ErrorCode, toImError } from '../protocol/errors.js';
import { ChatKind, GatewayOp, type GatewayBind, type GatewayClose, type GatewayPush } from '../protocol/chat-ops.js';
import { encodeControl, type SessionsSignedOut, type TokensRevoked } from '../protocol/control.js';
import { clusterRevocationsSubject, clusterSignOutsSubject, gatewaySubject } from '../protocol/subjects.js';
import type { Logger } from '../runtime/logger.js';
import type { Transport } from '../runtime/transport/transport.js';
import { ConversationStore } from '../storage/conversation-store.js';
import type { Sql } from '../storage/db.js';
import { MessageStore } from '../storage/message-store.js';
import { BlockStore } from '../storage/block-store.js';
import { MuteStore } from '../storage/mute-store.js';
import { HiddenMessageStore } from '../storage/hidden-message-store.js';
import { PinnedMessageStore } from '../storage/pinned-message-store.js';
import { MemberPrefsStore } from '../storage/member-prefs-store.js';
import { GroupAdminStore } from '../storage/group-admin-store.js';
import { PresenceStore } from '../storage/presence-store.js';
import { DeliveredMarkStore } from '../storage/delivered-mark-store.js';
import { UserSettingsStore } from '../storage/user-settings-store.js';
import { RevocationStore } from '../storage/revocation-store.js';
import type { CommitConnection } from '../storage/commit-connection.js';
import { reserveThrough } from '../storage/segment-ceiling.js';
import { EventPublisher, type BusinessEvent } from './event-publisher.js';
import { GroupCommitter, type GroupCommitOptions } from './group-commit.js';
import { RecentFanout } from './recent-fanout.js';
import { SeqReservations } from './seq-reservations.js';

/**
 * Deadline of the chat actors' own statements (point reads, read marks, history pages): they take milliseconds,
 * and one stuck behind a connection that is still reconnecting is better failed and retried by the client than
 * waited on for the storage layer's 10 s default (seen right after Postgres restarts).
 */
export const CHAT_STORE_TIMEOUT_MS = 3000;

/**
 * After the large-group threshold changed, how long each large conversation's messages also go through every
 * member's connector: the gateways re-bind their sessions to the conversations that are large now meanwhile
 * (they start REBIND_DELAY_MS after the change, in steps of 500 sessions).
 */
export const LARGE_GROUP_CHANGE_GRACE_MS = 10_000;

export interface ChatSettings {
  /** Groups with more members are large (one publish per message on the conversation's subject); changes live. */
  largeGroupMembers: number;
  /** Conversations one user may be in. */
  maxUserConversations?: number;
  /** Members one group may have. */
  maxGroupMembers?: number;
  /** Conversations one user may have pinned. */
  maxPinned?: number;
  /** Publish business events (`im.events.*`). */
  events: boolean;
  /** How long after a message its sender may recall it; 0: never (the server API still may). Default 120 s. */
  recallWindowSec?: number;
  /** How long after a message its sender may edit it; 0: never. Default 900 s. */
  editWindowSec?: number;
  /** Batch sizing of the group commit (its defaults when absent). */
  commit?: GroupCommitOptions;
}

/**
 * What the chat actors of one node share: stores, the group committer, and the ways out of the
 * actor world (gateway pushes, per-conversation publishes, business events). Built once per node.
 */
export class ChatServices {
  readonly messages: MessageStore;
  readonly convs: ConversationStore;
  readonly revocations: RevocationStore;
  readonly blocks: BlockStore;
  readonly userSettings: UserSettingsStore;
  readonly mutes: MuteStore;
  readonly prefs: MemberPrefsStore;
  readonly hidden: HiddenMessageStore;
  readonly pins: PinnedMessageStore;
  readonly groups: GroupAdminStore;
  /** Who is online through which node life, and when users were last online. */
  readonly presence: PresenceStore;
  readonly deliveredMarks: DeliveredMarkStore;
  readonly committer: GroupCommitter;
  /** The seqs this node's chatters may give out, reserved per shard in its segment. */
  readonly seqs: SeqReservations;
  /** The last seconds of message fan-outs, replayed after a NATS reconnect. */
  readonly recentFanout = new RecentFanout();
  private readonly events: EventPublisher;
  /** Gateway push subjects by node id, built once (every push names one). */
  private readonly gwSubjects = new Map<string, string>();
  private closed = false;
  private largeGraceUntil = 0;

  constructor(
    readonly sql: Sql,
    private readonly nc: NatsConnection,
    private readonly transport: Transport,
    readonly settings: ChatSettings,
    /** This node's life (`node incarnation`): what the connectors here mark the users they announce online with. */
    readonly life: string,
    readonly log: Logger,
    /** The group commit's own connection (none: it shares `sql`, and unknown outcomes are not settled; tests only). */
    private readonly commitConnection?: CommitConnection,
  ) {
    this.messages = new MessageStore(sql, { timeoutMs: CHAT_STORE_TIMEOUT_MS });
    this.convs = new ConversationStore(sql, {
      timeoutMs: CHAT_STORE_TIMEOUT_MS,
      ...(settings.maxUserConversations ? { maxUserConversations: settings.maxUserConversations } : {}),
      ...(settings.maxGroupMembers ? { maxGroupMembers: settings.maxGroupMembers } : {}),
    });
    this.committer = new GroupCommitter(commitConnection ?? { sql }, {
      ...settings.commit,
      onSettleError: (err) => log.warn({ err: err.message, code: err.code }, 'could not settle a group commit statement of unknown outcome; trying again'),
      // A timeout or an unreachable Postgres is the operator's to see but no bug; anything else in the statement is.
      onError: (err, rows) => log[err.code === ErrorCode.TIMEOUT || err.code === ErrorCode.UNAVAILABLE ? 'warn' : 'error']({ err: err.message, code: err.code, rows }, 'group commit statement failed'),
    });
    this.revocations = new RevocationStore(sql, CHAT_STORE_TIMEOUT_MS);
    this.blocks = new BlockStore(sql, CHAT_STORE_TIMEOUT_MS);
    this.userSettings = new UserSettingsStore(sql, CHAT_STORE_TIMEOUT_MS);
    this.mutes = new MuteStore(sql, CHAT_STORE_TIMEOUT_MS);
    this.prefs = new MemberPrefsStore(sql, CHAT_STORE_TIMEOUT_MS, settings.maxPinned);
    this.hidden = new HiddenMessageStore(sql, CHAT_STORE_TIMEOUT_MS);
    this.pins = new PinnedMessageStore(sql, CHAT_STORE_TIMEOUT_MS);
    this.groups = new GroupAdminStore(sql, CHAT_STORE_TIMEOUT_MS);
    // Lost when Postgres is away: "last seen" then shows the time before, which is not worth a retry queue.
    this.presence = new PresenceStore(sql, CHAT_STORE_TIMEOUT_MS, (err) => log.warn({ err: toImError(err).message }, 'could not record presence'));
    // A batch that fails is tried again with the next (and a mark lost at close comes back with the member's next ack).
    this.deliveredMarks = new DeliveredMarkStore(sql, { timeoutMs: CHAT_STORE_TIMEOUT_MS, onError: (err) => log.warn({ err: toImError(err).message }, 'could not record delivery marks') });
    this.seqs = new SeqReservations((name, fence, id, step) => reserveThrough(sql, name, fence, id, step));
    this.events = new EventPublisher(nc, log);
    void this.watchNats();
  }

  /** Applies a new large-group threshold (`imctl settings set large-group`) to every chatter and connector of this node. */
  setLargeGroupMembers(n: number): void {
    this.settings.largeGroupMembers = n;
    this.largeGraceUntil = Date.now() + LARGE_GROUP_CHANGE_GRACE_MS;
  }

  /** Whether the large-group threshold changed so recently that sessions may not be bound as it says yet. */
  get largeGroupsRebinding(): boolean {
    return this.largeGraceUntil !== 0 && Date.now() < this.largeGraceUntil;
  }

  /** Voids the tokens of `uid` (one device, or all) issued up to `beforeMs` (milliseconds): stored, then told to every gateway. */
  async revokeTokens(uid: string, did: string | undefined, beforeMs: number): Promise<void> {
    await this.revocations.revoke(uid, did, beforeMs);
    const msg: TokensRevoked = { type: 'tokens-revoked', uid, beforeMs };
    if (did !== undefined) msg.did = did;
    this.nc.publish(clusterRevocationsSubject(), encodeControl(msg));
    await this.nc.flush();
  }

  /** Tells every gateway to close the sessions of `uid` (one device, or all) it holds (see SessionsSignedOut). */
  async signOut(uid: string, did: string | undefined, reason: string | undefined): Promise<void> {
    const msg: SessionsSignedOut = { type: 'signed-out', uid };
    if (did !== undefined) msg.did = did;
    if (reason !== undefined) msg.reason = reason;
    this.nc.publish(clusterSignOutsSubject(), encodeControl(msg));
    await this.nc.flush();
  }

  /** What this node published just before its NATS connection dropped may be lost: publish it again. */
  private async watchNats(): Promise<void> {
    for await (const st of this.nc.status()) {
      if (this.closed) return;
      if (st.type !== 'reconnect') continue;
      const n = this.recentFanout.replay();
      if (n > 0) this.log.info({ messages: n }, 'NATS reconnected: recent fan-outs published again');
    }
  }

  private gatewaySubject(gw: string): string {
    let s = this.gwSubjects.get(gw);
    if (s === undefined) this.gwSubjects.set(gw, (s = gatewaySubject(gw)));
    return s;
  }

  /** Sends frames to one session of a gateway node (batched with everything else bound for that node). */
  push(gw: string, sid: number, uid: string, frames: ServerFrame[]): void {
    this.pushEncoded(gw, sid, uid, frames.map(encodeFrame));
  }

  /** Like `push`, with frames encoded already (one message pushed to several devices is encoded once). */
  pushEncoded(gw: string, sid: number, uid: string, frames: Uint8Array[]): void {
    const payload: GatewayPush = { uid, frames };
    this.transport.tell(this.gatewaySubject(gw), { kind: ChatKind.GATEWAY, key: String(sid), op: GatewayOp.PUSH, payload });
  }

  /** Asks a gateway node to close one session (a newer connection of the device took over). */
  closeSession(gw: string, sid: number, uid: string, code: number, reason: string): void {
    const payload: GatewayClose = { uid, code, reason };
    this.transport.tell(this.gatewaySubject(gw), { kind: ChatKind.GATEWAY, key: String(sid), op: GatewayOp.CLOSE, payload });
  }

  /** Tells a gateway that a session now takes a large conversation's subject (`after`, `listed`: see GatewayBind). */
  bind(gw: string, sid: number, uid: string, conv: string, bound: boolean, after?: number, listed?: number): void {
    const payload: GatewayBind = after !== undefined && after > 0 ? { uid, conv, after } : { uid, conv };
    if (bound && listed !== undefined) payload.listed = listed;
    this.transport.tell(this.gatewaySubject(gw), { kind: ChatKind.GATEWAY, key: String(sid), op: bound ? GatewayOp.BIND : GatewayOp.UNBIND, payload });
  }

  /** Publishes raw bytes (a pre-encoded client frame) on a subject. */
  publish(subject: string, bytes: Uint8Array): void {
    this.nc.publish(subject, bytes);
  }

  /** Queues a business event; this turn's events of one subject go out as one JSON array. */
  event(e: BusinessEvent): void {
    if (this.settings.events) this.events.publish(e);
  }

  /** Commits what is queued, then stops. */
  async close(): Promise<void> {
    this.closed = true;
    this.recentFanout.clear();
    await this.committer.close();
    await Promise.all([this.presence.close(), this.deliveredMarks.close(), this.commitConnection?.close()]);
    this.events.flush();
    this.seqs.clear();
  }
}
