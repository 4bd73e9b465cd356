import { ChatKind, ConnectorOp, type AttachReply, type ConnectorAttach } from '../../protocol/chat-ops.js';
import { ErrorCode, toImError } from '../../protocol/errors.js';
import type { ServerFrame } from '../../protocol/frames.js';
import type { Logger } from '../../runtime/logger.js';
import { ConcurrencyGate } from '../../runtime/concurrency-gate.js';
import type { Router } from '../../runtime/router.js';
import type { ConvBinding } from './conv-binding.js';
import type { ListPager } from './list-pager.js';
import type { Session } from './session.js';
import { DEFAULT_GATEWAY_WATCH_MS } from '../gateway-watch.js';

/**
 * A session re-states itself to its connector this often on average: the last resort for connector state lost
 * without notice (moves are caught by the new owner's announcement and by the directory's reads of the map).
 * Each refresh is a call, ~2.7 KB of garbage: at one a minute, 19k idle sessions made an idle gateway allocate
 * fast enough that V8 never shrank its young generation back (32 MB, ~1.7 KB per connection).
 */
export const ATTACH_REFRESH_MS = 300_000;
/** Sessions re-attached per step after their connector shard restarted, so its new owner is not hit all at once. */
const REATTACH_BATCH = 500;
const REATTACH_STEP_MS = 20;
/**
 * Attach calls one gateway has outstanding at once, about: the others wait their turn (their sessions are open and
 * have their `welcome`). Each attach costs its connector a read of the user's list. Started all at once, 5,000 of
 * them queued in the connectors' pools past their deadlines, were retried onto the same queues, and the nodes spent
 * their time on timeouts, cancels and garbage: a burst of 10,000 connects took 40 s and cost both leases. The
 * budget is shared out per connector shard (at least one each), so that calls hanging on a frozen node's shards
 * (each until its deadline) hold only their own shards' places, not the whole gateway's.
 */
export const ATTACH_BUDGET = 128;
/** Failed attaches of one session before it is logged as a warning (about 10 s of retrying). */
const ATTACH_WARN_ATTEMPTS = 6;

export interface SessionAttacherDeps {
  nodeId: string;
  /** This gateway process's incarnation: its connectors forget its sessions when it dies. */
  life: string;
  router: Router;
  binding: ConvBinding;
  /** The gateway's open sessions, by session id. */
  sessions: ReadonlyMap<number, Session>;
  send: (s: Session, f: ServerFrame) => void;
  /** Sends lists, a long one in pages. */
  pager: ListPager;
  log: Logger;
}

/**
 * Keeps each user's connector told where the user's sessions are: an attach when a session opens, a refresh now
 * and then, and a re-attach with a full catch-up (`convs`) whenever the connector may have lost them.
 */
export class SessionAttacher {
  /** One gate per connector shard, made when first needed. */
  private readonly gates = new Map<number, ConcurrencyGate>();

  private regainTimer: NodeJS.Timeout | undefined;

  /** Each connector shard's share of ATTACH_BUDGET. */
  private readonly perShard: number;

  constructor(private readonly deps: SessionAttacherDeps) {
    this.perShard = Math.max(1, Math.ceil(ATTACH_BUDGET / Math.max(1, deps.router.shardCount(ChatKind.CONNECTOR))));
  }

  /** Attaches waiting for their turn now. */
  get queued(): number {
    let n = 0;
    for (const g of this.gates.values()) n += g.queued;
    return n;
  }

  private gateFor(uid: string): ConcurrencyGate {
    const shard = this.deps.router.shardOf(ChatKind.CONNECTOR, uid);
    let g = this.gates.get(shard);
    if (!g) this.gates.set(shard, (g = new ConcurrencyGate(this.perShard)));
    return g;
  }

  /**
   * Tells the user's connector where this device is, retrying while the session lives; pushes `convs` when it
   * answers with them (the client pulls whatever it is behind). A newer attach of the session supersedes this one.
   */
  async attach(s: Session, refresh: boolean): Promise<void> {
    // A refresh adds nothing to an attach under way, and superseding it would drop that attach's catch-up (its
    // `convs` answer would be ignored, and the refresh finds the session known and gets none).
    if (refresh && s.attaching) return;
    // Spread over half to one and a half intervals: sessions that connected in one burst would otherwise all
    // refresh in one sweep, and a burst of calls keeps its garbage alive past young collections.
    s.refreshAt = Date.now() + ATTACH_REFRESH_MS * (0.5 + Math.random());
    const gen = ++s.attachGen;
    const payload: ConnectorAttach = { did: s.did, gw: this.deps.nodeId, sid: s.sid, life: this.deps.life };
    if (refresh) payload.refresh = true;
    if (s.listPageBytes > 0) payload.pageBytes = s.listPageBytes;
    s.attaching = true;
    try {
      await this.attachLoop(s, payload, gen);
    } finally {
      if (gen === s.attachGen) s.attaching = false;
    }
  }

