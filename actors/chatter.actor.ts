import { ChatKind, ChatterOp, ConnectorOp, type ChatterLeave, type ChatterSend, type ChatterSystem, type ChatterTyping, type ConnectorNotify, type SendReply } from '../protocol/chat-ops.js';
import { encodeFrame } from '../protocol/codec.js';
import { ErrorCode, ImError, toImError } from '../protocol/errors.js';
import { SYSTEM_DEVICE } from '../protocol/token.js';
import { Posting, type ConvKind, type Pin, type ServerFrame } from '../protocol/frames.js';
import { MAX_MENTION_ALL_MEMBERS, TYPING_REPEAT_DROP_MS } from '../protocol/limits.js';
import { TypingThrottle } from '../protocol/sdk/typing-throttle.js';
import { conversationSubject } from '../protocol/subjects.js';
import { LaterReply, type Actor, type ActorContext, type ActorKind } from '../runtime/actor.js';
import type { AddedMember } from '../storage/conversation-store.js';
import type { StoredMessage } from '../storage/message-store.js';
import { amendmentOf, repliedTo, type Amendment, type Replied } from './amendment.js';
import { committed, keylessCid, newChatMessage, type Named } from './new-message.js';
import { BindGrace } from './bind-grace.js';
import { readBlocked, readConversation } from './chatter-load.js';
import type { ChatServices } from './chat-services.js';
import { addDevice, deviceKey, knownSend, recentReply, rememberSend, sendReplyOf, type DeviceState } from './device-sends.js';
import { checkChatterCreate, checkChatterMembers, checkChatterMute, checkChatterPin, checkChatterRules, checkChatterSend, checkChatterSilence, checkChatterSystem, checkChatterTitle, checkExpired, checkRoles, checkUid } from './op-checks.js';
import { announceMembers } from './member-announce.js';
import { MemberMarks } from './member-marks.js';
import { mentionAllBudget, reactionBudget, type SendBudget } from './send-budget.js';
import { fanOut, type FanOutFrom } from './fan-out.js';
import { toMsg } from './stored-msg.js';
import { refuseExpired, StoredResends } from './stored-resends.js';
import { changeMembers, createGroup, dissolve, mute, retitle, setRoles, setRules, silence, tellUntold, type AdminChatter, type UntoldChanges } from './chatter-admin.js';
import { AmendmentsInFlight } from './amendments-in-flight.js';
import { pinMessage } from './message-pins.js';
import { SystemSenders } from './system-senders.js';

/** A conversation found missing is looked up again on a send after this long. */
const MISSING_RECHECK_MS = 1000;

/**
 * One conversation: checks membership, dedups on (device, cid), keeps sender order, gives each message the seq
 * after the conversation's last, hands rows to the node's group commit and answers a send only once it is durable.
 * The seq is the chatter's own count: only this shard's owner can commit (its rows are fenced by the shard's epoch),
 * and it reads the last stored seq on activation once no statement of unknown outcome can land
 * (GroupCommitter.settled). A message refused by the commit leaves its seq to the next one, as the chatter reloads
 * first. Seqs are reserved in the shard's segment before they are given out (SeqReservations).
 * After commit it fans the message out: per member connector for small conversations, one publish on the
 * conversation's subject for large ones (gateways deliver it to the member sessions they hold).
 */
