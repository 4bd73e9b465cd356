// Starts a worker thread on a TypeScript module (workerData.entry) when the process runs from source through tsx or
// vitest: Node 20 does not hand a process's module loader hooks to its worker threads, tsx's require hook works there.
import { workerData } from 'node:worker_threads';
import { require as tsxRequire } from 'tsx/cjs/api';

tsxRequire(workerData.entry, import.meta.url);
