import { randomInt } from 'node:crypto';
import type * as Uws from 'uWebSockets.js';
import {
  ChatKind,
  ChatterOp,
  ConnectorOp,
  type ChatterCreate,
  type ChatterMembers,
  type ChatterRoles,
  type ChatterSystem,
  type ConnectorDisconnect,
  type CreateReply,
  type DissolveReply,
  type DevicesReply,
  type DisconnectReply,
  type MembersReply,
  type MuteReply,
  type RulesReply,
  type RolesReply,
  type SilenceReply,
  type PinReply,
  type SendReply,
  type TitleReply,
} from '../../protocol/chat-ops.js';
import { ErrorCode, ImError } from '../../protocol/errors.js';
import { signToken } from '../../protocol/token.js';
import type { GatewayConfig } from '../../runtime/config.js';
import type { Logger } from '../../runtime/logger.js';
import type { NodeMetrics } from '../../runtime/metrics.js';
import type { Router } from '../../runtime/router.js';
import type { BlockStore } from '../../storage/block-store.js';
import type { UserSettings, UserSettingsStore } from '../../storage/user-settings-store.js';
import type { PresenceStore } from '../../storage/presence-store.js';
import type { HiddenMessageStore } from '../../storage/hidden-message-store.js';
import type { PinnedMessageStore } from '../../storage/pinned-message-store.js';
import type { MemberPrefsStore } from '../../storage/member-prefs-store.js';
import { directConversationId, newGroupConvId, type ConversationStore } from '../../storage/conversation-store.js';
import type { MessageStore } from '../../storage/message-store.js';
import { DEFAULT_MAX_PULL_LIMIT, MAX_REACTION_BYTES } from '../../protocol/limits.js';
import type { ErasureReport } from '../account-erasure.js';
import type { BusinessEvent } from '../event-publisher.js';
import { convSummaryOf } from '../conv-state.js';
import { clearHistory, hideMessages, setMemberPrefs } from '../member-prefs.js';
import { SYSTEM_DEVICE } from '../../protocol/token.js';
import { toMsg } from '../stored-msg.js';
import { createDirectConversation } from '../direct-create.js';
import { bad, intParam, json, route, served, str, strings, unrouted } from './http-route.js';
import { checkChatterMembers, checkChatterMute, checkChatterPin, checkChatterRules, checkChatterSilence, checkClearSeq, checkChatterSystem, checkChatterTitle, checkDisconnect, checkPrefsChange, checkRoles, checkConvId, checkUid, MAX_SYSTEM_KEY } from '../op-checks.js';

/** Longest token a development mint gives out. */
const MAX_DEV_TOKEN_TTL_SEC = 7 * 24 * 3600;
/** A development token's life unless `ttlSec` says otherwise (or the cluster allows less). */
const DEFAULT_DEV_TOKEN_TTL_SEC = 3600;


export interface HttpApiDeps {
  app: Uws.TemplatedApp;
  router: Router;
  convs: ConversationStore;
  messages: MessageStore;
  blocks: BlockStore;
  userSettings: UserSettingsStore;
  presence: PresenceStore;
  prefs: MemberPrefsStore;
  hidden: HiddenMessageStore;
  pins: PinnedMessageStore;
  /** Erases a user's account (see eraseAccount). */
  eraseUser: (uid: string, blankMessages: boolean) => Promise<ErasureReport>;
  /** Voids tokens (stored, and told to every gateway). */
  revokeTokens: (uid: string, did: string | undefined, beforeMs: number) => Promise<void>;
  /** Closes, on every gateway, the sessions of `uid` (one device, or all) it holds. */
  signOut: (uid: string, did: string | undefined, reason: string | undefined) => Promise<void>;
  config: GatewayConfig;
  log: Logger;
  nodeId: string;
  /** Gateway endpoints for a user, best first (the dispatcher's answer). */
  endpointsFor: (uid: string) => Promise<string[]>;
  /** `ok` says whether the node takes clients now (200), or not (503). */
  health: () => { ok: boolean } & Record<string, unknown>;
  metrics: NodeMetrics;
  /** A conversation's retention changed: the node's retention sweep starts a pass. */
  retentionChanged?: () => void;
  /** Raises a business event (what the API itself changes without a chatter: a direct conversation's creation). */
  event: (e: BusinessEvent) => void;
}


