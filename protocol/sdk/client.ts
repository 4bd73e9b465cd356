import { CloseCode } from '../close-codes.js';
import { decodeServerFrame, isUnknownFrameType } from '../codec.js';
import { ErrorCode, ImError, toImError } from '../errors.js';
import type { ClientFrame, WelcomeFrame } from '../frames.js';
import { Backoff } from './backoff.js';
import { afterClose, attemptFailed, DEFAULT_REDIRECT_CLOSE_WAIT_MS } from './close-policy.js';
import { ConnectionState, type ImClientEvents, type ImClientOptions, type StateChange } from './client-types.js';
import { ConversationChains, type ConversationInfo } from './conversation-chain.js';
import { ConversationRequests } from './conversation-requests.js';
import { Connection } from './connection.js';
import { EndpointList } from './endpoint-list.js';
import { TypedEmitter } from './events.js';
import { InboundFrames } from './inbound-frames.js';
import { OutboundQueue } from './outbound-queue.js';
import type { SendExtras, SendResult } from './send-entry.js';
import { PendingReads } from './pending-reads.js';
import { DEFAULT_REQUEST_TIMEOUT_MS, deferred, PendingRequests, settledWithin, type Deferred } from './pending-requests.js';
import { messageBytes, webSocketOf, urlWithToken, type WebSocketConstructor } from './socket.js';
import { TokenRefresher } from './token-refresher.js';
import { TokenSource } from './token-source.js';
import { TypingThrottle } from './typing-throttle.js';

/**
 * The natsim client: one WebSocket with reconnects, an outbound queue that survives them, and in-order,
 * exactly-once delivery with gap repair (protocol/README.md §7).
 */
export class ImClient extends ConversationRequests {
  private readonly events = new TypedEmitter<ImClientEvents>();
  private readonly opts: ImClientOptions;
  private readonly WS: WebSocketConstructor;
  private readonly requestTimeoutMs: number;
  private readonly backoff: Backoff;
  private readonly endpoints: EndpointList;
  private readonly requests: PendingRequests;
  private readonly outbound: OutboundQueue;
  private readonly chains: ConversationChains;
  private readonly inbound: InboundFrames;
  private readonly pendingReads = new PendingReads();
  private readonly typingThrottle = new TypingThrottle();
  private current: ConnectionState | 'idle' = 'idle';
  /** The socket of the current attempt (none between attempts). */
  private conn: Connection | undefined;
  private everWelcomed = false;
  /** A conversation list has been applied since the first `welcome`: what `connect()` waits for. */
  private everSynced = false;
  private session: WelcomeFrame | undefined;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  /** Bumped by every attempt and by close(): an async step of an older attempt sees it changed and stops. */
  private generation = 0;
  private readonly token: TokenSource;
  private readonly refresher: TokenRefresher;
  private waiter: Deferred<void> | undefined;

  constructor(opts: ImClientOptions) {
    super();
    this.opts = opts;
    this.token = new TokenSource(opts.token);
    this.refresher = new TokenRefresher({
      token: this.token,
      refresh: (token) => this.request('refresh', (rid) => ({ type: 'refresh', rid, token })),
      random: opts.random ?? Math.random,
      onError: (error) => this.events.emit('error', error),
    });
    this.WS = webSocketOf(opts.WebSocket);
    this.requestTimeoutMs = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    const random = opts.random ?? Math.random;
    this.backoff = new Backoff({ ...opts.reconnect, random });
    const fixed = opts.endpoints ?? (opts.url === undefined ? undefined : [opts.url]);
    this.endpoints = new EndpointList({ endpoints: fixed, dispatcherUrl: opts.dispatcherUrl, uid: opts.uid, fetch: opts.fetch, timeoutMs: this.requestTimeoutMs });
    this.requests = new PendingRequests(this.requestTimeoutMs);
    this.outbound = new OutboundQueue({
      transmit: (frame) => this.transmit(frame),
      cidStart: opts.cidStart,
      maxQueue: opts.maxQueue,
      sendRetryMs: opts.sendRetryMs,
      random,
      onSent: (r, detail) => {
        if (this.session !== undefined) this.chains.handleOwnSent(r, { uid: this.session.uid, did: this.session.did, ...detail });
        this.events.emit('sent', r);
      },
      onFailed: (f) => this.events.emit('sendFailed', f),
      onExpired: (f) => this.events.emit('sendExpired', f),
      onRetry: (f) => this.events.emit('sendRetry', f),
      outbox: opts.outbox,
      // Later: a store whose load throws at once does so inside this constructor, before the app could listen.
      onOutboxError: (e) => void Promise.resolve().then(() => this.events.emit('error', e)),
    });
    this.chains = new ConversationChains({
      deliver: (msg) => this.events.emit('message', msg),
      pull: (conv, after, limit) => this.pull(conv, after, limit),
      hides: (conv) => this.hiddenMessages(conv),
      ack: (conv, seq) => this.transmit({ type: 'ack', conv, seq }),
      reread: (conv, seq) => this.sendRead(conv, seq),
      isOpen: () => this.welcomed,
      history: opts.history,
      ackDelayMs: opts.ackDelayMs,
      onPullError: (_conv, error) => this.events.emit('error', error),
    });
    this.inbound = new InboundFrames({
      events: this.events,
      requests: this.requests,
      chains: this.chains,
      outbound: this.outbound,
      onSynced: () => {
        this.everSynced = true;
        // After the list: its baselines are in place before anyone awaiting connect() acts.
        this.waiter?.resolve();
      },
      // The mark as it stands then (a read is idempotent: one re-sent after a refused ack changes nothing).
      onConvRefused: (conv, waitMs) => this.pendingReads.retry(conv, (c) => {
        const readSeq = this.chains.get(c)?.readSeq ?? 0;
        if (readSeq > 0) this.sendRead(c, readSeq);
      }, waitMs),
    });
  }

