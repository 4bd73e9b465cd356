import { describe, expect, it } from 'vitest';
import { MENTION_ALL_ROWS_PER_MINUTE, mentionAllBudget, REACTION_DELIVERIES_PER_SEC, reactionBudget } from '../../actors/send-budget.js';
import { ErrorCode } from '../../protocol/errors.js';
import { codeOf } from '../helpers/wait.js';

describe('send budgets', () => {
  it('mention-all budget – a minute of rows goes at once, then they come back with time; small groups hardly spend any', async () => {
    const b = mentionAllBudget(0);
    b.take('g', 10_000, 0);
    b.take('g', 10_000, 0);
    expect(await codeOf(Promise.resolve().then(() => b.take('g', 10_000, 0)))).toBe(ErrorCode.RATE_LIMITED);
    expect(() => b.take('g', 10_000, 0)).toThrow(/try again in 30 s/);
    // Half a minute later, half the rows are back.
    b.take('g', 10_000, 30_000);
    expect(() => b.take('g', 1, 30_000)).toThrow();
    const small = mentionAllBudget(0);
    for (let i = 0; i < MENTION_ALL_ROWS_PER_MINUTE / 10; i++) small.take('s', 10, 0);
    expect(() => small.take('s', 10, 0)).toThrow();
    small.take('s', 10, 60_000 / (MENTION_ALL_ROWS_PER_MINUTE / 10));
  });

  it('reaction budget – a channel of 100,000 gets two reactions a second; a send bigger than a whole second of budget still goes after a wait', async () => {
    const channel = reactionBudget(0);
    channel.take('c', 100_000, 0);
    channel.take('c', 100_000, 0);
    expect(() => channel.take('c', 100_000, 0)).toThrow(/reactions in c may reach 200000 members a second; try again in 1 s/);
    channel.take('c', 100_000, 500);
    const huge = reactionBudget(0);
    huge.take('h', REACTION_DELIVERIES_PER_SEC * 3, 0);
    expect(await codeOf(Promise.resolve().then(() => huge.take('h', REACTION_DELIVERIES_PER_SEC * 3, 10)))).toBe(ErrorCode.RATE_LIMITED);
    huge.take('h', REACTION_DELIVERIES_PER_SEC * 3, 1_000);
  });

  it('send budgets – a wall clock stepped back refuses nothing that a full budget would take', () => {
    const b = reactionBudget(100_000);
    // NTP steps the clock 10 s back: the budget is still full.
    b.take('c', 1000, 90_000);
    b.take('c', 1000, 90_001);
    const m = mentionAllBudget(100_000);
    m.take('g', 1000, 90_000);
  });
});