class ChatterActor implements Actor, AdminChatter {
  exists = false;
  /** A direct conversation whose one member blocks the other: it takes no sends or pins and passes on no typing. */
  blocked = false;
  kind: ConvKind = 'group';
  title: string | undefined;
  meta: string | undefined;
  /** Its own retention, seconds (0: the cluster's); told to members who join. */
  retention = 0;
  members = new Set<string>();
  /** Members' roles, mutes and silences. */
  readonly marks = new MemberMarks();
  private lastSeq = 0;
  /** The last message's ordinal among those counted as unread (migration 450): the next plain message gets one more. */
  private lastOrdinal = 0;
  /** Sending devices by `deviceKey`: a device id is its user's own (two users' apps may both say "phone"). */
  private devices = new Map<string, DeviceState>();
  /** Recent keyed system messages, per `from`: Postgres' key is (from, key) too; only `recent` is used (keys are random, not growing like a device's cids). Made on the first. */
  private systemSenders: SystemSenders | undefined;
  /** Which re-sends answered from Postgres were fanned out again (made on first need). */
  private resends: StoredResends | undefined;
  /** When a member last joined (epoch ms): a message from before goes to the members again only if nobody joined since. */
  private lastJoinAt = 0;
  private readonly inflight = new Set<Promise<unknown>>();
  /** A commit of ours failed, or a member change half did: our idea of the last seq or the members may be wrong until we reload from Postgres. */
  broken = false;
  /** Member changes of unknown outcome whose re-read failed: told by the next load. */
  untold: UntoldChanges | undefined;
  private loadedAt = 0;
  /** Members told to bind to the large conversation's subject a moment ago: their connectors deliver too. */
  private readonly binding = new BindGrace();
  /** Recalls, edits and reactions in the group commit (see AmendmentsInFlight). */
  private readonly amending = new AmendmentsInFlight();
  /** Mention rows @all may still write (made on the first @all). */
  private mentionAllBudget: SendBudget | undefined;
  private reactionBudget: SendBudget | undefined;
  /** Members' last typing passed on (made on the first typing: most conversations see none). */
  private typed: TypingThrottle | undefined;

  /** This conversation as its fan-out sees it (made once: no object per message). */
  private readonly out: FanOutFrom;

  constructor(
    readonly ctx: ActorContext,
    readonly svc: ChatServices,
  ) {
    const chatter = this;
    this.out = {
      ctx,
      svc,
      marks: this.marks,
      binding: this.binding,
      get members() {
        return chatter.members;
      },
      get large() {
        return chatter.large;
      },
    };
  }

  async onActivate(): Promise<void> {
    await this.load();
    this.svc.seqs.warm(this.ctx.fence, this.lastSeq + 1);
  }

  async onDeactivate(): Promise<void> {
    // A handoff must not let go before what this conversation accepted is durable (or refused).
    await Promise.allSettled([...this.inflight]);
    // Its next activation reads it again anyway; kept, a conversation whose shard moved away would stay listed for good.
    this.svc.committer.reset(this.ctx.key);
  }

  handle(op: string, payload: unknown): unknown {
    switch (op) {
      case ChatterOp.SEND:
        return this.send(checkChatterSend(payload));
      case ChatterOp.SYSTEM:
        return this.system(checkChatterSystem(payload));
      case ChatterOp.TYPING:
        return this.typing(checkUid((payload as ChatterTyping | null)?.uid));
      case ChatterOp.MEMBERS:
        return changeMembers(this, checkChatterMembers(payload));
      case ChatterOp.CREATE:
        return createGroup(this, checkChatterCreate(payload));
      case ChatterOp.BLOCKS: // the server API changed a block between the two members: read it again
        return readBlocked(this.svc, this.ctx.key).then((blocked) => ({ blocked: (this.blocked = blocked) }));
      case ChatterOp.MUTE:
        return mute(this, checkChatterMute(payload));
      case ChatterOp.TITLE:
        return retitle(this, checkChatterTitle(payload));
      case ChatterOp.ROLES:
        return setRoles(this, checkRoles(payload));
      case ChatterOp.SILENCE:
        return silence(this, checkChatterSilence(payload));
      case ChatterOp.PIN:
        return pinMessage(this, checkChatterPin(payload));
      case ChatterOp.DISSOLVE:
        return dissolve(this);
      case ChatterOp.RULES:
        return setRules(this, checkChatterRules(payload));
      case ChatterOp.RELOAD: // the server API made this direct conversation, or let a member back in, behind its back
        return this.load().then(() => ({}));
      case ChatterOp.SETTLE: // an erasure: what the user sent before is stored before it blanks their messages
        return this.commitsSettled().then(() => ({}));
      case ChatterOp.EXPIRED: // the retention sweep: devices online drop what is no longer served, as after a clear
        return this.toMembers({ type: 'cleared', conv: this.ctx.key, seq: checkExpired(payload) });
      case ChatterOp.LEAVE: {
        const uid = checkUid((payload as ChatterLeave | null)?.uid);
        return changeMembers(this, { remove: [uid] }, uid);
      }
      default:
        throw new ImError(ErrorCode.UNKNOWN_TYPE, `chatter has no operation "${op}"`);
    }
  }