  /** Subscribes to an event; returns the unsubscribe function. */
  on<K extends keyof ImClientEvents>(event: K, fn: (payload: ImClientEvents[K]) => void): () => void {
    return this.events.on(event, fn);
  }

  /** Unsubscribes a listener. */
  off<K extends keyof ImClientEvents>(event: K, fn: (payload: ImClientEvents[K]) => void): void {
    this.events.off(event, fn);
  }

  /** The connection state (`idle` before the first `connect()`). */
  get state(): ConnectionState | 'idle' {
    return this.current;
  }

  /** The last `welcome` (user, device, node), once connected. */
  get welcome(): WelcomeFrame | undefined {
    return this.session;
  }

  /** Number of sends waiting for their `sent`. */
  get queuedSends(): number {
    return this.outbound.size;
  }

  /**
   * Starts connecting (and reconnecting); resolves once the first conversation list after `welcome` is applied,
   * so `conversations()` is complete and every message from then on arrives; rejects only if closed before it.
   */
  connect(): Promise<void> {
    if (this.current === ConnectionState.CLOSED) return Promise.reject(new ImError(ErrorCode.CLOSED, 'client closed'));
    if (this.waiter === undefined) {
      this.waiter = deferred<void>();
      if (this.everSynced) this.waiter.resolve();
    }
    if (this.current === 'idle') {
      this.setState(ConnectionState.CONNECTING);
      void this.attempt();
    }
    return this.waiter.promise;
  }

  /** Marks `conv` read up to `seq` (sent now, or at the next connect; a read mark never moves back). */
  read(conv: string, seq: number): void {
    if (this.current === ConnectionState.CLOSED) return;
    this.chains.handleRead(conv, seq);
    this.sendRead(conv, seq);
  }

  /** Queues a read mark and sends what it can now (the rest go at the next `welcome`). */
  private sendRead(conv: string, seq: number): void {
    this.pendingReads.add(conv, seq);
    this.flushReads();
  }

  /**
   * Tells the conversation the user is typing; call it on every keystroke: one frame goes out per conversation
   * every 2 s at most (DEFAULT_TYPING_INTERVAL_MS). Returns false when not connected (typing is ephemeral).
   */
  typing(conv: string): boolean {
    return this.welcomed && this.typingThrottle.offer(conv, Date.now(), () => this.transmit({ type: 'typing', conv }));
  }

  /** Every conversation the user is in, with its delivery (`last`) and read state, most recent message first. */
  conversations(): ConversationInfo[] {
    return this.chains.list();
  }

  /**
   * Drops the connection and reconnects (after a network change, or to test resilience); while waiting to reconnect,
   * connects now. Queued sends are kept.
   */
  reconnect(): void {
    if (this.current === ConnectionState.CLOSED || this.current === 'idle') return;
    if (this.welcomed) return this.abandon(CloseCode.ABNORMAL, 'reconnect requested');
    if (this.reconnectTimer === undefined) {
      // An attempt under way (a socket opening, the dispatcher or the token asked) starts over now: made on the old
      // network, it may never end, and its failure would cost a backoff's wait and count as a refused token.
      const conn = this.conn;
      this.conn = undefined;
      conn?.abandon(CloseCode.ABNORMAL, 'reconnect requested');
      return void this.attempt();
    }
    // Between attempts there is no socket to drop: the backoff's wait (up to its cap) is what the network change
    // made pointless. Its attempt count stays, so calls in a loop still connect only once each.
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    void this.attempt();
  }

