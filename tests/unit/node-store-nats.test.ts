import { describe, expect, it } from 'vitest';
import { cutOffFromNats } from '../../storage/node-store.js';

describe('node store – nodes cut off from NATS', () => {
  it('node store – the nodes whose heartbeat said NATS down are cut off, unless every one did (NATS itself is down)', () => {
    const n = (nodeId: string, nats?: boolean) => ({ nodeId, load: nats === undefined ? {} : { nats } });
    expect(cutOffFromNats([n('a', true), n('b', false), n('c')])).toEqual(new Set(['b']));
    expect(cutOffFromNats([n('a', false), n('b', false)])).toEqual(new Set());
    expect(cutOffFromNats([])).toEqual(new Set());
  });
});
