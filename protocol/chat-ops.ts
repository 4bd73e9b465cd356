import type { ConvKind, ConvSummary, MemberRole, NewcomerHistory, Pin, Posting } from './frames.js';

/**
 * Operations the chat actors exchange inside the cluster (carried in actor envelopes, see envelopes.ts).
 * Defined once here so that the gateway, the connector and the chatter cannot drift apart.
 */

/** Actor kinds of the chat domain. */
export const ChatKind = { CONNECTOR: 'connector', CHATTER: 'chatter', GATEWAY: 'gateway' } as const;
export type ChatKind = (typeof ChatKind)[keyof typeof ChatKind];

/** Operations of the chatter (one actor per conversation). */
export const ChatterOp = { SEND: 'send', SYSTEM: 'system', TYPING: 'typing', MEMBERS: 'members', CREATE: 'create', BLOCKS: 'blocks', MUTE: 'mute', TITLE: 'title', LEAVE: 'leave', ROLES: 'roles', SILENCE: 'silence', PIN: 'pin', RULES: 'rules', DISSOLVE: 'dissolve', EXPIRED: 'expired', RELOAD: 'reload', SETTLE: 'settle' } as const;
/** The retention sweep expired the conversation's messages up to `seq`: members online are told (a tell, no answer). */
export interface ChatterExpired {
  seq: number;
}
/** Operations of the connector (one actor per user). */
export const ConnectorOp = {
  ATTACH: 'attach',
  DETACH: 'detach',
  DELIVER: 'deliver',
  ACK: 'ack',
  READ: 'read',
  CONVS: 'convs',
  /** A client frame for the user's devices online (typing, a new title, a mute or pin echo), encoded once by the sender; `except` skips one device. */
  NOTIFY: 'notify',
  PRESENCE: 'presence',
  JOINED: 'joined',
  LEFT: 'left',
  DISCONNECT: 'disconnect',
  DEVICES: 'devices',
  RECEIPT: 'receipt',
  /** The other member of a direct conversation holds messages up to a seq now (payload: ConnectorReceipt). */
  DELIVERED: 'delivered',
  /** Who the user blocks or is blocked by, or the user's privacy settings, changed: read them again (no payload). */
  PRIVACY: 'privacy',
  /** A gateway life ended without detaching its sessions (a crash): forget the devices it held. */
  GATEWAY_GONE: 'gateway-gone',
  /**
   * The node life that announced this user online ended (a crash) with no device of theirs back elsewhere: announce
   * them offline unless one is back now (payload: ConnectorPresenceLost).
   */
  PRESENCE_LOST: 'presence-lost',
  /**
   * A large group's message names this user (a mention, or a reaction to their message): members of large groups
   * are not told of messages one by one, so this tells them, to raise a push event when no device of theirs is
   * online (payload: PushNotice).
   */
  PUSH: 'push',
  /**
   * The user's own list preferences for a conversation: pin, archive, mark as unread (payload: ConnectorPrefs). Through
   * the connector, so that they take turns with the user's reads: a read takes a mark as unread off.
   */
  PREFS: 'prefs',
} as const;
/** Operations a gateway node takes for its sessions (key = session id). */
export const GatewayOp = { PUSH: 'push', CLOSE: 'close', BIND: 'bind', UNBIND: 'unbind' } as const;

/** A user's device sends a message (gateway → chatter). */
/**
 * A device's send; with `recall` / `edit`, a recall or a new text of that seq (the sender's own message, within the
 * window); with `react`, the sender's reaction to that seq (any member's message; an empty body takes it back).
 * `reply`: the seq the message answers; `mentionAll`: it mentions every member (a group's owners and admins only).
 */
export interface ChatterSend { uid: string; did: string; cid: number; body: string; after?: number; recall?: number; edit?: number; react?: number; mentions?: string[]; mentionAll?: true; reply?: number }
/**
 * The durable outcome of a send; `prev` lets the sending device link its own message without a `msg`, `replyFrom`
 * (a reply's: who sent the message it answers) complete it.
 */