  /** Closes for good (code 1000): no reconnect, pending requests and sends reject with `closed` (an outbox keeps the sends), no timer left. */
  close(): void {
    if (this.current === ConnectionState.CLOSED) return;
    this.terminate(CloseCode.NORMAL, 'client closed');
  }

  // ---- connection lifecycle ---------------------------------------------------------------------------

  private async attempt(): Promise<void> {
    // A state listener may have closed the client as it started connecting.
    if (this.current === ConnectionState.CLOSED) return;
    const gen = ++this.generation;
    try {
      // After each wait: a close() meanwhile (a mount and unmount at once) asks the dispatcher and the token nothing.
      await this.outbound.opened;
      if (gen !== this.generation) return;
      const { endpoint } = await this.endpoints.next();
      if (gen !== this.generation) return;
      const token = await this.token.get();
      if (gen !== this.generation) return;
      this.openSocket(urlWithToken(endpoint, token));
    } catch (err) {
      if (gen !== this.generation) return;
      this.events.emit('error', toImError(err, ErrorCode.UNAVAILABLE));
      // An error listener may have closed the client (given up, signed out): no reconnect after its close.
      if (gen !== this.generation) return;
      this.scheduleReconnect(undefined, '', this.endpoints.hasRedirect ? this.backoff.redirectDelay() : this.backoff.next());
    }
  }

  private openSocket(url: string): void {
    const conn: Connection = new Connection(this.WS, url, this.requestTimeoutMs, this.opts.random, {
      data: (data) => this.conn === conn && this.handleData(conn, data),
      closed: (code, reason) => this.conn === conn && this.lost(conn, code, reason),
      failed: (err) => this.events.emit('error', toImError(err)),
      unsentAcks: (convs) => this.chains.ackAgain(convs),
    });
    this.conn = conn;
  }

  /** Gives up on the current socket without waiting for its close handshake (a dead peer never answers it). */
  private abandon(code: number, reason: string): void {
    this.conn?.abandon(code, reason);
  }

  /** The connection ended (closed by the server, lost, or abandoned by us): decide what comes next. */
  private lost(conn: Connection, code: number, reason: string): void {
    this.conn = undefined;
    if (conn.welcomed) this.backoff.connectionLived(Date.now() - conn.openedAt);
    const next = afterClose(code, reason, { upgraded: conn.upgraded, redirected: this.endpoints.hasRedirect });
    // Final: terminate() rejects what waits with `closed`, before stopSession() would with `unavailable`.
    if (next.final) return this.terminate(code, next.reason);
    // Retried for good, a fixed token past its `exp` would keep the client connecting (a browser sees only 1006).
    if (next.renewToken && this.token.deadForGood()) return this.terminate(CloseCode.UNAUTHORIZED, 'the token expired, and a fixed token cannot be renewed: give a token function');
    this.stopSession();
    if (next.renewToken) {
      if (code === CloseCode.UNAUTHORIZED) this.token.forget();
      else this.token.refused();
    }
    this.scheduleReconnect(code, reason, next.immediate ? this.backoff.redirectDelay() : Math.max(this.backoff.next(), next.minDelayMs));
    // A socket that never got its welcome (a refused upgrade, a server away) is a failed attempt: the app may show why.
    if (!conn.welcomed && !next.immediate && this.current !== ConnectionState.CLOSED) this.events.emit('error', attemptFailed(code, reason));
  }

