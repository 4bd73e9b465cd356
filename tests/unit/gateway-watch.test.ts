import { describe, expect, it } from 'vitest';
import { GatewayWatch, type GatewayLife } from '../../actors/gateway-watch.js';
import { silentLogger } from '../../runtime/logger.js';

describe('gateway watch', () => {
  it('gateway watch – a life seen alive and missing later is reported once; a restart (new incarnation) ends the old life; a failed read reports nothing', async () => {
    let live: GatewayLife[] | Error = [
      { nodeId: 'a', incarnation: 'a1' },
      { nodeId: 'b', incarnation: 'b1' },
    ];
    const gone: string[] = [];
    const w = new GatewayWatch({ live: async () => (live instanceof Error ? Promise.reject(live) : live), onGone: (l) => gone.push(`${l.nodeId}/${l.incarnation}`), log: silentLogger() });
    await w.read();
    expect(gone).toEqual([]);
    // b restarted: another process holds its id now.
    live = [
      { nodeId: 'a', incarnation: 'a1' },
      { nodeId: 'b', incarnation: 'b2' },
    ];
    await w.read();
    expect(gone).toEqual(['b/b1']);
    // Postgres did not answer: no life is taken for dead on that.
    live = new Error('connection refused');
    await w.read();
    expect(gone).toEqual(['b/b1']);
    // a's lease ran out.
    live = [{ nodeId: 'b', incarnation: 'b2' }];
    await w.read();
    await w.read();
    expect(gone).toEqual(['b/b1', 'a/a1']);
    w.close();
  });
});