export interface SendReply { seq: number; ts: number; prev: number; replyFrom?: string; was?: string }
/**
 * A message from the business server (server API → chatter); `from` defaults to "system". `key` (1 to 2^48 − 1)
 * makes it idempotent: a second call with the same key answers the first one's seq and stores nothing. With
 * `recall`, the message recalls that seq (any sender's, at any age: moderation). `mentions`, `mentionAll` and `reply` as a send's (any system message may mention all).
 */
export interface ChatterSystem { body: string; from?: string; key?: number; recall?: number; mentions?: string[]; mentionAll?: true; reply?: number }
export interface ChatterTyping { uid: string }
/** Membership change through the chatter, so its member list stays exact. */
export interface ChatterMembers { add?: string[]; remove?: string[] }
/** A group created (or created again, which adds members) through its chatter, so that it knows at once. */
export interface ChatterCreate { owner: string; members?: string[]; title?: string; meta?: string; posting?: Posting; retention?: number; history?: NewcomerHistory; slowMode?: number }
export interface CreateReply { conv: string; kind: 'group' }
export interface MembersReply { added: string[]; removed: string[] }
/**
 * A member mutes the conversation until `until` (epoch ms; 0 unmutes), through its chatter, which marks what it fans
 * out to that member from then on. `did`: the device that asked (it gets the answer, not the echo).
 */
export interface ChatterMute { uid: string; until: number; did?: string }
export interface MuteReply { until: number }
/** A member leaves a group of their own accord (gateway → chatter). */
export interface ChatterLeave { uid: string }
/** A group's new title and/or app-defined data (server API → chatter; at least one); null removes it. */
export interface ChatterTitle { title?: string | null; meta?: string | null }
export interface TitleReply { conv: string; title?: string | null; meta?: string | null }
/**
 * A conversation's rules (server API → chatter), at least one: who may post in a group, and how long its messages
 * are kept (seconds; 0: as long as the cluster keeps them). The reply is what is stored.
 */
export interface ChatterRules { posting?: Posting; retention?: number; history?: NewcomerHistory; slowMode?: number }
export interface RulesReply { conv: string; posting?: Posting; retention?: number; history?: NewcomerHistory; slowMode?: number }
/** A group dissolved (server API → chatter): how many members it had. */
export interface DissolveReply { conv: string; removed: number }
/** New roles for members of a group (server API → chatter, which tells the members online). */
export interface ChatterRoles { roles: Record<string, MemberRole> }
export interface RolesReply { conv: string; roles: Record<string, MemberRole> }
/** Members of a group silenced until `until` (epoch ms; 0 lifts it), by the server API; the chatter tells their devices. */
export interface ChatterSilence { uids: string[]; until: number }
export interface SilenceReply { conv: string; uids: string[]; until: number }
/** Pin (or unpin) message `seq` for every member: a member's (`uid`) or the server API's (none; `by` names whom to show). */
export interface ChatterPin { seq: number; pinned: boolean; uid?: string; by?: string }
export interface PinReply { conv: string; pins: Pin[] }
/** The user's mute of `conv` changed (chatter → connector): echoed to the devices but `did`. */

/**
 * A device's socket on a gateway node (gateway → connector). `refresh`: the gateway re-states a session it
 * attached before (periodically, or after the connector shard changed owner).
 */
/** `life`: the gateway process's incarnation, so a connector can forget the device when that process dies. */
/** `pageBytes`: the device takes a long list in pages of about this many bytes (ConvsPage); absent: whole. */
export interface ConnectorAttach { did: string; gw: string; sid: number; life?: string; refresh?: boolean; pageBytes?: number }
/** The gateway `gw`'s life `life` ended: its sessions are gone (node → its live connectors). */
export interface ConnectorGatewayGone { gw: string; life: string }
/** `life`: the dead node life; `did`: the device that brought the user online, named by the `offline` event (presence sweep → connector). */
export interface ConnectorPresenceLost { did: string; life: string }
/**
 * `convs` is absent when a refresh found the session already known: nothing was lost, nothing to catch up. With
 * `more` it is the first page of a long list, which goes on after that conversation id (ConnectorConvs).
 * `large`: conversations delivered by per-conversation subject, not by connector; `largeLast`, with `convs`: the
 * `lastSeq` the list gives each of them, in the same order (absent from older nodes).
 */