  async load(): Promise<void> {
    const conv = this.ctx.key;
    await Promise.allSettled([...this.inflight]);
    // A statement of ours whose outcome was never learned could still commit: the last seq is read once it cannot.
    await this.svc.committer.settled();
    this.svc.committer.reset(conv);
    const now = Date.now();
    const { conv: c, members, blocked, lastSeq, lastOrdinal, lastPosts } = await readConversation(this.svc, this.ctx.fence, conv, now);
    // A dissolved group is gone for its chatter: no sends, members or rules.
    this.exists = c !== undefined && c.dissolvedAt === undefined;
    this.blocked = blocked;
    this.kind = c?.kind ?? 'group';
    this.title = c?.title ?? undefined;
    this.meta = c?.meta ?? undefined;
    this.members = new Set(members.map((m) => m.uid));
    this.lastJoinAt = members.reduce((t, m) => Math.max(t, m.joinedAt), 0);
    this.marks.load(members, now);
    this.marks.adminsPost = c?.posting === Posting.ADMINS;
    this.marks.slowMode = c?.slowModeSec ?? 0;
    if (lastPosts) this.marks.restorePosts(lastPosts);
    this.retention = c?.retentionSec ?? 0;
    this.lastSeq = lastSeq;
    this.lastOrdinal = lastOrdinal;
    this.devices.clear();
    this.broken = false;
    this.loadedAt = now;
    await tellUntold(this);
  }

  get large(): boolean {
    return this.members.size > this.svc.settings.largeGroupMembers;
  }

  /**
   * A send. The usual one (conversation loaded, device known, a seq in memory) is answered without a promise or
   * a wait of its own: the mailbox goes straight on to the next message. Anything else takes `sendSlow`.
   */
  private send(p: ChatterSend): SendReply | LaterReply | Promise<SendReply | LaterReply> {
    if (this.broken || !this.exists || this.blocked || this.marks.restricted || p.recall !== undefined || p.edit !== undefined || p.react !== undefined || p.reply !== undefined || p.mentionAll || !this.members.has(p.uid)) return this.sendSlow(p);
    const dev = this.devices.get(deviceKey(p.uid, p.did));
    if (dev === undefined) return this.sendSlow(p);
    const known = knownSend(p, dev, this.storedSend);
    if (known !== undefined) return known;
    this.admit();
    if (!this.svc.seqs.covers(this.ctx.fence, this.lastSeq + 1)) return this.sendSlow(p);
    return new LaterReply(this.append(p.uid, p.did, p.cid, p.body, dev, undefined, p));
  }

