import type { NodeMetrics } from './metrics.js';
import type { ClusterNode } from './node.js';

/** Registers what the runtime of `node` counts: actors, shards, its lease, the transport and its NATS connection. */
export function registerRuntimeMetrics(m: NodeMetrics, node: ClusterNode): void {
  const t = (): ReturnType<ClusterNode['transport']['stats']> => node.transport.stats();
  m.gaugeBy('im_actors_active', 'Actors live on this node, per kind.', 'kind', () => Object.entries(node.host.counts()));
  m.gaugeBy('im_shards_served', 'Shards this node serves, per kind.', 'kind', () => {
    const per = new Map<string, number>();
    for (const s of node.shards.list()) per.set(s.kind, (per.get(s.kind) ?? 0) + 1);
    return per;
  });
  m.gauge('im_node_lease_valid', '1 while this node holds a valid membership lease, else 0 (it serves nothing without one).', () => (node.leaseValid ? 1 : 0));
  m.counter('im_node_lease_losses_total', 'Times this node judged its lease lost and let every shard go (a stall or a slow database; each costs a re-attach of its sessions).', () => node.leaseLosses);
  m.gauge('im_node_nats_connected', '1 while this node is connected to NATS, else 0 (it can route no message without it).', () => (node.natsConnected ? 1 : 0));
  m.counter('im_fenced_writes_total', 'Writes Postgres refused because another node owns the shard now.', () => node.fencedWrites);
  m.counter('im_transport_calls_total', 'Actor calls sent (local and over NATS).', () => t().callsSent);
  m.counter('im_transport_call_batches_total', 'Batches those calls went out in.', () => t().batchesSent);
  m.counter('im_transport_tells_total', 'One-way actor messages sent.', () => t().tellsSent);
  m.counter('im_transport_tell_batches_total', 'Batches those tells went out in.', () => t().tellBatchesSent);
  m.counter('im_transport_tells_dropped_total', 'Tells dropped (no responder for their subject, or the connection closing).', () => t().tellsDropped);
  m.counter('im_transport_retries_total', 'Batches sent again: no responders, or the node they reached no longer served the shard.', () => t().noResponderRetries + t().notServedRetries);
  m.counter('im_transport_timeouts_total', 'Calls that met their deadline without an answer.', () => t().timeouts);
  m.counter('im_transport_unavailable_total', 'Calls that failed because nobody served their shard in time.', () => t().unavailable);
  m.gauge('im_transport_outstanding_calls', 'Calls waiting for their answer right now.', () => t().outstanding);
  m.counter('im_nats_sent_messages_total', 'Messages this node published to NATS.', () => node.nc.stats().outMsgs);
  m.counter('im_nats_received_messages_total', 'Messages this node received from NATS.', () => node.nc.stats().inMsgs);
  m.counter('im_nats_sent_bytes_total', 'Bytes this node published to NATS.', () => node.nc.stats().outBytes);
  m.counter('im_nats_received_bytes_total', 'Bytes this node received from NATS.', () => node.nc.stats().inBytes);
}