export interface AttachReply { convs?: ConvSummary[]; more?: string; large: string[]; largeLast?: number[] }
/**
 * What a device's `sync` and the gateway's list pages ask the connector for: the user's list, or with `after` the
 * part of it past that conversation id. Without `pageBytes` (a device that takes no pages, or an older gateway) the
 * answer is the whole list as an array; with it, a ConvsPage.
 */
export interface ConnectorConvs { did?: string; after?: string; pageBytes?: number }
/** Part of a list too long for one answer, in conversation id order; `more`: it goes on after this id. */
export interface ConvsPage { list: ConvSummary[]; more?: string }
export interface ConnectorDetach { did: string; sid: number }
/**
 * The business server signs a user out (server API → connector): every device, or the one named. With `revoke`
 * the server API has first made the tokens they hold useless (RevocationStore), so they cannot come back.
 */
export interface ConnectorDisconnect { did?: string; reason?: string; revoke?: boolean; erase?: boolean }
/** The devices whose sessions were closed. */
export interface DisconnectReply { devices: string[] }
/** The user's connected devices and the node whose gateway holds each (server API → connector). */
export interface DevicesReply { devices: { did: string; node: string }[] }
/**
 * A committed message for one member (chatter → connector): the client `msg` frame, encoded once by the chatter
 * for every member (the connector pushes and re-pushes it as it is), and what the connector tracks it by.
 * `quiet`: a recall, an edit or a reaction, news to a device online but no reason to notify one offline (no push event).
 * `muted`: the member muted the conversation (its push event says so). `mentions`, `replyFrom`, `mentionAll`: the
 * members the message names (all of them), whose push events say `mentioned`.
 */
export interface ConnectorDeliver extends PushNotice { frame: Uint8Array }
/** What a delivery tells a connector with no device online, for a push event. */
export interface PushNotice { conv: string; seq: number; from: string; did: string; quiet?: boolean; muted?: boolean; mentions?: string[]; mentionAll?: true; replyFrom?: string; reaction?: DeliveredReaction }
/** A reaction (not a taking back) to `author`'s message `target`: the one member a push event tells of it. */
export interface DeliveredReaction { author: string; target: number; emoji: string }
export interface ConnectorAck { did: string; conv: string; seq: number }
export interface ConnectorRead { did: string; conv: string; seq: number }
/** `frame`: an encoded server frame, pushed as it is to every device of the user online but `except`. */
export interface ConnectorNotify { frame: Uint8Array; except?: string }
/** A change of the user's preferences for `conv` (at least one of the three); `did`: the device that asked, which gets the answer instead of an echo. */
export interface ConnectorPrefs { conv: string; did?: string; pinned?: boolean; archived?: boolean; unread?: boolean }
/**
 * A direct peer came online or went offline (`lastSeen`: when, epoch ms); `answer`: the peer's reply to our coming
 * online (not to be answered).
 */
export interface ConnectorPresence { uid: string; online: boolean; lastSeen?: number; answer?: boolean }
/** The other member of a direct conversation (`uid`) read (RECEIPT) or holds (DELIVERED) up to `seq` (their connector → ours). */
export interface ConnectorReceipt { conv: string; uid: string; seq: number }
/**
 * The user is in `conv`: `added` now (the devices are told, with the group's `title` and the `lastSeq` they join
 * at), or told again because the conversation became large or small (`lastSeq`: its last message then, when it
 * became large: the sessions are caught up past it as they take its subject, as a newcomer's are).
 */
