import type { NodeMetrics } from '../runtime/metrics.js';
import type { GroupCommitter } from './group-commit.js';
import type { Gateway } from './gateway/gateway.js';
import type { WebhookForwarder } from './webhook-forwarder.js';

/** Registers what the chat services count: the group commit, and the gateway and the webhook when the node has them. */
export function registerChatMetrics(m: NodeMetrics, committer: GroupCommitter, gateway: Gateway | undefined, webhook?: WebhookForwarder): void {
  if (webhook) {
    const w = webhook.stats;
    m.counter('im_webhook_delivered_total', 'Webhook POSTs of business events answered 2xx.', () => w.delivered);
    m.counter('im_webhook_retried_total', 'Webhook POSTs that failed (network, timeout, 408, 413, 429, 5xx) and were tried again, whole or split.', () => w.retried);
    m.counter('im_webhook_refused_total', 'Webhook POSTs answered with another 4xx: refused by the business server, not tried again.', () => w.refused);
    m.counter('im_webhook_dropped_total', 'Batches of business events dropped because the webhook queue was full.', () => w.dropped);
    m.counter('im_webhook_abandoned_total', 'Webhook requests given up after the receiver answered them with failures (408, 500 and 5xx but 502–504) for 10 minutes.', () => w.abandoned);
    m.gauge('im_webhook_backlog_bytes', 'Bytes of business events waiting for the webhook.', () => webhook.backlogBytes);
  }
  const c = committer.stats;
  m.counter('im_commit_statements_total', 'Group-commit statements run (one INSERT and one commit each).', () => c.batches);
  m.counter('im_commit_rows_total', 'Chat messages stored by the group commit.', () => c.rows);
  m.counter('im_commit_failed_rows_total', 'Chat messages the group commit refused (fenced, or behind a failed row); their senders re-send.', () => c.failedRows);
  m.counter('im_commit_seconds_total', 'Time group-commit statements took, summed (divide by statements for the mean).', () => c.statementMs / 1000);
  m.gauge('im_commit_backlog', 'Chat messages waiting for or inside the group-commit statement now.', () => committer.backlog);
  m.gauge('im_commit_backlog_bytes', 'Bytes of chat messages (bodies, and 512 each besides) waiting for or inside the group-commit statement; past --commit-max-backlog-mb new messages are refused overloaded.', () => committer.backlogBytes);
  m.histogram(committer.statementLatency);
  m.histogram(committer.rowLatency);
  if (!gateway) return;
  m.histogram(gateway.sendLatency);
  const g = gateway.stats;
  m.gauge('im_gateway_connections', 'Open client WebSocket connections.', () => gateway.connections);
  m.gauge('im_gateway_accepting', '1 while the gateway takes new connections, 0 while draining or closing.', () => (gateway.isAccepting ? 1 : 0));
  m.gauge('im_gateway_attaches_queued', 'Sessions waiting for their turn to attach to their connector (a connect burst; they have their welcome).', () => gateway.attachesQueued);
  m.gauge('im_gateway_revoked_users', 'Users with a token revocation this gateway holds in memory (forgotten once every token it covers has expired).', () => gateway.revokedUsers);
  m.counter('im_gateway_connections_opened_total', 'Client connections upgraded and opened.', () => g.opened);
  m.counterBy('im_gateway_upgrades_refused_total', 'Upgrades refused, by error code.', 'code', () => g.refused);
  m.counterBy('im_gateway_closes_total', 'Client connections closed, by WebSocket close code (1006: dropped without a close frame).', 'code', () => g.closes);
  m.counter('im_gateway_frames_received_total', 'Frames read from clients.', () => g.framesIn);
  m.counter('im_gateway_frames_sent_total', 'Frames queued to clients.', () => g.framesOut);
  m.counterBy('im_gateway_error_frames_total', 'Error frames sent to clients, by error code.', 'code', () => g.errors);
}