/** Users one `POST /v1/presence` may ask about. */
const MAX_PRESENCE_UIDS = 500;

/** Asks the user's connector which of their devices are connected, and where. */
async function presenceOf(router: Router, uid: string): Promise<{ uid: string; online: boolean; devices: DevicesReply['devices'] }> {
  const { devices } = (await router.call(ChatKind.CONNECTOR, uid, ConnectorOp.DEVICES, {})) as DevicesReply;
  return { uid, online: devices.length > 0, devices };
}

/** Presence of each of `uids`, with when each was last online (`lastSeen`, epoch ms) where that was ever recorded. */
async function presenceOfMany(d: HttpApiDeps, uids: string[]): Promise<{ uid: string; online: boolean; devices: DevicesReply['devices']; lastSeen?: number }[]> {
  // One call per user; the transport coalesces those bound for one connector shard into one NATS request.
  const [now, seen] = await Promise.all([Promise.all(uids.map((u) => presenceOf(d.router, u))), d.presence.lastSeen(uids)]);
  return now.map((p) => (seen.has(p.uid) ? { ...p, lastSeen: seen.get(p.uid)! } : p));
}

/**
 * Puts a change of `uid`'s blocks in force: the direct conversations with `others` that exist read it again before
 * the answer (so no send is taken after a 200), and both sides' connectors are told (presence, receipts).
 */
async function applyBlocks(d: HttpApiDeps, uid: string, others: string[]): Promise<void> {
  // The user's own connector is told whatever else fails: the change is stored.
  d.router.tell(ChatKind.CONNECTOR, uid, ConnectorOp.PRIVACY, {});
  const done = await Promise.allSettled(
    others.map(async (other) => {
      d.router.tell(ChatKind.CONNECTOR, other, ConnectorOp.PRIVACY, {});
      const conv = directConversationId(uid, other);
      if (await d.convs.get(conv)) await d.router.call(ChatKind.CHATTER, conv, ChatterOp.BLOCKS, {});
    }),
  );
  const failed = done.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  // Sending the same change again is harmless and puts it in force where this did not reach.
  if (failed) throw new ImError(ErrorCode.UNAVAILABLE, 'the blocks are stored, but not yet in force in every conversation: send the same change again', { cause: failed.reason });
}

/** Messages in one page of `GET /v1/conversations/:conv/messages` unless `limit` says otherwise. */
const DEFAULT_API_PAGE = 100;
/** Members in one page of `GET /v1/conversations/:conv` unless `limit` says otherwise, and the most one may hold. */
const DEFAULT_API_MEMBERS_PAGE = 1_000;
const MAX_API_MEMBERS_PAGE = 10_000;


/**
 * The HTTP side of a node, on the gateway's port: the server API for the business server (bearer server
 * key), the dispatcher (`GET /v1/endpoints`), development tokens, a health check and Prometheus metrics (server key). Every answer is JSON;
 * every failure is a status with `{code, message}`.
 */