export interface ConnectorJoined { conv: string; kind: ConvKind; large: boolean; added?: boolean; title?: string; meta?: string; lastSeq?: number; posting?: 'admins'; retention?: number; slowMode?: number; pins?: Pin[]; clearedSeq?: number }
export interface ConnectorLeft { conv: string }

/**
 * Frames for one session (connector → gateway), already encoded as client frames: the gateway writes them as
 * they are (no decode and re-encode per delivery), and a message for several devices is encoded once. `uid`
 * must match the session's user: a session id outlives nothing, but a connector may still name one of a
 * gateway's previous life.
 */
export interface GatewayPush { uid: string; frames: Uint8Array[] }
export interface GatewayClose { uid: string; code: number; reason: string }
/**
 * `after`: for a newcomer whose history starts past it, messages up to it heard on the subject (a replay) are not the
 * session's. `listed`: a newcomer's last seq as its `joined` told it, which the gateway catches the session up past
 * (ConvBinding.bind): its bind grace may end before the session takes the subject.
 */
export interface GatewayBind { uid: string; conv: string; after?: number; listed?: number }

/** The type of ConvMembersLeft: no client frame has it. */
export const CONV_MEMBERS_LEFT = 'members-left' as const;
/**
 * Published by a large conversation's chatter on its subject (im.conv.<conv>) when members leave or are removed, in
 * order with its messages: gateways stop copying the subject to those users' sessions before any later message.
 * Their connectors unbind them too, later: a connector busy with a slow read let a removed member see what followed.
 * Never passed to a client.
 */
export interface ConvMembersLeft { type: typeof CONV_MEMBERS_LEFT; uids: string[] }

/** Business events on NATS (`im.events.*`), JSON-encoded so that any language reads them; each NATS message is an array of them. */
export interface OnlineEvent { type: 'online' | 'offline'; uid: string; did: string; node: string; ts: number }
/**
 * A message for a member with no device online, for the app's push notifications: one per member and message
 * (recalls, edits and reactions excepted, but a reaction to the member's own message), from the member's connector. Not raised for large groups (their members are not
 * told one by one); best effort, and a fan-out replayed after a NATS outage may raise one twice.
 */
/**
 * `muted`: the member muted the conversation; notify quietly (a badge) or not at all. `mentioned`: the message
 * mentions the member or replies to one of theirs (apps usually notify a mention even when muted). `reaction`: message `seq` is `from`'s
 * reaction `emoji` to the member's own message `reaction.seq` (the only reactions pushed, to their author).
 */
export interface PushEvent { type: 'push'; uid: string; conv: string; seq: number; from: string; muted?: true; mentioned?: true; reaction?: { seq: number; emoji: string } }
/**
 * A message stored; `recall` / `edit` / `react`: it recalls, edits or reacts to that seq (`body` is the reaction);
 * `reply`: it answers that seq, which `replyFrom` sent.
 */
export interface MessageEvent { type: 'message'; conv: string; seq: number; prev: number; from: string; did: string; cid: number; ts: number; body: string; recall?: number; edit?: number; react?: number; was?: string; mentions?: string[]; mentionAll?: true; reply?: number; replyFrom?: string }
/**
 * A conversation's members changed (created with them, added, removed by the server API, or `by` the one member
 * who left of their own accord).
 */
export interface MembersEvent { type: 'members'; conv: string; added: string[]; removed: string[]; by?: string; ts: number }
/**
 * A member reported a message to the app's moderators: `uid`/`did` who, `from` who sent it, `body` its text as the
 * reporter was served it then (a later recall or edit does not change it), `reason` theirs, if given.
 */
export interface ReportEvent { type: 'report'; uid: string; did: string; conv: string; seq: number; from: string; body: string; reason?: string; ts: number }
/** A user's read mark moved forward (from device `did`); `unread` is what it leaves in `conv`, for push badges. */
export interface ReadEvent { type: 'read'; uid: string; did: string; conv: string; seq: number; unread: number; ts: number }
