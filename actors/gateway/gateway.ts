import type { NatsConnection, Subscription } from 'nats';
import type * as Uws from 'uWebSockets.js';
import { ChatKind, ConnectorOp } from '../../protocol/chat-ops.js';
import { CloseCode } from '../../protocol/close-codes.js';
import { BARE_PONG, decodeClientFrame, isBarePing } from '../../protocol/codec.js';
import { decodeShardsServed } from '../../protocol/control.js';
import { ErrorCode, ImError, toImError } from '../../protocol/errors.js';
import { RedirectReason, type ClientFrameOf, type ServerFrame } from '../../protocol/frames.js';
import { MAX_LIST_PAGE_BYTES, DEFAULT_LIMITS, DEFAULT_MAX_SERVER_FRAME_BYTES, IDLE_HEARTBEATS, type FrameLimits } from '../../protocol/limits.js';
import { clusterServedSubject, gatewaySubject } from '../../protocol/subjects.js';
import type { GatewayConfig } from '../../runtime/config.js';
import type { Logger } from '../../runtime/logger.js';
import type { Router } from '../../runtime/router.js';
import type { ServeHandle, Transport } from '../../runtime/transport/transport.js';
import { listenExclusive, loadUws } from '../../runtime/uws.js';
import type { Revocation } from '../../storage/revocation-store.js';
import type { ChatServices } from '../chat-services.js';
import { ClientFrames, errorFrame, idsOf } from './client-frames.js';
import { ConvBinding } from './conv-binding.js';
import { applyConnectorTell } from './connector-tells.js';
import { checkUpgrade } from './upgrade-check.js';
import { json } from './http-route.js';
import { closeLabel, GatewayStats } from './gateway-stats.js';
import { RevocationFeed } from './revocation-cache.js';
import { SignOutFeed } from './sign-out-feed.js';
import { Session, type SessionData } from './session.js';
import { checkToken } from './token-check.js';
import { redirectSessions } from './redirect-sessions.js';
import { MoveAway } from './move-away.js';
import { SessionAttacher } from './session-attacher.js';
import { ListPager } from './list-pager.js';
import { SessionWriter } from './session-writer.js';
import { overRate } from './rate-admission.js';
import { sweepSessions, SWEEP_MS } from './session-sweep.js';

/** Frames up to this many times the limit are read just to be refused with a clear error and 1009. */
const OVERSIZE_GRACE = 4;
/**
 * uWS drops every send, the close frame too, once a socket's unsent bytes pass its own limit. The session writer
 * stops a flush once they reach ours and closes the socket with 4013, so they pass ours by one frame at most: uWS's
 * limit is set that much higher, or the close frame would be dropped and the client see a bare cut (1006).
 */
const UWS_BACKPRESSURE_ROOM = DEFAULT_MAX_SERVER_FRAME_BYTES + 1024;
/**
 * uWS' own idle timeout, seconds, for a client heartbeat of `heartbeatMs`: past the sweep that closes a silent session
 * (IDLE_HEARTBEATS), so it never acts first on an open one, and at most uWS' 960. It is for sockets the gateway has
 * let go of: a socket we closed (a slow reader, a silent one) keeps its unsent bytes and its fd until they drain, and
 * uWS resets an ending socket's short kill timer to this one whenever a drain makes progress. At 0 (none), a client
 * that read a little after the close and then stopped, its TCP kept alive, held both for good, outside every limit.
 */
export function uwsIdleTimeoutSec(heartbeatMs: number): number {
  return Math.min(960, 4 * Math.ceil((Math.ceil((heartbeatMs * IDLE_HEARTBEATS) / 1000) + 8) / 4));
}

/** The smallest list page asked of a connector, whatever the slow-reader limit (a page holds one row at least anyway). */
const MIN_LIST_PAGE_BYTES = 16 * 1024;
/** After a large-group threshold change, how long a gateway waits before re-binding: every node has heard of it by then. */
export const REBIND_DELAY_MS = 1000;

export interface GatewayDeps {
  nodeId: string;
  /** The node process's incarnation (see SessionAttacherDeps.life). */
  life: string;
  nc: NatsConnection;
  router: Router;
  transport: Transport;
  svc: ChatServices;
  config: GatewayConfig;
  log: Logger;
  /** Other gateways' endpoints, best first: offered to clients this node refuses or moves. */
  otherEndpoints: () => string[];
  /** Whether the node's NATS connection is up: cut off from it, a session could neither send nor get a message. */
  natsConnected: () => boolean;
}

