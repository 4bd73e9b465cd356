import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { LeaseCell } from './lease-cell.js';
import type { Logger } from './logger.js';

/** What the lease thread is started with. */
export interface LeaseThreadData {
  databaseUrl: string;
  applicationName: string;
  nodeId: string;
  incarnation: string;
  endpoints: string[];
  heartbeatMs: number;
  leaseMs: number;
  stallMs: number;
  natsCutGraceMs: number;
  kinds?: string[];
  buffer: SharedArrayBuffer;
}

/** Messages to the lease thread. */
export type ToLeaseThread = { type: 'start' } | { type: 'load'; load: Record<string, unknown> | undefined } | { type: 'stop' };

/** Messages from the lease thread. */
export type FromLeaseThread =
  | { type: 'ready' }
  | { type: 'replaced'; leaseLeftMs: number }
  | { type: 'cut-off'; reachers: string[] }
  | { type: 'warn'; fields: Record<string, unknown>; msg: string };

export interface LeaseWorkerOptions extends Omit<LeaseThreadData, 'buffer' | 'natsCutGraceMs'> {
  natsCutGraceMs?: number;
  cell: LeaseCell;
  load?: () => Record<string, unknown>;
  log: Logger;
  onReplaced: (leaseLeftMs: number) => void;
  onCutOff?: (reachers: string[]) => void;
}

let bundled: Promise<URL> | undefined;

/**
 * The lease thread as one ES module in a data: URL, bundled from its TypeScript once per process. Node 20 does not
 * hand tsx's loader to worker threads; loading tsx's require hook in the thread instead cost ~19 MB of RSS per
 * node, the bundle (postgres.js included, as patched in setup) ~3 MB.
 */
function bundledEntry(): Promise<URL> {
  bundled ??= import('esbuild').then(async (esbuild) => {
    const entryPoint = fileURLToPath(new URL('./lease-thread.ts', import.meta.url));
    const out = await esbuild.build({ entryPoints: [entryPoint], bundle: true, platform: 'node', format: 'esm', target: 'node20', write: false, logLevel: 'silent' });
    return new URL(`data:text/javascript,${encodeURIComponent(out.outputFiles[0]!.text)}`);
  });
  return bundled;
}

/** How long the lease thread may take to load, and to stop, before it is given up on. */
const THREAD_START_TIMEOUT_MS = 15_000;
const THREAD_STOP_TIMEOUT_MS = 3_000;

/**
 * The main thread's handle on the lease thread: starts it, feeds it the node's load once a heartbeat and stops it.
 * A thread that dies by a defect is started again: without one the node would lose its lease for good.
 */
export class LeaseWorker {
  private worker?: Worker;
  private loadTimer?: NodeJS.Timeout;
  private restartTimer?: NodeJS.Timeout;
  private stopping = false;
  private stopped?: Promise<void>;

  constructor(private readonly opts: LeaseWorkerOptions) {}

  /** Starts the thread; resolves once it is loaded and connected to nothing yet (renewals begin with `renew`). */
  async start(): Promise<void> {
    // Built, the entry is plain JS next to this file; from source (tsx, vitest) it is bundled first.
    const entry = import.meta.url.endsWith('.ts') ? await bundledEntry() : new URL('./lease-thread.js', import.meta.url);
    if (this.stopping) return;
    const { cell, log, load, onReplaced, onCutOff, ...rest } = this.opts;
    const data: LeaseThreadData = { ...rest, natsCutGraceMs: rest.natsCutGraceMs ?? 0, buffer: cell.buffer };
    const worker = new Worker(entry, { workerData: data, name: `lease-${this.opts.nodeId}` });
    this.worker = worker;
    worker.on('message', (m: FromLeaseThread) => {
      if (m.type === 'warn') log.warn(m.fields, m.msg);
      else if (m.type === 'replaced') onReplaced(m.leaseLeftMs);
      else if (m.type === 'cut-off') onCutOff?.(m.reachers);
    });
    worker.on('error', (err) => log.error({ err: err.message }, 'lease thread failed'));
    worker.once('exit', (code) => {
      // Replaced already, or given up on while starting.
      if (this.worker !== worker) return;
      // Forgotten at once: stop() must not wait for the exit of a thread that has exited.
      this.worker = undefined;
      if (this.stopping) return;
      log.error({ code }, 'lease thread exited: starting it again');
      this.restartTimer = setTimeout(() => void this.restart(), this.opts.heartbeatMs);
    });
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the lease thread did not start within ${THREAD_START_TIMEOUT_MS} ms`)), THREAD_START_TIMEOUT_MS);
      worker.on('message', (m: FromLeaseThread) => m.type === 'ready' && (clearTimeout(timer), resolve()));
      worker.once('exit', (code) => (clearTimeout(timer), reject(new Error(`the lease thread exited with code ${code} while starting`))));
    });
    try {
      await ready;
    } catch (err) {
      this.worker = undefined;
      await worker.terminate();
      throw err;
    }
  }

  /** Begins renewing (call after the node registered), with the node's load sent along once a heartbeat. */
  renew(): void {
    const post = (m: ToLeaseThread): void => this.worker?.postMessage(m);
    const sendLoad = (): void => post({ type: 'load', load: this.opts.load?.() });
    sendLoad();
    post({ type: 'start' });
    if (this.loadTimer) clearInterval(this.loadTimer);
    this.loadTimer = setInterval(sendLoad, this.opts.heartbeatMs);
  }

  /** Stops renewing and ends the thread. */
  stop(): Promise<void> {
    this.stopping = true;
    return (this.stopped ??= this.end());
  }

  private async end(): Promise<void> {
    if (this.loadTimer) clearInterval(this.loadTimer);
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const worker = this.worker;
    if (!worker) return;
    const exited = once(worker, 'exit').catch(() => undefined);
    worker.postMessage({ type: 'stop' } satisfies ToLeaseThread);
    const timer = setTimeout(() => void worker.terminate(), THREAD_STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  }

  private async restart(): Promise<void> {
    if (this.stopping) return;
    try {
      await this.start();
      if (!this.stopping) this.renew();
    } catch (err) {
      if (this.stopping) return;
      this.opts.log.error({ err: (err as Error).message }, 'lease thread could not be started again');
      this.restartTimer = setTimeout(() => void this.restart(), this.opts.heartbeatMs);
    }
  }
}
