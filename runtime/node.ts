import { randomUUID } from 'node:crypto';
import type { NatsConnection, Subscription } from 'nats';
import { decodeControlRequest, decodeShardsChanged, encodeControl, type ControlReply, type ControlRequest } from '../protocol/control.js';
import { toImError } from '../protocol/errors.js';
import { shardFunctionFingerprint } from '../protocol/shard-hash.js';
import { clusterShardsSubject, nodeControlSubject } from '../protocol/subjects.js';
import { ClusterSettingsStore } from '../storage/cluster-settings-store.js';
import { connect, type Sql } from '../storage/db.js';
import { LeaseStore } from '../storage/lease-store.js';
import { migrate } from '../storage/migrate.js';
import { NodeStore } from '../storage/node-store.js';
import { ShardMapStore } from '../storage/shard-map-store.js';
import type { ActorKind } from './actor.js';
import { ActorHost } from './actor-host.js';
import { ClusterSettings } from './cluster-settings.js';
import { CoalescedRunner } from './coalesced-runner.js';
import { ConfigError, type NodeConfig } from './config.js';
import { Coordinator, coordinatorHolder } from './coordinator.js';
import { ShardMover } from './handoff.js';
import type { Logger } from './logger.js';
import { Membership } from './membership.js';
import { dialNodeNats } from './nats-login.js';
import { drainShards } from './node-drain.js';
import { Router } from './router.js';
import { ServedAnnouncer } from './served-announcer.js';
import { ShardServer } from './shard-server.js';
import { Transport } from './transport/transport.js';

export interface ClusterNodeOptions {
  config: NodeConfig;
  /**
   * The actor kinds this node hosts, built on the node's database pool, NATS connection, transport and the cluster's
   * settings; `incarnation` is this process's life as the node (its lease's).
   */
  kinds: (sql: Sql, nc: NatsConnection, transport: Transport, settings: ClusterSettings, incarnation: string) => ActorKind[];
  /** More load figures for the heartbeat (e.g. gateway connections), read by the dispatcher. */
  load?: () => Record<string, unknown>;
  log: Logger;
  /** Client-facing endpoints this node advertises (gateway URLs). */
  endpoints?: string[];
  /** Planned moves the coordinator makes per tick by itself; 0 leaves rebalancing to imctl. */
  autoRebalanceMoves?: number;
  /** The node stopped by itself and for good (another process took its node id over); the process should exit. */
  onFatal?: (err: Error) => void;
  /** The node's lease runs again after it may have expired (other nodes may have taken the node for dead meanwhile). */
  onLeaseRegained?: () => void;
  /** This node alone is cut off from NATS (`reachers` reach it): its lease is left to run out, its shards go to them. */
  onCutOff?: (reachers: string[]) => void;
  /** This node let a shard go for good while running (not when closing): what it recorded for the shard's keys may be stale. */
  onShardReleased?: (kind: string, shard: number) => void;
  /**
   * Settings every node must share, by the flag that sets them: the first node records them, every node runs with
   * the recorded values (see ClusterSettings), which `imctl settings set` changes while the cluster runs.
   */
  clusterSettings?: Record<string, string>;
  /**
   * Kinds the cluster needs whatever this node hosts (the chat's connectors call chatters, and back): their shards
   * exist from this node's start, so its router and coordinator know them. Made only by the nodes hosting them, a
   * split deployment's first node (`--kinds connector`) never placed the chatter shards a later node made, nor routed to them.
   */
  clusterKinds?: readonly string[];
}

export const DEFAULT_AUTO_REBALANCE_MOVES = 16;
/** Connections of the control plane's pool: the heartbeat, the coordinator and the shard-map refresh may overlap. */
export const CONTROL_POOL_SIZE = 3;
/** The cluster setting holding the shard function's fingerprint (recorded by the first node, never changed). */
export const SHARD_FUNCTION_SETTING = 'shard-function';

/** Refuses a node whose shard function differs from the one the cluster was created with. */
async function checkShardFunction(store: ClusterSettingsStore): Promise<void> {
  const mine = shardFunctionFingerprint();
  const recorded = await store.agreeFixed(SHARD_FUNCTION_SETTING, mine);
  if (recorded === mine) return;
  throw new ConfigError(
    `this node's shard function differs from the one this cluster was created with (fingerprint ${mine}, recorded ${recorded}): ` +
      'it would route keys to other shards than the other nodes. A cluster keeps its shard function for good; run this version on a new cluster',
  );
}