  private scheduleReconnect(code: number | undefined, reason: string, delay: number): void {
    const gen = this.generation;
    this.setState(this.everWelcomed ? ConnectionState.RECONNECTING : ConnectionState.CONNECTING, code, reason);
    // A state listener may have closed the client ("stop after N reconnects"), or reconnected it (an attempt under
    // way now): no timer after either.
    if (this.current === ConnectionState.CLOSED || gen !== this.generation) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      void this.attempt();
    }, delay);
  }

  /** Per-session state that dies with the socket. */
  private stopSession(): void {
    this.refresher.stop();
    // Not `closed`, which says the client is shut for good: the app may ask again once connected.
    this.requests.rejectAll(new ImError(ErrorCode.UNAVAILABLE, 'connection lost before the answer'));
    this.outbound.disconnected();
    this.chains.disconnected();
  }

  /** The final state: nothing reconnects, nothing waits, no timer is left. */
  private terminate(code: number, reason: string): void {
    this.generation++;
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.conn?.close(CloseCode.NORMAL, reason);
    this.conn = undefined;
    const error = new ImError(ErrorCode.CLOSED, reason);
    this.requests.rejectAll(error);
    this.stopSession();
    this.outbound.close(error);
    this.chains.close();
    this.pendingReads.clear();
    this.typingThrottle.clear();
    this.endpoints.close();
    this.token.close();
    this.waiter?.reject(error);
    // A connect() promise nobody awaits any more must not become an unhandled rejection.
    this.waiter?.promise.catch(() => {});
    this.setState(ConnectionState.CLOSED, code, reason);
  }

  private setState(state: ConnectionState, code?: number, reason?: string): void {
    // Closed is for good: nothing a listener did during the close brings the client back to life.
    if (state === this.current || this.current === ConnectionState.CLOSED) return;
    this.current = state;
    const change: StateChange = { state };
    if (code !== undefined) change.code = code;
    if (reason) change.reason = reason;
    this.events.emit('state', change);
  }

  // ---- frames -----------------------------------------------------------------------------------------

  private get welcomed(): boolean {
    return this.conn?.welcomed === true;
  }

  private transmit(frame: ClientFrame): boolean {
    return this.conn?.transmit(frame) === true;
  }

  protected override enqueue(conv: string, body: string, extras: SendExtras): Promise<SendResult> {
    return this.outbound.enqueue(conv, body, extras);
  }

  protected override async sendsAnswered(conv: string): Promise<void> {
    if (!this.welcomed) return; // offline nothing is answered: the leave is refused at once, as any request then
    // Bounded: a send held back for long (slow mode) must not hold the leave with it.
    await settledWithin(this.outbound.whenSent(conv), this.requestTimeoutMs);
  }

  protected override lastHeld(conv: string): number {
    return this.chains.get(conv)?.last ?? 0;
  }

  protected override request<T>(what: string, frame: (rid: number) => ClientFrame): Promise<T> {
    if (this.current === ConnectionState.CLOSED) return Promise.reject(new ImError(ErrorCode.CLOSED, 'client closed'));
    if (!this.welcomed) return Promise.reject(new ImError(ErrorCode.UNAVAILABLE, `${what}: not connected`));
    return this.requests.start<T>(what, (rid) => {
      if (!this.transmit(frame(rid))) throw new ImError(ErrorCode.UNAVAILABLE, `${what}: not connected`);
    });
  }

  private flushReads(): void {
    this.pendingReads.flush((conv, seq) => this.transmit({ type: 'read', conv, seq }));
  }

  private handleData(conn: Connection, data: unknown): void {
    const bytes = messageBytes(data);
    if (bytes === undefined) return; // text is not a frame (README §1)
    conn.heard();
    const r = decodeServerFrame(bytes);
    if (!r.ok) {
      // A frame type this version does not know comes from a newer server: skipped (README §5), not an error.
      if (!isUnknownFrameType(bytes, r.error)) this.events.emit('error', r.error);
      return;
    }
    const f = r.value;
    if (f.type === 'welcome') return this.handleWelcome(conn, f);
    if (f.type !== 'redirect') return this.inbound.handle(f);
    this.endpoints.redirect(f.endpoints);
    this.events.emit('redirect', { endpoints: f.endpoints, reason: f.reason });
    // A redirect listener may have closed the client: nothing to leave.
    if (this.conn !== conn) return;
    // The server closes right after (4010/4011); if it does not, leave anyway.
    conn.leaveAfter(DEFAULT_REDIRECT_CLOSE_WAIT_MS);
  }

  private handleWelcome(conn: Connection, f: WelcomeFrame): void {
    conn.welcome(f.heartbeatMs, f.maxFrameBytes, f.rate !== undefined && f.burst !== undefined ? { perSec: f.rate, burst: f.burst } : undefined);
    this.everWelcomed = true;
    this.inbound.welcomed();
    this.token.accepted();
    this.session = f;
    this.endpoints.connected();
    this.chains.setUid(f.uid);
    this.setState(ConnectionState.OPEN);
    // A state listener may have closed the client: no welcome after its close.
    if (this.conn !== conn) return;
    this.events.emit('welcome', f);
    // A listener may have closed the client (or dropped this connection): nothing of this session may start then,
    // or the token refresher would keep the process alive and call the token function after the close.
    if (this.conn !== conn) return;
    this.refresher.start();
    this.flushReads();
    this.outbound.welcome(f.uid, f.did);
  }
}
