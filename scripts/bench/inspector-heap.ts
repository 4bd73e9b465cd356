import { readFile, writeFile } from 'node:fs/promises';
import WebSocket from 'ws';

/** How long to wait for the inspector to answer one command (a full GC of a large heap takes a while). */
const INSPECTOR_TIMEOUT_MS = 30_000;

/** The inspector URL a process started with `--inspect=127.0.0.1:0` printed to its log (stderr). */
export async function inspectorUrl(logFile: string): Promise<string> {
  const text = await readFile(logFile, 'utf8');
  const m = /Debugger listening on (ws:\/\/127\.0\.0\.1:\d+\/[\w-]+)/.exec(text);
  if (!m) throw new Error(`no inspector URL in ${logFile}: start the process with --inspect=127.0.0.1:0`);
  return m[1]!;
}

/**
 * The live heap of a process: a full garbage collection through its inspector, then `process.memoryUsage()`
 * read inside it (and a heap snapshot written to `snapshotFile`, when given: Chrome DevTools opens it). A heap
 * figure read without the collection includes whatever garbage the last one left.
 */
export async function heapAfterFullGc(url: string, snapshotFile?: string): Promise<{ heapUsed: number; rss: number }> {
  const ws = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  let nextId = 1;
  const call = (method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      const t = setTimeout(() => reject(new Error(`inspector did not answer ${method} within ${INSPECTOR_TIMEOUT_MS} ms`)), INSPECTOR_TIMEOUT_MS);
      const onMessage = (data: WebSocket.RawData): void => {
        const m = JSON.parse(String(data)) as { id?: number; result?: Record<string, unknown>; error?: { message: string } };
        if (m.id !== id) return;
        clearTimeout(t);
        ws.off('message', onMessage);
        if (m.error) reject(new Error(`${method}: ${m.error.message}`));
        else resolve(m.result ?? {});
      };
      ws.on('message', onMessage);
      ws.send(JSON.stringify({ id, method, params }));
    });
  try {
    // Twice: the first collection's finalizers and weak callbacks free more for the second.
    await call('HeapProfiler.collectGarbage');
    await call('HeapProfiler.collectGarbage');
    const r = await call('Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true });
    const value = (r['result'] as { value?: string } | undefined)?.value;
    if (typeof value !== 'string') throw new Error(`process.memoryUsage() through the inspector gave ${JSON.stringify(r)}`);
    const mem = JSON.parse(value) as { heapUsed: number; rss: number };
    if (snapshotFile !== undefined) {
      // The snapshot comes as chunk events; they all arrive before the command's answer.
      const chunks: string[] = [];
      const onChunk = (data: WebSocket.RawData): void => {
        const m = JSON.parse(String(data)) as { method?: string; params?: { chunk: string } };
        if (m.method === 'HeapProfiler.addHeapSnapshotChunk') chunks.push(m.params!.chunk);
      };
      ws.on('message', onChunk);
      await call('HeapProfiler.takeHeapSnapshot', { reportProgress: false });
      ws.off('message', onChunk);
      await writeFile(snapshotFile, chunks.join(''));
    }
    return { heapUsed: mem.heapUsed, rss: mem.rss };
  } finally {
    ws.close();
  }
}
