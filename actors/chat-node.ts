import type { NatsConnection } from 'nats';
import { ChatKind, ChatterOp, ConnectorOp, type ChatterExpired, type ConnectorGatewayGone, type ConnectorPresenceLost } from '../protocol/chat-ops.js';
import { clusterSettingValue, type ClusterSettingName } from '../protocol/control.js';
import type { ActorKind } from '../runtime/actor.js';
import type { ClusterSettings } from '../runtime/cluster-settings.js';
import { ConfigError, type NodeConfig } from '../runtime/config.js';
import { NodeMetrics } from '../runtime/metrics.js';
import { registerRuntimeMetrics } from '../runtime/node-metrics.js';
import type { Logger } from '../runtime/logger.js';
import { ClusterNode } from '../runtime/node.js';
import { checkPortFree } from '../runtime/uws.js';
import { LoadSampler } from '../runtime/load-sampler.js';
import type { Transport } from '../runtime/transport/transport.js';
import type { Sql } from '../storage/db.js';
import { NodeStore } from '../storage/node-store.js';
import { ShardMapStore } from '../storage/shard-map-store.js';
import type { LostUser } from '../storage/presence-store.js';
import { registerChatMetrics } from './chat-metrics.js';
import { eraseAccount } from './account-erasure.js';
import { CommitConnection } from '../storage/commit-connection.js';
import { ChatServices } from './chat-services.js';
import { chatterKind } from './chatter.actor.js';
import { connectorKind } from './connector.actor.js';
import { COUNTER_KIND, counterKind } from './counter.actor.js';
import { NodeDirectory } from './gateway/directory.js';
import { Gateway } from './gateway/gateway.js';
import { GatewayWatch } from './gateway-watch.js';
import { PresenceSweep, presenceLife } from './presence-sweep.js';
import { MovedAwayPresence } from './presence-moved-away.js';
import { mountDemoPage } from './gateway/demo-page.js';
import { mountHttpApi } from './gateway/http-api.js';
import { WebhookForwarder } from './webhook-forwarder.js';
import { RetentionSweeper } from './retention-sweeper.js';
import { MessageRetentionStore } from '../storage/message-retention-store.js';

/** The cluster-wide settings of the chat layer, by the flags that seed them. */
const SETTING_LARGE_GROUP: ClusterSettingName = 'large-group';
const SETTING_MAX_TOKEN_LIFETIME: ClusterSettingName = 'max-token-lifetime';
const SETTING_RECALL_WINDOW: ClusterSettingName = 'recall-window';
const SETTING_EDIT_WINDOW: ClusterSettingName = 'edit-window';
const SETTING_MESSAGE_RETENTION: ClusterSettingName = 'message-retention';


/** Every actor kind a node can host. */
export const KNOWN_KINDS: readonly string[] = [ChatKind.CONNECTOR, ChatKind.CHATTER, COUNTER_KIND];

/** A running node of the chat cluster: the runtime node, its chat services and (when configured) its gateway. */
export interface ChatNode {
  node: ClusterNode;
  svc: ChatServices;
  gateway?: Gateway;
  /** Its Prometheus metrics (served at `GET /metrics` when it has a gateway). */
  metrics: NodeMetrics;
  /** Moves clients to other gateways, hands shards off, then closes. */
  drain(): Promise<void>;
  /** Closes at once (shards are reassigned by the coordinator). */
  close(): Promise<void>;
}