/**
 * The WebSocket gateway of one node (uWebSockets.js): token auth at upgrade, binary msgpack frames validated
 * on entry, per-connection rate limits, heartbeats, one corked write per socket per loop turn, slow readers
 * dropped, and the pushes connectors and large conversations send to the sessions it holds.
 */
export class Gateway {
  private readonly sessions = new Map<number, Session>();
  private readonly byDevice = new Map<string, Session>();
  /**
   * Session ids are open times in microseconds (made unique): connectors compare them to tell the newer of two
   * sessions of one device, whatever order their attaches arrive in. Gateways' clocks must agree to well
   * under the time a client takes to reconnect (NTP does).
   */
  private lastSid = 0;
  private accepting = true;
  private listenSocket: Uws.us_listen_socket | undefined;
  private readonly sweepTimer: NodeJS.Timeout;
  private readonly frames: ClientFrames;
  private readonly binding: ConvBinding;
  private readonly attacher: SessionAttacher;
  private readonly limits: FrameLimits;
  private serveHandle?: ServeHandle;
  private readonly revocations: RevocationFeed;
  private readonly signOuts: SignOutFeed;
  private shardsSub?: Subscription;
  private rebindTimer: NodeJS.Timeout | undefined;
  private readonly mover: MoveAway;
  port = 0;
  /** Counters for the node's metrics. */
  readonly stats = new GatewayStats();
  private readonly writer: SessionWriter;
  /** The secrets a token may be signed with: the current one, and the previous one during a rotation. */
  private readonly tokenSecrets: readonly string[];

  constructor(
    private readonly deps: GatewayDeps,
    readonly app: Uws.TemplatedApp,
    private readonly uws: typeof Uws,
  ) {
    this.limits = { ...DEFAULT_LIMITS, maxFrameBytes: deps.config.maxFrameBytes };
    const { tokenSecret, previousTokenSecret } = deps.config;
    this.tokenSecrets = previousTokenSecret === undefined ? [tokenSecret] : [tokenSecret, previousTokenSecret];
    this.writer = new SessionWriter(this.stats, () => deps.config.maxBackpressureBytes);
    this.mover = new MoveAway({ sessions: () => [...this.sessions.values()], otherEndpoints: deps.otherEndpoints, natsConnected: deps.natsConnected });
    const pager = new ListPager({ router: deps.router, send: this.sendFrame, maxBackpressureBytes: () => deps.config.maxBackpressureBytes });
    this.frames = new ClientFrames(deps.router, deps.svc, this.sendFrame, pager, deps.log, () => deps.config.maxBackpressureBytes);
    // A session that missed a large group's message while its subject was being taken re-syncs (ConvBinding.bind).
    this.binding = new ConvBinding(
      deps.nc,
      (s, bytes) => this.sendBytes(s, bytes),
      (conv) => deps.svc.messages.lastSeq(conv),
      (s) => void this.attacher.attach(s, false),
    );
    this.attacher = new SessionAttacher({ nodeId: deps.nodeId, life: deps.life, router: deps.router, binding: this.binding, sessions: this.sessions, send: this.sendFrame, pager, log: deps.log });
    // A session opened just before its gateway heard of a revocation is closed when it does.
    this.revocations = new RevocationFeed(deps.nc, deps.svc.revocations, (r) => this.closeRevoked(r), () => deps.config.maxTokenLifetimeSec, deps.log);
    this.signOuts = new SignOutFeed(deps.nc, () => this.sessions.values(), deps.log);
    this.sweepTimer = setInterval(() => sweepSessions(this.sessions, deps.config.heartbeatMs, this.sendFrame, this.refreshAttach), SWEEP_MS);
    this.sweepTimer.unref();
  }

