import { Session } from 'node:inspector/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * postgres.js keeps its pool's connections in queues (open, busy, …). When every connection is busy, a query
 * shifts one out of `busy`, and the connection is pushed back after taking the query. The driver's queue left a
 * slot behind at every shift and emptied its array only when a shift took the last element, which a busy pool
 * rarely does: a node's heap grew with every query it pipelined (`npm run bench -- soak` found it), and every
 * move of a connection scanned all those slots. scripts/patch-deps.mjs repairs it; this test fails without it.
 */
interface DriverQueue<T> {
  readonly length: number;
  push(x: T): T;
  shift(): T | undefined;
  remove(x: T): T | null;
}

const QUEUE_MODULE = pathToFileURL(path.resolve('node_modules/postgres/src/queue.js')).href;

/** How many slots the queue's private array holds, read from the closure of its `shift` through the inspector. */
async function slotsOf(q: DriverQueue<unknown>): Promise<number> {
  const session = new Session();
  session.connect();
  try {
    (globalThis as Record<string, unknown>)['__natsimQueue'] = q;
    const { result } = await session.post('Runtime.evaluate', { expression: '__natsimQueue.shift' });
    const fn = await session.post('Runtime.getProperties', { objectId: result.objectId! });
    const scopes = fn.internalProperties!.find((p) => p.name === '[[Scopes]]')!;
    const list = await session.post('Runtime.getProperties', { objectId: scopes.value!.objectId! });
    const closure = await session.post('Runtime.getProperties', { objectId: list.result[0]!.value!.objectId! });
    const xs = closure.result.find((p) => p.name === 'xs')!;
    return Number(/Array\((\d+)\)/.exec(xs.value!.description!)![1]);
  } finally {
    delete (globalThis as Record<string, unknown>)['__natsimQueue'];
    session.disconnect();
  }
}

describe('pg driver queue', () => {
  it('pg driver – a busy pool that pipelines queries does not keep a slot per query', async () => {
    const { default: Queue } = (await import(QUEUE_MODULE)) as { default: <T>() => DriverQueue<T> };
    const busy = Queue<{ id: number }>();
    for (let id = 0; id < 8; id++) busy.push({ id });
    // What the pool does for each query that finds every connection busy: shift one, then move it back to busy.
    for (let i = 0; i < 50_000; i++) {
      const c = busy.shift()!;
      busy.remove(c);
      busy.push(c);
    }
    expect(busy.length).toBe(8);
    // Unpatched: 50,008 slots, 50,000 of them empty.
    expect(await slotsOf(busy)).toBeLessThan(100);
  });
});