  /**
   * A connector shard (re)started somewhere: its actors know nothing of our sessions, and deliveries sent while
   * it was down are lost. Each of its sessions attaches again (with a full re-sync unless `refresh`), in steps.
   */
  reattachShards(shards: Set<number>, refresh = false): Promise<void> {
    const { sessions, router } = this.deps;
    return this.inSteps([...sessions.values()].filter((s) => shards.has(router.shardOf(ChatKind.CONNECTOR, s.uid))), refresh);
  }

  /**
   * Every session attaches again now (connectors may have forgotten them while the node's lease had run out), and
   * refreshes once more after every GatewayWatch has read again: one that read just before the lease ran again
   * may tell its connectors after the first attach landed.
   */
  leaseRegained(): void {
    void this.reattachAll();
    if (this.regainTimer) clearTimeout(this.regainTimer);
    this.regainTimer = setTimeout(() => {
      this.regainTimer = undefined;
      void this.reattachAll(true);
    }, 2 * DEFAULT_GATEWAY_WATCH_MS + 500);
  }

  /** Drops a pending refresh. */
  close(): void {
    if (this.regainTimer) clearTimeout(this.regainTimer);
    this.regainTimer = undefined;
  }

  /**
   * Every session attaches again: with a full catch-up (pushes may have been lost, or which groups are large
   * changed), or with `refresh` one that catches up only where the connector had forgotten the session.
   */
  reattachAll(refresh = false): Promise<void> {
    return this.inSteps([...this.deps.sessions.values()], refresh);
  }

  private async inSteps(todo: Session[], refresh: boolean): Promise<void> {
    for (let i = 0; i < todo.length; i += REATTACH_BATCH) {
      if (i > 0) await new Promise((r) => setTimeout(r, REATTACH_STEP_MS));
      for (const s of todo.slice(i, i + REATTACH_BATCH)) if (s.state === 'open') void this.attach(s, refresh);
    }
  }

  private async attachLoop(s: Session, payload: ConnectorAttach, gen: number): Promise<void> {
    const { router, binding, log } = this.deps;
    let listStarted = false;
    for (let attempt = 0; s.state === 'open' && gen === s.attachGen; attempt++) {
      // A list that failed after its first page goes again from its start: a refresh now would find the session
      // known and answer with no list, leaving the client's unfinished (its catch-up never done).
      if (listStarted && payload.refresh === true) payload = { ...payload, refresh: undefined };
      try {
        // A session that closed or was re-attached while it waited its turn needs no call any more.
        const reply = await this.gateFor(s.uid).run(async () => {
          if (s.state !== 'open' || gen !== s.attachGen) return undefined;
          try {
            return (await router.call(ChatKind.CONNECTOR, s.uid, ConnectorOp.ATTACH, payload)) as AttachReply;
          } finally {
            // The session's DETACH is a tell, and tells are not ordered against calls: it may have reached the
            // connector before this ATTACH did, which then registered a closed session as the user's device (online
            // for ever to peers, no push notifications). Told again; a detach of a sid already gone is a no-op.
            if (s.state !== 'open') router.tell(ChatKind.CONNECTOR, s.uid, ConnectorOp.DETACH, { did: s.did, sid: s.sid });
          }
        });
        if (!reply || s.state !== 'open' || gen !== s.attachGen) return;
        // Bound before the list's later pages go: a large group's news published meanwhile reaches the session.
        const listed = reply.convs === undefined ? undefined : listedLast(reply);
        for (const conv of reply.large) if (!binding.leftSince(s, conv, gen)) binding.bind(s, conv, listed?.get(conv));
        binding.keepOnly(s, reply.large, gen);
        if (reply.convs === undefined) return;
        const first = reply.more === undefined ? { list: reply.convs } : { list: reply.convs, more: reply.more };
        listStarted = true;
        await this.deps.pager.send(s, first, () => s.state === 'open' && gen === s.attachGen);
        return;
      } catch (err) {
        const e = toImError(err);
        // A storage failure is logged by the connector's node; retried every few seconds, it would flood this log.
        if (e.code === ErrorCode.INTERNAL) log.error({ uid: s.uid, err: e.message }, 'attach failed');
        // Expected now and then (a shard between owners); a session that stays unattached this long is not.
        else if (attempt === ATTACH_WARN_ATTEMPTS) log.warn({ uid: s.uid, attempts: attempt + 1, code: e.code, err: e.message }, 'session still not attached');
        await new Promise((r) => setTimeout(r, Math.min(3000, 100 * 2 ** attempt)));
      }
    }
  }
}

/** What the list gives each large group as its `lastSeq`: from the reply's `largeLast`, or (older nodes) its rows. */
function listedLast(reply: AttachReply): Map<string, number> | undefined {
  if (reply.large.length === 0) return undefined;
  if (reply.largeLast !== undefined && reply.largeLast.length === reply.large.length) return new Map(reply.large.map((conv, i) => [conv, reply.largeLast![i]!]));
  return new Map((reply.convs ?? []).map((r) => [r.conv, r.lastSeq]));
}