/**
 * A node process of the cluster: joins NATS and Postgres, keeps its lease, serves the shards the shard map
 * gives it, takes part in coordination, and hands its shards off when drained.
 */
export class ClusterNode {
  readonly nodeId: string;
  readonly router: Router;
  readonly host: ActorHost;
  readonly shards: ShardServer;
  readonly shardMap: ShardMapStore;
  private readonly nodes: NodeStore;
  private readonly membership: Membership;
  private readonly coordinator: Coordinator;
  private readonly mover: ShardMover;
  private readonly announcer: ServedAnnouncer;
  private readonly subs: Subscription[] = [];
  private refreshTimer?: NodeJS.Timeout;
  private readonly refresher = new CoalescedRunner(
    () => this.refreshOnce(),
    () => this.closing !== undefined,
  );
  private closing?: Promise<void>;
  private readonly startedAt = Date.now();
  /** Writes Postgres refused because another node owned their shard by then. */
  fencedWrites = 0;
  private natsUp = true;

  private constructor(
    private readonly opts: ClusterNodeOptions,
    readonly sql: Sql,
    /** The control plane's own connections (lease, shard map, coordinator): they never queue behind chat statements. */
    private readonly controlSql: Sql,
    readonly nc: NatsConnection,
    readonly transport: Transport,
    shardCounts: Map<string, number>,
    /** The cluster-wide settings, kept current. */
    readonly settings: ClusterSettings,
  ) {
    const { config, log } = opts;
    this.nodeId = config.nodeId;
    const incarnation = randomUUID();
    this.shardMap = new ShardMapStore(controlSql);
    this.nodes = new NodeStore(controlSql);
    this.router = new Router(transport, shardCounts);
    this.host = new ActorHost({
      nodeId: this.nodeId,
      kinds: opts.kinds(sql, nc, transport, settings, incarnation),
      sender: this.router,
      log,
      defaultIdleMs: config.actorIdleMs,
      onFenced: (kind, shard, epoch) => {
        this.fencedWrites++;
        log.warn({ kind, shard, epoch }, 'write fenced: another node owns this shard now');
        // That epoch's: an actor of an epoch this node left behind may be fenced after it took the shard again.
        void this.shards.release(kind, shard, 'fenced', true, epoch).then(() => this.refresh());
      },
    });
    this.membership = new Membership({
      nodeId: this.nodeId,
      incarnation,
      nodes: this.nodes,
      endpoints: opts.endpoints ?? [],
      // The cluster's kinds this process hosts (`--kinds`), recorded in its node row for placement.
      kinds: [...shardCounts.keys()].filter((k) => this.host.hosts(k)),
      heartbeatMs: config.heartbeatMs,
      leaseMs: config.leaseMs,
      natsCutGraceMs: config.natsCutGraceMs,
      onCutOff: (reachers) => opts.onCutOff?.(reachers),
      log,
      thread: { databaseUrl: config.databaseUrl, applicationName: `natsim-${config.nodeId}-lease` },
      // `closing`: draining to stop, not held out by imctl (NodeStore.holdOut, the coordinator's fallback tell them apart).
      load: () => ({ actors: this.host.counts(), shards: this.shards.list().length, rss: process.memoryUsage.rss(), settings: this.settings.all(), nats: this.natsConnected, ...(this.closing !== undefined && { closing: true }), ...opts.load?.() }),
      onLost: () => void this.shards.releaseAll('lease may have expired', false),
      onRegained: () => {
        void this.refresh();
        opts.onLeaseRegained?.();
      },
      onReplaced: (err) => {
        log.error({ err: err.message }, 'another process took this node id over: this one stops for good');
        void this.close().finally(() => opts.onFatal?.(err));
      },
    });
    this.announcer = new ServedAnnouncer(nc, this.nodeId, log);
    this.shards = new ShardServer({
      nodeId: this.nodeId,
      transport,
      host: this.host,
      shardCounts,
      log,
      leaseValid: () => this.membership.isValid(),
      onServing: (kind, shard) => this.announcer.add(kind, shard),
      onReleased: (kind, shard) => opts.onShardReleased?.(kind, shard),
    });
    const notify = (kind: string, shards: number[]): void => {
      nc.publish(clusterShardsSubject(), encodeControl({ type: 'shards-changed', kind, shards }));
    };
    this.mover = new ShardMover({ nc, shardMap: this.shardMap, nodes: this.nodes, log, phaseTimeoutMs: config.handoffPhaseTimeoutMs, notify });
    this.coordinator = new Coordinator({
      nodeId: this.nodeId,
      holder: coordinatorHolder(this.nodeId, incarnation),
      kinds: [...shardCounts.keys()],
      leases: new LeaseStore(controlSql),
      nodes: this.nodes,
      shardMap: this.shardMap,
      mover: this.mover,
      log,
      tickMs: Math.max(50, Math.floor(config.heartbeatMs / 2)),
      leaseMs: config.leaseMs,
      stuckMoveMs: config.handoffPhaseTimeoutMs * 5,
      autoRebalanceMoves: opts.autoRebalanceMoves ?? DEFAULT_AUTO_REBALANCE_MOVES,
      settleMs: config.leaseMs * 2,
      notify,
      active: () => this.membership.isValid(),
    });
  }