  /** Builds the uWS app with the `/ws` route; `listen` opens the port. */
  static create(deps: GatewayDeps): Gateway {
    const uws = loadUws();
    const app = uws.App();
    const gw = new Gateway(deps, app, uws);
    const cfg = deps.config;
    app.ws<SessionData>('/ws', {
      compression: uws.DISABLED,
      // uWS drops a connection over this without a close code; frames between the two limits get ours (1009).
      maxPayloadLength: cfg.maxFrameBytes * OVERSIZE_GRACE,
      idleTimeout: uwsIdleTimeoutSec(cfg.heartbeatMs),
      maxBackpressure: cfg.maxBackpressureBytes + UWS_BACKPRESSURE_ROOM,
      sendPingsAutomatically: false,
      upgrade: (res, req, context) => gw.upgrade(res, req, context),
      open: (ws) => gw.open(ws),
      message: (ws, data, isBinary) => gw.message(ws, data, isBinary),
      ping: (ws) => gw.wsPing(ws),
      drain: () => undefined,
      close: (ws, code) => gw.onClose(ws, code),
    });
    return gw;
  }

  /** Opens the port, serves this node's push subject and follows connector shard moves. */
  async listen(): Promise<void> {
    const { config, nodeId, transport, nc } = this.deps;
    this.serveHandle = transport.serve(gatewaySubject(nodeId), () => Promise.reject(new ImError(ErrorCode.UNKNOWN_TYPE, 'a gateway takes tells only')), (t) => applyConnectorTell(this.sessions.get(Number(t.key)), t.op, t.payload, this.binding, this.sendBytes));
    this.shardsSub = nc.subscribe(clusterServedSubject(), {
      callback: (err, msg) => {
        if (err) return;
        const r = decodeShardsServed(msg.data);
        if (r.ok && r.value.kind === ChatKind.CONNECTOR) void this.attacher.reattachShards(new Set(r.value.shards));
      },
    });
    void this.watchNats();
    await this.revocations.start();
    this.signOuts.start();
    this.listenSocket = await listenExclusive(this.app, config.host, config.port);
    this.port = this.uws.us_socket_local_port(this.listenSocket as unknown as Uws.us_socket);
  }

  /** The server's share of send→ack, per send (see ClientFrames). */
  get sendLatency(): ClientFrames['sendLatency'] {
    return this.frames.sendLatency;
  }

  /** Open sessions. */
  get connections(): number {
    return this.sessions.size;
  }

  /** Sessions whose attach waits for its turn (see ATTACH_BUDGET). */
  get attachesQueued(): number {
    return this.attacher.queued;
  }

  /** Users with a token revocation held in memory (kept until every token it covers has expired). */
  get revokedUsers(): number {
    return this.revocations.cache.users;
  }

  /** Whether new connections are taken. */
  get isAccepting(): boolean {
    return this.accepting;
  }

  /** Stops taking connections and moves every client to other gateways in spread-out batches. */
  async drain(): Promise<void> {
    this.accepting = false;
    await redirectSessions([...this.sessions.values()], this.deps.otherEndpoints(), RedirectReason.DRAIN, 'node draining');
  }

  /**
   * Moves every client to other gateways, as a drain does, but keeps taking connections (NATS down refuses them
   * anyway): this node is cut off from NATS alone, and its sessions reach nothing here (see MoveAway).
   */
  moveAway(): Promise<void> {
    return this.mover.start();
  }

  /**
   * The large-group threshold changed: after every node has heard of it (REBIND_DELAY_MS), each session attaches
   * again with a full re-sync, which binds it to the conversations large now and unbinds it from the others.
   * Chatters send through the connectors as well meanwhile (LARGE_GROUP_CHANGE_GRACE_MS).
   */
  largeGroupChanged(): void {
    if (this.rebindTimer) clearTimeout(this.rebindTimer);
    this.rebindTimer = setTimeout(() => {
      this.rebindTimer = undefined;
      void this.attacher.reattachAll();
    }, REBIND_DELAY_MS);
  }

  /** Closes every session and the port. */
  async close(): Promise<void> {
    this.attacher.close();
    this.mover.close();
    this.accepting = false;
    clearInterval(this.sweepTimer);
    if (this.rebindTimer) clearTimeout(this.rebindTimer);
    for (const s of this.sessions.values()) s.end(CloseCode.GOING_AWAY, 'node closing');
    if (this.listenSocket) this.uws.us_listen_socket_close(this.listenSocket);
    this.listenSocket = undefined;
    this.binding.close();
    this.revocations.close();
    this.signOuts.close();
    this.shardsSub?.unsubscribe();
    await this.serveHandle?.stop(1000);
  }

