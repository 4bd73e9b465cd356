/**
 * Entry point of the lease thread (started by `LeaseWorker`): renews this node's lease over its own Postgres
 * connection, on its own event loop.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { connect } from '../storage/db.js';
import { NodeStore } from '../storage/node-store.js';
import { LeaseCell } from './lease-cell.js';
import { LeaseRenewer } from './lease-renewer.js';
import type { LeaseThreadData, ToLeaseThread, FromLeaseThread } from './lease-worker.js';

const data = workerData as LeaseThreadData;
const port = parentPort!;
const post = (m: FromLeaseThread): void => port.postMessage(m);

// One connection: renewals are one-row updates, and the few outstanding at once may queue on it.
const sql = connect(data.databaseUrl, { max: 1, applicationName: data.applicationName });
let load: Record<string, unknown> | undefined;
const renewer = new LeaseRenewer({
  nodeId: data.nodeId,
  incarnation: data.incarnation,
  endpoints: data.endpoints,
  nodes: new NodeStore(sql),
  heartbeatMs: data.heartbeatMs,
  leaseMs: data.leaseMs,
  cell: new LeaseCell(data.buffer),
  stallMs: data.stallMs,
  natsCutGraceMs: data.natsCutGraceMs,
  ...(data.kinds && { kinds: data.kinds }),
  load: () => load,
  onReplaced: (err) => post({ type: 'replaced', leaseLeftMs: err.leaseLeftMs }),
  onCutOff: (reachers) => post({ type: 'cut-off', reachers }),
  warn: (fields, msg) => post({ type: 'warn', fields, msg }),
});

port.on('message', (m: ToLeaseThread) => {
  if (m.type === 'load') load = m.load;
  else if (m.type === 'start') renewer.start();
  else if (m.type === 'stop') {
    renewer.stop();
    // The thread ends once its connection and its port are closed.
    void sql.end({ timeout: 1 }).catch(() => undefined).finally(() => port.close());
  }
});
post({ type: 'ready' });