export function mountHttpApi(d: HttpApiDeps): void {
  const { app } = d;
  const healthStatus = (h: Record<string, unknown>): string => (h['ok'] === true ? '200 OK' : '503 Service Unavailable');
  served(app, 'get', '/healthz');
  app.get('/healthz', (res) => {
    const h = d.health();
    json(res, healthStatus(h), h);
  });
  // Uptime monitors often check with HEAD: the same status, no body.
  served(app, 'head', '/healthz');
  app.head('/healthz', (res) => {
    res.writeStatus(healthStatus(d.health())).writeHeader('content-type', 'application/json').endWithoutBody();
  });
  route(d, 'get', '/metrics', true, async () => ['200 OK', await d.metrics.text(), d.metrics.contentType]);
  route(d, 'get', '/v1/endpoints', false, async (_b, _p, q) => ['200 OK', { endpoints: await d.endpointsFor(str(q.get('uid'), 'uid')) }]);
  route(d, 'post', '/v1/tokens', true, async (b) => {
    if (!d.config.devTokens) throw new ImError(ErrorCode.NOT_FOUND, 'token minting is off (start the node with --dev-tokens); your business server signs tokens');
    const maxTtl = Math.min(MAX_DEV_TOKEN_TTL_SEC, d.config.maxTokenLifetimeSec);
    // Capped, or a cluster with a short `max-token-lifetime` would refuse every mint that names no ttlSec.
    const ttl = b['ttlSec'] === undefined ? Math.min(DEFAULT_DEV_TOKEN_TTL_SEC, maxTtl) : b['ttlSec'];
    if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < 1 || ttl > maxTtl) throw bad(`ttlSec must be an integer from 1 to ${maxTtl}`);
    return ['200 OK', { token: signToken({ sub: str(b['uid'], 'uid'), did: str(b['did'], 'did'), ttlSec: ttl }, d.config.tokenSecret) }];
  });
  route(d, 'post', '/v1/conversations', true, async (b) => {
    if (b['kind'] === 'direct') {
      const [a, x] = strings(b['members'], 'members');
      if (a === undefined || x === undefined || (b['members'] as unknown[]).length !== 2) throw bad('a direct conversation has exactly two members');
      return ['201 Created', await createDirectConversation(d, a, x)];
    }
    if (b['kind'] !== 'group') throw bad('kind must be "direct" or "group"');
    const p: ChatterCreate = { owner: str(b['owner'], 'owner') };
    const conv = b['conv'] === undefined ? newGroupConvId() : checkConvId(b['conv']);
    if (b['title'] !== undefined) p.title = str(b['title'], 'title');
    if (b['meta'] !== undefined && b['meta'] !== null) p.meta = str(b['meta'], 'meta');
    if (b['members'] !== undefined) p.members = strings(b['members'], 'members');
    if (b['posting'] !== undefined || b['retention'] !== undefined || b['history'] !== undefined || b['slowMode'] !== undefined) Object.assign(p, checkChatterRules(b));
    // Through the conversation's chatter: it tells the members' connectors, so members online hear of it at once.
    const r = (await d.router.call(ChatKind.CHATTER, conv, ChatterOp.CREATE, p)) as CreateReply;
    return ['201 Created', r];
  });
  route(d, 'get', '/v1/conversations/:conv', true, async (_b, [conv], q) => {
    // Paged: a group may have 100,000 members, too many for one answer or one statement's deadline.
    const limit = intParam(q, 'limit', DEFAULT_API_MEMBERS_PAGE, 1, MAX_API_MEMBERS_PAGE);
    const after = q.has('after') ? checkUid(q.get('after') ?? '') : '';
    const [c, rows, pins] = await Promise.all([d.convs.get(conv!), d.convs.members(conv!, { after, limit: limit + 1 }), d.pins.list(conv!)]);
    if (!c) throw new ImError(ErrorCode.NOT_FOUND, `no conversation ${conv}`);
    return ['200 OK', { conv: c.convId, kind: c.kind, title: c.title, meta: c.meta, posting: c.posting, retention: c.retentionSec, history: c.history, slowMode: c.slowModeSec, createdAt: c.createdAt, ...(c.dissolvedAt !== undefined && { dissolvedAt: c.dissolvedAt }), pins, members: rows.slice(0, limit).map(({ clearedSeq: _cleared, ...m }) => m), more: rows.length > limit }];
  });
  route(d, 'post', '/v1/conversations/:conv', true, async (b, [conv]) => {
    // Through the chatter: the members online see a new title, data or rule at once. Everything is checked first.
    const profile = b['title'] === undefined && b['meta'] === undefined ? undefined : checkChatterTitle(b);
    const rules = b['posting'] === undefined && b['retention'] === undefined && b['history'] === undefined && b['slowMode'] === undefined ? undefined : checkChatterRules(b);
    if (profile === undefined && rules === undefined) throw bad('title, meta, posting, retention, history or slowMode is required');
    let out: Record<string, unknown> = { conv: conv! };
    if (profile) out = { ...out, ...((await d.router.call(ChatKind.CHATTER, conv!, ChatterOp.TITLE, profile)) as TitleReply) };
    if (rules) out = { ...out, ...((await d.router.call(ChatKind.CHATTER, conv!, ChatterOp.RULES, rules)) as RulesReply) };
    // This node's sweep goes over the conversations at once, not at its next pass.
    if (rules?.retention !== undefined) d.retentionChanged?.();
    return ['200 OK', out];
  });
  route(d, 'get', '/v1/conversations/:conv/messages', true, async (_b, [conv], q) => {
    const limit = intParam(q, 'limit', DEFAULT_API_PAGE, 1, DEFAULT_MAX_PULL_LIMIT);
    const before = q.has('before');
    if (before && q.has('after')) throw bad('give after or before, not both');
    // One more than asked (ascending either way) tells whether there is more: older ones before, newer ones after.
    const rows = before
      ? await d.messages.readBefore(conv!, intParam(q, 'before', 0, 1, Number.MAX_SAFE_INTEGER), limit + 1)
      : await d.messages.readAfter(conv!, intParam(q, 'after', 0, 0, Number.MAX_SAFE_INTEGER), limit + 1);
    const page = await d.messages.withReactions(before ? rows.slice(-limit) : rows.slice(0, limit));
    return ['200 OK', { conv, messages: page.map(toMsg), more: rows.length > limit }];
  });
  route(d, 'get', '/v1/conversations/:conv/messages/:seq/reactions', true, async (_b, [conv, seq], q) => {
    const target = intParam(new URLSearchParams({ seq: seq! }), 'seq', 0, 1, Number.MAX_SAFE_INTEGER);
    const limit = intParam(q, 'limit', DEFAULT_API_PAGE, 1, DEFAULT_MAX_PULL_LIMIT);
    const emoji = q.get('emoji') ?? undefined;
    if (emoji !== undefined && (emoji === '' || Buffer.byteLength(emoji) > MAX_REACTION_BYTES)) throw bad(`emoji must be 1 to ${MAX_REACTION_BYTES} bytes`);
    if (emoji?.includes('\u0000')) throw bad('emoji must not contain NUL characters');
    // Who reacted, by uid: one more than asked tells whether there is more.
    const after = q.get('after') ?? undefined;
    const rows = await d.messages.reactors(conv!, target, limit + 1, after === undefined ? undefined : checkUid(after), emoji);
    return ['200 OK', { conv, seq: target, reactors: rows.slice(0, limit), more: rows.length > limit }];
  });
  route(d, 'post', '/v1/conversations/:conv/members', true, async (b, [conv]) => {
    const p: ChatterMembers = checkChatterMembers(b);
    const r = (await d.router.call(ChatKind.CHATTER, conv!, ChatterOp.MEMBERS, p)) as MembersReply;
    return ['200 OK', r];
  });
  route(d, 'post', '/v1/conversations/:conv/dissolve', true, async (_b, [conv]) => {
    // Through the chatter: every member is removed and told; the group takes nothing more.
    return ['200 OK', (await d.router.call(ChatKind.CHATTER, conv!, ChatterOp.DISSOLVE, {})) as DissolveReply];
  });
  route(d, 'post', '/v1/conversations/:conv/pins', true, async (b, [conv]) => {
    // Through the chatter, as a member's pin: the members online are told at once. Pinned unless `pinned` is false.
    const pin = checkChatterPin({ seq: b['seq'], pinned: b['pinned'] === undefined ? true : b['pinned'], by: b['by'] });
    return ['200 OK', (await d.router.call(ChatKind.CHATTER, conv!, ChatterOp.PIN, pin)) as PinReply];
  });
  route(d, 'post', '/v1/conversations/:conv/silence', true, async (b, [conv]) => {
    // Through the chatter: the members' next sends are refused, and their devices told, at once.
    return ['200 OK', (await d.router.call(ChatKind.CHATTER, conv!, ChatterOp.SILENCE, checkChatterSilence(b))) as SilenceReply];
  });
  route(d, 'post', '/v1/conversations/:conv/roles', true, async (b, [conv]) => {
    // Stored and shown, not enforced here: every membership change comes through this API, i.e. the business server.
    // Through the chatter: the members online see the new roles at once.
    return ['200 OK', (await d.router.call(ChatKind.CHATTER, conv!, ChatterOp.ROLES, { roles: checkRoles(b) } satisfies ChatterRoles)) as RolesReply];
  });
  route(d, 'post', '/v1/conversations/:conv/messages', true, async (b, [conv]) => {
    const p: ChatterSystem = checkChatterSystem(b);
    // Without a key of the caller's, one per request: should the call run twice inside the cluster, it is stored once.
    p.key ??= randomInt(1, MAX_SYSTEM_KEY);
    const r = (await d.router.call(ChatKind.CHATTER, conv!, ChatterOp.SYSTEM, p)) as SendReply;
    return ['201 Created', r.replyFrom === undefined ? { conv, seq: r.seq, ts: r.ts } : { conv, seq: r.seq, ts: r.ts, reply: p.reply, replyFrom: r.replyFrom }];
  });
  route(d, 'post', '/v1/conversations/:conv/messages/:seq/recall', true, async (b, [conv, seq]) => {
    // Moderation: any message, at any age. The recall is a message of its own (`recall` names the one it takes back).
    const p: ChatterSystem = checkChatterSystem({ ...b, recall: /^\d{1,15}$/.test(seq!) ? Number(seq) : seq });
    p.key ??= randomInt(1, MAX_SYSTEM_KEY);
    const r = (await d.router.call(ChatKind.CHATTER, conv!, ChatterOp.SYSTEM, p)) as SendReply;
    return ['201 Created', { conv, seq: r.seq, ts: r.ts, recall: p.recall }];
  });
  route(d, 'post', '/v1/users/:uid/disconnect', true, async (b, [uid]) => {
    const user = checkUid(uid);
    // `erase` is account erasure's own flag to the connector (it forgets the last seen): erasure is the erase route.
    if (b['erase'] !== undefined) throw bad('erase is not a disconnect field: POST /v1/users/:uid/erase erases an account');
    const p: ConnectorDisconnect = checkDisconnect(b);
    const r = (await d.router.call(ChatKind.CONNECTOR, user, ConnectorOp.DISCONNECT, p)) as DisconnectReply;
    // After the connector closed the sessions it knew (so the answer names them): every gateway then refuses the
    // tokens and closes any session that came back with one meanwhile. Without `revoke`, every gateway closes the
    // sessions of the user it still holds: a connector that just moved did not know them yet.
    if (p.revoke) await d.revokeTokens(user, p.did, Date.now());
    else await d.signOut(user, p.did, p.reason);
    return ['200 OK', r];
  });
  route(d, 'post', '/v1/users/:uid/erase', true, async (b, [uid]) => {
    const user = checkUid(uid);
    if (b['messages'] !== undefined && b['messages'] !== 'keep' && b['messages'] !== 'blank') throw bad('messages must be "keep" or "blank"');
    return ['200 OK', await d.eraseUser(user, b['messages'] === 'blank')];
  });
  route(d, 'get', '/v1/users/:uid/conversations', true, async (_b, [uid]) => {
    const user = checkUid(uid);
    const list = await d.convs.userConversations(user);
    const now = Date.now();
    // The rows devices get, with the member count (the business server sees across blocks).
    const conversations = list.map((c) => ({ ...convSummaryOf(c, now), members: c.memberCount }));
    // The total is what a push notification's badge shows.
    return ['200 OK', { uid: user, unread: conversations.reduce((n, c) => n + c.unread, 0), mentions: conversations.reduce((n, c) => n + (c.mentions ?? 0), 0), conversations }];
  });
  route(d, 'post', '/v1/users/:uid/conversations/:conv/mute', true, async (b, [uid, conv]) => {
    // Through the chatter, as a device's `mute`: it marks what it fans out, and the user's devices are told.
    const r = (await d.router.call(ChatKind.CHATTER, conv!, ChatterOp.MUTE, checkChatterMute({ uid, until: b['until'] }))) as MuteReply;
    return ['200 OK', { uid, conv, until: r.until }];
  });
  route(d, 'post', '/v1/users/:uid/conversations/:conv/prefs', true, async (b, [uid, conv]) => {
    // A device's `prefs` for the user, e.g. the business server pinning its support chat: all their devices are told.
    return ['200 OK', { uid, conv, ...(await setMemberPrefs(d.router, checkUid(uid), conv!, checkPrefsChange(b))) }];
  });
  route(d, 'post', '/v1/users/:uid/conversations/:conv/clear', true, async (b, [uid, conv]) => {
    // A device's `clear` for the user (e.g. a "clear chat" in the app's web account page): all their devices are told.
    return ['200 OK', { uid, conv, clearedSeq: await clearHistory(d.prefs, d.router, checkUid(uid), conv!, checkClearSeq(b), SYSTEM_DEVICE) }];
  });
  route(d, 'post', '/v1/users/:uid/conversations/:conv/hide', true, async (b, [uid, conv]) => {
    // A device's `hide` for the user ("delete for me", e.g. from the app's web account page): all their devices are told.
    return ['200 OK', { uid, conv, seqs: (await hideMessages(d.hidden, d.router, checkUid(uid), conv!, b['seqs'] as number[])).seqs }];
  });
  route(d, 'post', '/v1/users/:uid/blocks', true, async (b, [uid]) => {
    const user = checkUid(uid);
    const add = b['add'] === undefined ? [] : strings(b['add'], 'add');
    const remove = b['remove'] === undefined ? [] : strings(b['remove'], 'remove');
    const blocked = await d.blocks.change(user, add, remove);
    await applyBlocks(d, user, [...new Set([...add, ...remove])]);
    return ['200 OK', { uid: user, blocked }];
  });
  route(d, 'get', '/v1/users/:uid/blocks', true, async (_b, [uid]) => {
    const user = checkUid(uid);
    return ['200 OK', { uid: user, blocked: await d.blocks.blockedBy(user) }];
  });
  route(d, 'post', '/v1/users/:uid/settings', true, async (b, [uid]) => {
    const user = checkUid(uid);
    const change: Partial<UserSettings> = {};
    for (const key of ['readReceipts', 'lastSeen'] as const) {
      if (b[key] === undefined) continue;
      if (typeof b[key] !== 'boolean') throw bad(`${key} must be true or false`);
      change[key] = b[key];
    }
    const settings = await d.userSettings.set(user, change);
    d.router.tell(ChatKind.CONNECTOR, user, ConnectorOp.PRIVACY, {});
    return ['200 OK', { uid: user, ...settings }];
  });
  route(d, 'get', '/v1/users/:uid/settings', true, async (_b, [uid]) => {
    const user = checkUid(uid);
    return ['200 OK', { uid: user, ...(await d.userSettings.get(user)) }];
  });
  route(d, 'get', '/v1/users/:uid/presence', true, async (_b, [uid]) => ['200 OK', (await presenceOfMany(d, [checkUid(uid)]))[0]!]);
  route(d, 'post', '/v1/presence', true, async (b) => {
    const uids = strings(b['uids'], 'uids').map(checkUid);
    if (uids.length > MAX_PRESENCE_UIDS) throw bad(`uids may name at most ${MAX_PRESENCE_UIDS} users`);
    return ['200 OK', { presence: await presenceOfMany(d, [...new Set(uids)]) }];
  });
  app.any('/*', (res, req) => unrouted(app, res, req));
}
