import { describe, expect, it } from 'vitest';
import type { ChainState } from '../../protocol/sdk/chain-state.js';
import { HIDES_ASKS_AT_ONCE, HidesCatchUp } from '../../protocol/sdk/hides-catch-up.js';

const turn = () => new Promise<void>((r) => setTimeout(r, 0));

/** A catch-up whose asks wait until the test answers them, by conversation. */
function harness() {
  const asked: string[] = [];
  const answers = new Map<string, () => void>();
  const state = { open: true };
  const catchUp = new HidesCatchUp({
    hides: (conv) => new Promise<void>((resolve) => (asked.push(conv), answers.set(conv, resolve))),
    isOpen: () => state.open,
    isClosed: () => false,
  });
  const answer = async (conv: string) => (answers.get(conv)!(), await turn());
  return { catchUp, asked, answer, state };
}

const chain = (conv: string): ChainState => ({ conv }) as ChainState;

describe('sdk hides catch-up – pacing', () => {
  it('sdk hides – a list with new hides in many conversations asks a few at a time, each once, and counts each known once answered', async () => {
    const h = harness();
    const chains = Array.from({ length: 10 }, (_, i) => chain(`c${i}`));
    for (const s of chains) h.catchUp.listed(s, 100);
    // A second list meanwhile adds nothing.
    for (const s of chains) h.catchUp.listed(s, 100);
    expect(h.asked).toEqual(['c0', 'c1', 'c2', 'c3'].slice(0, HIDES_ASKS_AT_ONCE));
    await h.answer('c1');
    expect(chains[1]!.hiddenAt).toBe(100);
    expect(h.asked).toHaveLength(HIDES_ASKS_AT_ONCE + 1);
    // Each answer lets the next one go.
    for (let i = 0; i < 10; i++) if (i !== 1) await h.answer(`c${i}`);
    expect(h.asked).toEqual(chains.map((s) => s.conv));
    expect(chains.every((s) => s.hiddenAt === 100)).toBe(true);
  });

  it('sdk hides – asks still waiting when the connection drops are dropped, and the next list asks them again', async () => {
    const h = harness();
    const chains = Array.from({ length: 6 }, (_, i) => chain(`d${i}`));
    for (const s of chains) h.catchUp.listed(s, 5);
    h.state.open = false;
    await h.answer('d0');
    expect(h.asked).toEqual(['d0', 'd1', 'd2', 'd3']);
    h.state.open = true;
    for (const s of chains) h.catchUp.listed(s, 5);
    // d0 is known; d1..d3 are still out; d4 goes now, d5 after the next answer.
    expect(h.asked).toEqual(['d0', 'd1', 'd2', 'd3', 'd4']);
    await h.answer('d1');
    expect(h.asked).toEqual(['d0', 'd1', 'd2', 'd3', 'd4', 'd5']);
  });
});