/** Starts a node hosting `config.kinds`, with a gateway when `config.gateway.port` is set; `onFatal` hears of a node that stopped by itself. */
export async function startChatNode(config: NodeConfig, log: Logger, onFatal?: (err: Error) => void): Promise<ChatNode> {
  const unknown = config.kinds.filter((k) => !KNOWN_KINDS.includes(k));
  if (unknown.length) throw new ConfigError(`unknown actor kind(s) ${unknown.join(', ')}; known: ${KNOWN_KINDS.join(', ')}`);
  let svc: ChatServices | undefined;
  /** Set once everything is up; a fatal stop before that has nothing more to close. */
  let whole: ChatNode | undefined;
  let gateway: Gateway | undefined;
  // CPU and recent send latency for the heartbeat (the dispatcher's and `imctl nodes`' view of the node).
  let sampler: LoadSampler | undefined;
  let sweeper: RetentionSweeper | undefined;
  // The gateway's settings; the cluster-wide ones follow the cluster's values, also when `imctl settings set` changes them.
  const gw = { ...config.gateway };
  const kinds = (sql: Sql, nc: NatsConnection, transport: Transport, settings: ClusterSettings, incarnation: string): ActorKind[] => {
    gw.largeGroupMembers = clusterSettingValue(SETTING_LARGE_GROUP, settings.get(SETTING_LARGE_GROUP)) ?? gw.largeGroupMembers;
    gw.maxTokenLifetimeSec = clusterSettingValue(SETTING_MAX_TOKEN_LIFETIME, settings.get(SETTING_MAX_TOKEN_LIFETIME)) ?? gw.maxTokenLifetimeSec;
    gw.recallWindowSec = clusterSettingValue(SETTING_RECALL_WINDOW, settings.get(SETTING_RECALL_WINDOW)) ?? gw.recallWindowSec;
    gw.editWindowSec = clusterSettingValue(SETTING_EDIT_WINDOW, settings.get(SETTING_EDIT_WINDOW)) ?? gw.editWindowSec;
    gw.messageRetentionSec = clusterSettingValue(SETTING_MESSAGE_RETENTION, settings.get(SETTING_MESSAGE_RETENTION)) ?? gw.messageRetentionSec;
    svc = new ChatServices(sql, nc, transport, { largeGroupMembers: gw.largeGroupMembers, maxUserConversations: gw.maxUserConversations, maxGroupMembers: gw.maxGroupMembers, maxPinned: gw.maxPinned, events: gw.events, recallWindowSec: gw.recallWindowSec, editWindowSec: gw.editWindowSec, commit: config.commit }, presenceLife(config.nodeId, incarnation), log, new CommitConnection(config.databaseUrl, config.nodeId));
    const s = svc;
    // Registered before the node serves anything, so no change goes unheard.
    settings.onChange((name, value) => {
      const n = clusterSettingValue(name, value);
      if (n === undefined) return log.warn({ setting: name, value }, 'ignored a cluster setting value out of its range');
      if (name === SETTING_LARGE_GROUP) {
        gw.largeGroupMembers = n;
        s.setLargeGroupMembers(n);
        gateway?.largeGroupChanged();
      } else if (name === SETTING_MAX_TOKEN_LIFETIME) gw.maxTokenLifetimeSec = n;
      else if (name === SETTING_RECALL_WINDOW) gw.recallWindowSec = s.settings.recallWindowSec = n;
      else if (name === SETTING_EDIT_WINDOW) gw.editWindowSec = s.settings.editWindowSec = n;
      else if (name === SETTING_MESSAGE_RETENTION) {
        gw.messageRetentionSec = n;
        sweeper?.settingChanged();
      }
    });
    return config.kinds.map((k) => (k === ChatKind.CONNECTOR ? connectorKind(s) : k === ChatKind.CHATTER ? chatterKind(s) : counterKind(sql)));
  };
  // Users whose last session closed while their connector moved off this node are announced offline by its new owner.
  let movedAway: MovedAwayPresence | undefined;
  if (gw.port > 0) await checkPortFree(gw.host, gw.port);
  const node = await ClusterNode.start({
    config,
    log,
    kinds,
    // A chat node of either kind needs the other's shards placed; a node of the counter alone (tests) needs neither.
    clusterKinds: config.kinds.some((k) => k === ChatKind.CONNECTOR || k === ChatKind.CHATTER) ? [ChatKind.CONNECTOR, ChatKind.CHATTER] : [],
    endpoints: gw.port > 0 ? [gw.publicUrl] : [],
    load: () => {
      const l = sampler?.current;
      return { connections: gateway?.connections ?? 0, accepting: gateway?.isAccepting ?? false, cpu: l?.cpu ?? 0, sendsPerSec: l?.perSec ?? 0, sendP90Ms: l?.p90Ms, sendP99Ms: l?.p99Ms };
    },
    // The runtime node closed itself; the gateway and services go with it before the caller hears of it.
    onFatal: (err) => void Promise.resolve(whole?.close()).finally(() => onFatal?.(err)),
    onLeaseRegained: () => gateway?.leaseRegained(),
    // Its shards go to nodes that reach NATS; its clients go to their gateways.
    onCutOff: () => void gateway?.moveAway(),
    onShardReleased: (kind, shard) => {
      if (kind === ChatKind.CONNECTOR) movedAway?.released(shard);
    },
    // Nodes that disagreed on these would publish large-group deliveries no gateway listens for, forget token
    // revocations another gateway still needs, or allow a recall on one node that another refuses.
    clusterSettings: {
      [SETTING_LARGE_GROUP]: String(gw.largeGroupMembers),
      [SETTING_MAX_TOKEN_LIFETIME]: String(gw.maxTokenLifetimeSec),
      [SETTING_RECALL_WINDOW]: String(gw.recallWindowSec),
      [SETTING_EDIT_WINDOW]: String(gw.editWindowSec),
      // Nodes that disagreed would serve messages another has expired.
      [SETTING_MESSAGE_RETENTION]: String(gw.messageRetentionSec),
    },
  });
  const chat = svc!;
  const metrics = new NodeMetrics(node.nodeId);
  registerRuntimeMetrics(metrics, node);
  let directory: NodeDirectory | undefined;
  if (gw.port > 0) {
    // The dispatcher's reads are the gateway's business: they use the node's main pool, not the control plane's.
    directory = new NodeDirectory(node.nodeId, new NodeStore(node.sql), new ShardMapStore(node.sql), log);
    await directory.refresh();
    const dir = directory;
    gateway = Gateway.create({ nodeId: node.nodeId, life: node.incarnation, nc: node.nc, router: node.router, transport: node.transport, svc: chat, config: gw, log: log.child({ component: 'gateway' }), otherEndpoints: () => dir.others(), natsConnected: () => node.natsConnected });
    const g = gateway;
    dir.onConnectorMoves((shards) => g.restateShards(shards));
    mountDemoPage(g.app, gw, log.child({ component: 'demo' }));
    mountHttpApi({
      app: g.app,
      router: node.router,
      convs: chat.convs,
      messages: chat.messages,
      blocks: chat.blocks,
      userSettings: chat.userSettings,
      prefs: chat.prefs,
      hidden: chat.hidden,
      pins: chat.pins,
      presence: chat.presence,
      revokeTokens: (uid, did, beforeMs) => chat.revokeTokens(uid, did, beforeMs),
      signOut: (uid, did, reason) => chat.signOut(uid, did, reason),
      eraseUser: (uid, blank) => eraseAccount(node.router, chat, uid, blank),
      retentionChanged: () => sweeper?.settingChanged(true),
      event: (e) => chat.event(e),
      config: gw,
      log: log.child({ component: 'api' }),
      nodeId: node.nodeId,
      endpointsFor: (uid) => dir.endpointsFor(uid),
      // Ready for clients only while all three hold: a load balancer should send no one to a node that cannot serve.
      health: () => {
        const [lease, nats, accepting] = [node.leaseValid, node.natsConnected, g.isAccepting];
        return { ok: lease && nats && accepting, node: node.nodeId, connections: g.connections, accepting, lease, nats };
      },
      metrics,
    });
  }
  sampler = new LoadSampler(gateway?.sendLatency);
  sampler.start();
  sweeper = new RetentionSweeper({
    store: new MessageRetentionStore(node.sql),
    retentionSec: () => gw.messageRetentionSec,
    log: log.child({ component: 'retention' }),
    // Devices online drop what expired now, not at their next list.
    expired: (conv, seq) => node.router.tell(ChatKind.CHATTER, conv, ChatterOp.EXPIRED, { seq } satisfies ChatterExpired),
  });
  sweeper.start();
  // Business events for a business server that takes them over HTTP rather than from NATS.
  const webhook = config.webhook ? new WebhookForwarder({ nc: node.nc, config: config.webhook, log: log.child({ component: 'webhook' }) }) : undefined;
  webhook?.start();
  registerChatMetrics(metrics, chat.committer, gateway, webhook);
  // Connectors forget the devices of gateway processes that died without detaching them. A gateway node's
  // directory reads the live nodes every 2 s anyway: the watch sees those reads instead of making its own.
  let watch: GatewayWatch | undefined;
  // Users a dead node had announced online are announced offline by their connectors' new owners.
  let presenceSweep: PresenceSweep | undefined;
  if (config.kinds.includes(ChatKind.CONNECTOR)) {
    const nodes = new NodeStore(node.sql);
    const shardMap = new ShardMapStore(node.sql);
    const lost = (u: LostUser, life: string): Promise<unknown> => node.router.call(ChatKind.CONNECTOR, u.uid, ConnectorOp.PRESENCE_LOST, { did: u.did, life } satisfies ConnectorPresenceLost);
    const sweep = new PresenceSweep({
      store: chat.presence,
      live: () => nodes.live(),
      ownsConnectorShards: (nodeId) => shardMap.owns(nodeId, ChatKind.CONNECTOR),
      lost,
      log: log.child({ component: 'presence-sweep' }),
    });
    presenceSweep = sweep;
    movedAway = new MovedAwayPresence({
      store: chat.presence,
      life: presenceLife(node.nodeId, node.incarnation),
      shardOf: (uid) => node.router.shardOf(ChatKind.CONNECTOR, uid),
      lost,
      log: log.child({ component: 'presence-moved-away' }),
    });
    const w = new GatewayWatch({
      ...(directory ? {} : { live: () => nodes.live() }),
      onGone: (l) => {
        node.host.tellLive(ChatKind.CONNECTOR, ConnectorOp.GATEWAY_GONE, { gw: l.nodeId, life: l.incarnation } satisfies ConnectorGatewayGone);
        sweep.gone(l);
      },
      log: log.child({ component: 'gateway-watch' }),
    });
    directory?.onLiveNodes((live) => w.see(live));
    await w.start();
    watch = w;
    sweep.start();
  }
  const finish = async (how: 'drain' | 'close'): Promise<void> => {
    if (how === 'drain') await gateway?.drain();
    await gateway?.close();
    // Before the NATS connection goes: what this node took of the events is posted (or given up on) first.
    if (how === 'drain') await webhook?.drain();
    else webhook?.close();
    directory?.close();
    watch?.close();
    presenceSweep?.close();
    movedAway?.close();
    await sweeper?.close();
    await (how === 'drain' ? node.drain() : node.close());
    await chat.close();
    metrics.close();
    sampler?.close();
  };
  let ending: Promise<void> | undefined;
  if (gateway) {
    try {
      await gateway.listen();
    } catch (err) {
      // Taken since the check above: the node already joined and serves shards, so it leaves at once.
      await finish('close').catch(() => undefined);
      throw err;
    }
  }
  const result: ChatNode = {
    node,
    svc: chat,
    metrics,
    drain: () => (ending ??= finish('drain')),
    close: () => (ending ??= finish('close')),
  };
  if (gateway) result.gateway = gateway;
  whole = result;
  return result;
}