  /** Connects, migrates, registers and starts serving; resolves once the node is part of the cluster. */
  static async start(opts: ClusterNodeOptions): Promise<ClusterNode> {
    const { config, log } = opts;
    const sql = connect(config.databaseUrl, { max: config.dbPoolSize, applicationName: `natsim-${config.nodeId}` });
    // A lease renewal stuck behind a burst of chat statements in one pool made a loaded node drop every shard it
    // served, once a second (seen while 5,000 clients connected at once): the control plane has its own pool.
    const control = connect(config.databaseUrl, { max: CONTROL_POOL_SIZE, applicationName: `natsim-${config.nodeId}-control` });
    try {
      await migrate(sql);
      const settingsStore = new ClusterSettingsStore(control);
      await checkShardFunction(settingsStore);
      const settings = await ClusterSettings.agree(settingsStore, opts.clusterSettings ?? {}, log);
      const shardMap = new ShardMapStore(sql);
      for (const k of new Set([...config.kinds, ...(opts.clusterKinds ?? [])])) await shardMap.ensureKind(k, config.shardCount);
      const shardCounts = new Map<string, number>();
      for (const k of await shardMap.kinds()) shardCounts.set(k, (await shardMap.shardCount(k))!);
      // S is fixed when a kind is created: a different --shards later is not applied, and must not pass unnoticed.
      for (const k of config.kinds) if (config.shardCountGiven && shardCounts.get(k) !== config.shardCount) log.warn({ kind: k, shards: shardCounts.get(k), flag: config.shardCount }, '--shards ignored: a kind keeps the shard count it was created with');
      const nc = await dialNodeNats(config.natsServers, config.natsAuth, config.nodeId);
      const transport = new Transport(nc, { log, defaultTimeoutMs: config.requestTimeoutMs });
      const node = new ClusterNode(opts, sql, control, nc, transport, shardCounts, settings);
      await node.begin();
      return node;
    } catch (err) {
      await sql.end({ timeout: 1 }).catch(() => undefined);
      await control.end({ timeout: 1 }).catch(() => undefined);
      throw err;
    }
  }

  private async begin(): Promise<void> {
    this.membership.natsChanged(true);
    // From here, not after the membership starts (which may wait out a previous process's lease): nats.js replays no
    // status event, and a link lost meanwhile would be reported up for good.
    void this.watchNats();
    await this.membership.start();
    this.subs.push(this.nc.subscribe(nodeControlSubject(this.nodeId), { callback: (err, msg) => !err && void this.onControl(msg.data, (d) => msg.respond(d)) }));
    this.subs.push(
      this.nc.subscribe(clusterShardsSubject(), {
        callback: (err, msg) => {
          if (!err && decodeShardsChanged(msg.data).ok) void this.refresh();
        },
      }),
    );
    this.settings.watch(this.nc);
    await this.nc.flush();
    this.coordinator.start();
    await this.refresh();
    const poll = (): void => {
      // A refresh that was running when close() cleared the timer must not arm another.
      if (this.closing === undefined) this.refreshTimer = setTimeout(() => void this.refresh().finally(poll), this.opts.config.heartbeatMs);
    };
    poll();
  }

  /**
   * Tells sent to our shards while our NATS connection was down are lost: announce them so their state is
   * re-stated. A settings notice sent meanwhile is lost too: re-read the settings.
   */
  private async watchNats(): Promise<void> {
    for await (const st of this.nc.status()) {
      if (st.type === 'disconnect') {
        this.natsUp = false;
        this.membership.natsChanged(false);
      }
      if (st.type !== 'reconnect') continue;
      this.natsUp = true;
      this.membership.natsChanged(true);
      this.announcer.announceLater(() => this.shards.list());
      void this.settings.reload();
    }
  }