  private async sendSlow(p: ChatterSend): Promise<SendReply | LaterReply> {
    // Conversations are never deleted and may be created after this actor looked: one that "does not exist" is
    // read again before a send is refused for it (at most once a second, so sends to nowhere cost no storm of reads).
    if (this.broken) await this.load();
    else await this.recheckMissing();
    if (!this.exists || !this.members.has(p.uid)) {
      // A re-send of a message stored before its sender left (or the group was dissolved) is answered, not refused:
      // the others have it, and a final error would tell the sender it failed. One still being committed too.
      const dev = this.devices.get(deviceKey(p.uid, p.did));
      const seen = dev && recentReply(dev, p.cid);
      if (seen !== undefined) return seen;
      const stored = await this.svc.messages.findByClientId(this.ctx.key, p.uid, p.did, p.cid);
      if (stored) return sendReplyOf(stored);
      await refuseExpired(this.svc, this.ctx.key, p);
      if (!this.exists) throw new ImError(ErrorCode.NOT_FOUND, `no conversation ${this.ctx.key}`);
      throw new ImError(ErrorCode.NOT_MEMBER, `${p.uid} is not a member of ${this.ctx.key}`);
    }
    const dev = this.devices.get(deviceKey(p.uid, p.did)) ?? (await this.loadDevice(p.uid, p.did));
    const known = knownSend(p, dev, this.storedSend);
    if (known !== undefined) return known instanceof Promise ? await known : known;
    this.admit();
    // After the dedup: a message stored before the block is still answered with its seq when re-sent.
    if (this.blocked) throw new ImError(ErrorCode.FORBIDDEN, `one member of ${this.ctx.key} blocks the other: it takes no messages`);
    if (p.mentionAll) this.checkMentionAll(p.uid);
    const amends = amendmentOf(p);
    // After the dedup too: a re-send of what was stored before the rule or the silence is still answered.
    this.marks.check(p.uid, amends?.kind, Date.now(), this.ctx.key);
    if (amends) await this.checkAmendment(amends, p.body, p.uid, p.uid);
    // Last, so that a reaction refused for another reason costs nothing: each one reaches every member.
    if (amends?.kind === 'react') (this.reactionBudget ??= reactionBudget()).take(this.ctx.key, this.members.size);
    const replied = await repliedTo(this.svc, this.ctx.key, p.reply, p.uid);
    await this.reserveNext();
    if (amends === undefined) this.marks.posted(p.uid, Date.now());
    return new LaterReply(this.append(p.uid, p.did, p.cid, p.body, dev, amends, p, replied));
  }

  /** A field, not a method: `known` hands it on for every send, and a bound closure per send is garbage per message. */
  private readonly storedSend = async (p: ChatterSend, maxCid: number): Promise<SendReply> => {
    const stored = await this.svc.messages.findByClientId(this.ctx.key, p.uid, p.did, p.cid);
    if (stored) return this.answerStored(stored);
    // Its ack was lost and it expired meanwhile (disappearing messages): the sender must not show it as failed.
    await refuseExpired(this.svc, this.ctx.key, p);
    throw new ImError(ErrorCode.INVALID_FIELD, `send.cid ${p.cid} is below ${maxCid}, the last cid stored for device ${p.did} here, and was never stored: cids must only grow`);
  };

  /** A re-send answered from Postgres: its message goes to the members again if it may never have (see StoredResends). */
  private answerStored(m: StoredMessage): SendReply {
    // Stored behind this chatter's back (it reloaded too early): its next message must not follow the old last seq.
    if (m.seq > this.lastSeq) this.broken = true;
    if ((this.resends ??= new StoredResends()).fanOutAgain(m, { blocked: this.blocked, retentionSec: this.retention, lastJoinAt: this.lastJoinAt })) fanOut(this.out, toMsg(m));
    return sendReplyOf(m);
  }

  /** Refuses a new message while the node's group commit is too far behind Postgres (GroupCommitter.full): re-sent later. */
  private admit(): void {
    if (this.svc.committer.full) throw new ImError(ErrorCode.OVERLOADED, 'this node writes messages slower than they come (its database is slow); re-send later');
  }

  /**
   * Makes sure the next seq is reserved (SeqReservations), and refuses a send whose checks awaited something: a commit
   * may have failed meanwhile, and our last seq is not to be trusted until we reload.
   */
  private async reserveNext(): Promise<void> {
    await this.svc.seqs.reserve(this.ctx.fence, this.lastSeq + 1);
    if (this.broken) throw new ImError(ErrorCode.UNAVAILABLE, `conversation ${this.ctx.key} is reloading; re-send`);
  }

  /** See AmendmentsInFlight.check (`uid`: the client's, none for the server API). */
  private checkAmendment(a: Amendment, body: string, from: string, uid?: string): Promise<void> {
    return this.amending.check(this.svc, this.ctx.key, a, body, from, SYSTEM_DEVICE, uid, this.kind === 'group' ? this.moderates : undefined);
  }