  private upgrade(res: Uws.HttpResponse, req: Uws.HttpRequest, context: Uws.us_socket_context_t): void {
    const key = req.getHeader('sec-websocket-key');
    const protocol = req.getHeader('sec-websocket-protocol');
    const extensions = req.getHeader('sec-websocket-extensions');
    const { config } = this.deps;
    const v = checkUpgrade(req, {
      allowedOrigins: config.allowedOrigins,
      accepting: this.accepting,
      natsUp: this.deps.natsConnected(),
      full: this.sessions.size >= config.maxConnections,
      otherEndpoints: this.deps.otherEndpoints,
      tokenHolder: (token) => this.tokenHolder(token),
    });
    if (!('uid' in v)) {
      GatewayStats.bump(this.stats.refused, v.body.code);
      return json(res, v.status, v.body);
    }
    res.upgrade<SessionData>(v, key, protocol, extensions, context);
  }

  private open(ws: Uws.WebSocket<SessionData>): void {
    const d = ws.getUserData();
    const { config } = this.deps;
    this.lastSid = Math.max(this.lastSid + 1, Date.now() * 1000);
    const devKey = `${d.uid}\u0000${d.did}`;
    const old = this.byDevice.get(devKey);
    const s = new Session(this.lastSid, ws, d.uid, d.did, d.exp, d.iat, { perSec: config.ratePerSec, burst: config.rateBurst }, old?.limiter);
    d.session = s;
    // A page at most an eighth of the slow-reader limit: the list's pages and a `sync`'s may be in flight at once.
    if (d.pages) s.listPageBytes = Math.max(MIN_LIST_PAGE_BYTES, Math.min(MAX_LIST_PAGE_BYTES, Math.floor(config.maxBackpressureBytes / 8)));
    this.stats.opened++;
    this.sessions.set(s.sid, s);
    old?.end(CloseCode.REPLACED, 'a newer connection of this device took over');
    this.byDevice.set(devKey, s);
    this.send(s, { type: 'welcome', uid: s.uid, did: s.did, node: this.deps.nodeId, heartbeatMs: config.heartbeatMs, maxFrameBytes: config.maxFrameBytes, rate: config.ratePerSec, burst: config.rateBurst });
    void this.attacher.attach(s, false);
  }

  private message(ws: Uws.WebSocket<SessionData>, data: ArrayBuffer, isBinary: boolean): void {
    const s = ws.getUserData().session;
    if (!s || s.state !== 'open') return;
    this.stats.framesIn++;
    const now = Date.now();
    s.lastHeard = now;
    if (!isBinary) {
      this.send(s, errorFrame(new ImError(ErrorCode.BAD_FRAME, 'text messages are refused: send binary msgpack frames')));
      return s.end(CloseCode.BAD_FRAME, 'text message');
    }
    if (overRate(s, now, this.deps.config, this.sendFrame)) return;
    if (data.byteLength > this.limits.maxFrameBytes) {
      this.send(s, errorFrame(new ImError(ErrorCode.FRAME_TOO_LARGE, `a frame of ${data.byteLength} bytes is over the ${this.limits.maxFrameBytes}-byte limit`)));
      return s.end(CloseCode.TOO_BIG, 'frame too large');
    }
    const bytes = new Uint8Array(data);
    if (isBarePing(bytes)) return this.sendBytes(s, BARE_PONG);
    const r = decodeClientFrame(bytes, this.limits);
    if (!r.ok) {
      this.send(s, errorFrame(r.error, r.error.code === ErrorCode.BAD_FRAME ? {} : idsOf(data)));
      if (r.error.code === ErrorCode.BAD_FRAME) s.end(CloseCode.BAD_FRAME, 'undecodable frame');
      return;
    }
    if (r.value.type === 'refresh') return this.refreshToken(s, r.value);
    this.frames.handle(s, r.value);
  }