  /** Whether the node's NATS connection is up (false between a disconnect and the reconnect). */
  get natsConnected(): boolean {
    return this.natsUp && !this.nc.isClosed();
  }

  /** Times this node judged its lease lost since it started (each time it let every shard go). */
  get leaseLosses(): number {
    return this.membership.losses;
  }

  /** The process registered as this node (a restarted node is another one). */
  get incarnation(): string {
    return this.membership.incarnation;
  }

  /** Whether this node's membership lease is valid now (it serves nothing while it is not). */
  get leaseValid(): boolean {
    return this.membership.isValid();
  }

  /** Re-reads the shards this node owns and serves exactly those. Coalesces concurrent calls. */
  refresh(): Promise<void> {
    return this.refresher.run();
  }

  private async refreshOnce(): Promise<void> {
    try {
      if (this.membership.isValid()) {
        const mark = this.shards.readMark();
        await this.shards.reconcile(await this.shardMap.ownedBy(this.nodeId), mark);
      }
    } catch (err) {
      const e = toImError(err);
      this.opts.log.warn({ code: e.code, err: e.message }, 'shard refresh failed');
    }
  }

  private async onControl(data: Uint8Array, respond: (d: Uint8Array) => boolean): Promise<void> {
    const r = decodeControlRequest(data);
    let reply: ControlReply;
    if (!r.ok) reply = { type: 'error', code: r.error.code, message: r.error.message };
    else {
      try {
        reply = await this.control(r.value);
      } catch (err) {
        const e = toImError(err);
        reply = { type: 'error', code: e.code, message: e.message };
      }
    }
    respond(encodeControl(reply));
  }

  private async control(req: ControlRequest): Promise<ControlReply> {
    switch (req.type) {
      case 'release': {
        const t0 = Date.now();
        await this.shards.release(req.kind, req.shard, 'handoff', true, req.epoch);
        return { type: 'released', kind: req.kind, shard: req.shard, ok: true, tookMs: Date.now() - t0 };
      }
      case 'acquire': {
        // Also while draining: a move to this node begun before it was (its mover saw it in placement) still ends
        // here, and the drain's next round hands the shard on; refused, it would be served by nobody until the end.
        const ok = await this.shards.acquire(req.kind, req.shard, req.epoch);
        return { type: 'acquired', kind: req.kind, shard: req.shard, ok, epoch: req.epoch };
      }
      case 'status':
        return {
          type: 'status',
          nodeId: this.nodeId,
          shards: this.shards.list().map(({ kind, shard, epoch }) => ({ kind, shard, epoch })),
          actors: this.host.counts(),
          uptimeSec: Math.round((Date.now() - this.startedAt) / 1000),
          rssBytes: process.memoryUsage.rss(),
          leaseValid: this.membership.isValid(),
        };
    }
  }

  /** Hands every shard this node serves to other live nodes (planned moves), then closes. */
  drain(): Promise<void> {
    if (this.closing) return this.closing;
    this.closing = (async () => {
      const log = this.opts.log;
      try {
        await drainShards({ nodeId: this.nodeId, incarnation: this.membership.incarnation, member: () => this.membership.isValid(), nodes: this.nodes, shardMap: this.shardMap, mover: this.mover, log });
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'drain incomplete; closing anyway (shards are reassigned when the lease runs out)');
      }
      await this.shutdown(true);
    })();
    return this.closing;
  }

  /** Stops serving and leaves the cluster without moving shards first (the coordinator reassigns them at once). */
  close(): Promise<void> {
    this.closing ??= (async () => {
      // Out of placement first: a move planned meanwhile would hand this node a shard it refuses once stopping. Not
      // with the lease lapsed: the database is most likely out of reach, and the close would wait on it.
      if (this.membership.isValid()) await this.nodes.markClosing(this.nodeId, this.membership.incarnation).catch(() => undefined);
      await this.shutdown(true);
    })();
    return this.closing;
  }

  private async shutdown(leave: boolean): Promise<void> {
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.settings.close();
    await this.refresher.current;
    await this.coordinator.stop();
    this.announcer.close();
    await this.shards.stop('node closing');
    await this.host.close();
    if (leave) await this.membership.leave();
    else await this.membership.stopHeartbeat();
    for (const s of this.subs) s.unsubscribe();
    await this.transport.close().catch(() => undefined);
    await this.nc.drain().catch(() => undefined);
    await Promise.all([this.sql.end({ timeout: 2 }).catch(() => undefined), this.controlSql.end({ timeout: 2 }).catch(() => undefined)]);
  }
}