  /** See AdminChatter. */
  settled(seq: number): Promise<void> {
    return this.amending.settled(seq);
  }

  async commitsSettled(): Promise<void> {
    if (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  /** Whether `uid` is an owner or admin (of a group: see checkAmendment). A field, so each check needs no closure of its own. */
  private readonly moderates = (uid: string): boolean => this.marks.moderates(uid);

  /** Refuses a mention of all from a plain member of a group (`uid`; none: the server API) or in a conversation too big for it. */
  private checkMentionAll(uid?: string): void {
    if (uid !== undefined && this.kind === 'group' && !this.marks.moderates(uid)) throw new ImError(ErrorCode.FORBIDDEN, `only owners and admins of ${this.ctx.key} may mention all`);
    if (this.members.size > MAX_MENTION_ALL_MEMBERS) throw new ImError(ErrorCode.LIMIT_REACHED, `${this.ctx.key} has ${this.members.size} members: a message may mention all of at most ${MAX_MENTION_ALL_MEMBERS}`);
    // Clients only: the business server's system messages are its own to pace.
    if (uid !== undefined) (this.mentionAllBudget ??= mentionAllBudget()).take(this.ctx.key, this.members.size - 1);
  }

  /**
   * Gives the message its seq now, the one after the conversation's last (in mailbox order), and resolves once it is
   * durable and fanned out. `key` is the cid; undefined for a system message without a key (see keylessCid).
   */
  private append(uid: string, did: string, key: number | undefined, body: string, dev?: DeviceState, amends?: Amendment, named?: Named, replied?: Replied): Promise<SendReply> {
    const seq = this.lastSeq + 1;
    const cid = key ?? keylessCid(seq);
    const m = newChatMessage(this.ctx.key, seq, this.lastSeq, uid, did, cid, body, amends, named, replied);
    // Recalls, edits and reactions are nothing new to read: they share the ordinal of the message before them.
    m.row.ordinal = this.lastOrdinal += amends === undefined ? 1 : 0;
    this.lastSeq = seq;
    const done = this.svc.committer.submit(this.ctx.fence, m.row).then(
      (ts) => {
        this.inflight.delete(done);
        const { reply, msg } = committed(m, ts);
        if (dev?.recent.get(cid) === done) dev.recent.set(cid, reply);
        fanOut(this.out, msg, amends?.author !== undefined && body !== '' ? { author: amends.author, target: amends.target, emoji: body } : undefined);
        return reply;
      },
      (err: unknown) => {
        this.inflight.delete(done);
        const e = toImError(err);
        this.broken = true;
        dev?.recent.delete(cid);
        // Retryable for the client in every case: the re-send lands on a reloaded (or new) owner and dedups.
        // By its code only: the sender's device is told, and Postgres' words are the node's log's (group commit).
        throw e.code === ErrorCode.FENCED ? e : new ImError(ErrorCode.UNAVAILABLE, `message not stored (${e.code}); re-send`, { cause: e });
      },
    );
    // Both kinds of device share the conversation's bound (RECENT_PER_CONVERSATION): keyed system messages from many
    // `from`s would otherwise keep 256 replies each, whatever few client devices there are.
    if (dev) rememberSend(dev, cid, done, this.devices.size + (this.systemSenders?.size ?? 0));
    this.inflight.add(done);
    if (amends) this.amending.track(amends, uid, body, done);
    return done;
  }

  private async loadDevice(uid: string, did: string): Promise<DeviceState> {
    return addDevice(this.devices, deviceKey(uid, did), await this.svc.messages.lastClientMsgId(this.ctx.key, uid, did));
  }

  private async system(p: ChatterSystem): Promise<SendReply | LaterReply> {
    // Read again when missing: the business server creates a direct conversation without its chatter, which may
    // have looked already (a client's typing), and calls come from the server key only, so no storm of reads.
    if (this.broken || !this.exists) await this.load();
    // The key is stored as the message's cid (shown to clients as 0). A repeat while the first is in the group
    // commit or recent joins it, as a device's repeated send does; an older one is found in Postgres (a repeat after
    // a dissolve too); one that runs concurrently on another instance is refused by the unique key at commit.
    const from = p.from ?? SYSTEM_DEVICE;
    const keys = (this.systemSenders ??= new SystemSenders());
    const dev = p.key === undefined ? undefined : keys.devOf(from);
    if (p.key !== undefined) {
      const read = () => this.svc.messages.findByClientId(this.ctx.key, from, SYSTEM_DEVICE, p.key!);
      const seen = recentReply(dev!, p.key);
      if (seen !== undefined) return (await keys.check(from, p.key, p.recall, read), seen);
      const stored = await read();
      if (stored) return (await keys.check(from, p.key, p.recall, async () => stored), this.exists ? this.answerStored(stored) : sendReplyOf(stored));
    }
    if (!this.exists) throw new ImError(ErrorCode.NOT_FOUND, `no conversation ${this.ctx.key}`);
    this.admit();
    const amends = amendmentOf(p);
    if (amends) await this.checkAmendment(amends, p.body, p.from ?? SYSTEM_DEVICE);
    if (p.mentionAll) this.checkMentionAll();
    const replied = await repliedTo(this.svc, this.ctx.key, p.reply);
    await this.reserveNext();
    if (p.key !== undefined) keys.remember(from, p.key, p.recall);
    return new LaterReply(this.append(from, SYSTEM_DEVICE, p.key, p.body, dev, amends, p, replied));
  }

  private typing(uid: string): void {
    if (this.broken || !this.members.has(uid) || this.blocked || !this.marks.mayPost(uid, Date.now())) return; // broken: its members may be stale
    (this.typed ??= new TypingThrottle(TYPING_REPEAT_DROP_MS)).offer(uid, Date.now(), () => (this.toMembers({ type: 'typing', conv: this.ctx.key, from: uid }, uid), true));
  }

  /** An ephemeral frame for the members (but `except`) online: one publish in a large conversation, else a tell per member. */
  toMembers(frame: ServerFrame, except?: string): void {
    const bytes = encodeFrame(frame);
    if (this.large) return this.svc.publish(conversationSubject(this.ctx.key), bytes);
    const payload: ConnectorNotify = { frame: bytes };
    for (const m of this.members) if (m !== except) this.ctx.tell(ChatKind.CONNECTOR, m, ConnectorOp.NOTIFY, payload);
  }

  /** Reads a conversation found missing again, at most once a second (requests to nowhere cost no storm of reads). */
  async recheckMissing(): Promise<void> {
    if (!this.exists && Date.now() - this.loadedAt > MISSING_RECHECK_MS) await this.load();
  }

  /** See `announceMembers`. */
  announce(added: readonly AddedMember[], removed: string[], wasLarge: boolean, by?: string, pins?: Pin[]): void {
    if (added.length > 0) this.lastJoinAt = Date.now();
    // A fan-out replayed after a NATS reconnect goes to the members then: not to a newcomer, of what came before.
    for (const a of added) if (a.clearedSeq > 0) this.marks.hideUpTo(a.uid, a.clearedSeq, this.lastJoinAt);
    const { kind, title, meta, lastSeq, members, large, binding } = this;
    announceMembers(this.ctx, this.svc, { kind, title, meta, adminsPost: this.marks.adminsPost, retention: this.retention, slowMode: this.marks.slowMode, ...(pins?.length ? { pins } : {}), lastSeq, members, isMember: (u) => this.members.has(u), large, wasLarge, binding }, added, removed, by);
  }
}

/** The chatter actor kind (one actor per conversation). */
export function chatterKind(svc: ChatServices): ActorKind {
  // A sleeping chatter reads everything afresh when it next wakes: a reload need not wake it (and load it twice).
  return { kind: ChatKind.CHATTER, create: (ctx) => new ChatterActor(ctx, svc), idleAnswer: (op) => (op === ChatterOp.RELOAD || op === ChatterOp.SETTLE ? {} : undefined) };
}