  /**
   * A WebSocket PING, which uWS has answered already: it counts against the rate limit as a frame does, and its PONG
   * against the slow-reader limit, or a client sending PINGs and reading nothing would have the gateway buffer PONGs
   * past both (up to uWS' own limit, 16 MiB over ours).
   */
  private wsPing(ws: Uws.WebSocket<SessionData>): void {
    const s = ws.getUserData().session;
    if (!s || s.state !== 'open') return;
    const now = Date.now();
    // A frame like any other (§6): a native client may keep its connection alive with PINGs alone.
    s.lastHeard = now;
    if (overRate(s, now, this.deps.config, this.sendFrame)) return;
    if (ws.getBufferedAmount() >= this.deps.config.maxBackpressureBytes) s.end(CloseCode.SLOW_CONSUMER, 'too slow to read');
  }

  /**
   * Takes a new token for an open session, checked as at the upgrade and required to name the same user and
   * device: the session then lasts until its expiry, without the reconnect (and the re-attach and re-sync) that a
   * close with 4001 costs. A refused token leaves the session as it was.
   */
  private refreshToken(s: Session, f: ClientFrameOf<'refresh'>): void {
    const r = this.tokenHolder(f.token);
    if (!r.ok) return this.send(s, errorFrame(r.error, { rid: f.rid }));
    const { uid, did, exp, iat } = r.value;
    if (uid !== s.uid || did !== s.did) return this.send(s, errorFrame(new ImError(ErrorCode.UNAUTHORIZED, `the token is for ${uid}/${did}, this session for ${s.uid}/${s.did}`), { rid: f.rid }));
    s.exp = exp;
    s.iat = iat;
    this.send(s, { type: 'refreshed', rid: f.rid, exp });
  }

  private tokenHolder(token: unknown): ReturnType<typeof checkToken> {
    return checkToken(token, this.tokenSecrets, this.deps.config.maxTokenLifetimeSec, this.revocations.cache);
  }

  private onClose(ws: Uws.WebSocket<SessionData>, code: number): void {
    GatewayStats.bump(this.stats.closes, closeLabel(code));
    const s = ws.getUserData().session;
    if (!s) return;
    s.closed();
    this.sessions.delete(s.sid);
    const devKey = `${s.uid}\u0000${s.did}`;
    if (this.byDevice.get(devKey) === s) this.byDevice.delete(devKey);
    this.binding.drop(s);
    this.deps.router.tell(ChatKind.CONNECTOR, s.uid, ConnectorOp.DETACH, { did: s.did, sid: s.sid });
  }

  /**
   * Re-states the sessions of connector shards the directory saw change owner or epoch. Usually the new owner's
   * announcement got there first and these are cheap refreshes; when it was missed, they are full attaches.
   */
  restateShards(shards: number[]): void {
    void this.attacher.reattachShards(new Set(shards), true);
  }

  /**
   * The node's lease ran out and runs again: other nodes may have taken this gateway for dead meanwhile, and their
   * connectors forgotten its sessions (GatewayWatch), so every session attaches again and catches up.
   */
  leaseRegained(): void {
    this.attacher.leaseRegained();
  }

  /** After NATS reconnects, pushes may have been lost: every session re-attaches and catches up. */
  private async watchNats(): Promise<void> {
    for await (const st of this.deps.nc.status()) {
      if (st.type !== 'reconnect') continue;
      void this.attacher.reattachAll();
      this.revocations.catchUp();
    }
  }

  /** Closes the user's sessions whose tokens the revocations now cover (the feed applied `r` before calling). */
  private closeRevoked(r: Revocation): void {
    for (const s of this.sessions.values()) {
      if (s.uid === r.uid && this.revocations.cache.covers(s.uid, s.did, s.iat)) s.end(CloseCode.SIGNED_OUT, 'signed out');
    }
  }

  private send(s: Session, f: ServerFrame): void {
    this.writer.send(s, f);
  }

  /** A field, not a method: every pushed frame of a connector's tell goes through it, with no closure per tell. */
  private readonly sendBytes = (s: Session, bytes: Uint8Array): void => this.writer.sendBytes(s, bytes);
  /** `send` as a field: handed to the pager, the frame handler, the attacher, the rate check and the sweep. */
  private readonly sendFrame = (s: Session, f: ServerFrame): void => this.send(s, f);
  /** Refreshes a session's attach (its connector's record of it); the sweep's. */
  private readonly refreshAttach = (s: Session): void => void this.attacher.attach(s, true);
}
