import { describe, expect, it } from 'vitest';
import { MENTION_ALL_ROWS_PER_MINUTE, MentionAllBudget } from '../../actors/mention-all-budget.js';
import { ErrorCode } from '../../protocol/errors.js';
import { codeOf } from '../helpers/wait.js';

describe('mention-all budget', () => {
  it('mention-all budget – a minute of rows goes at once, then they come back with time; small groups hardly spend any', async () => {
    const b = new MentionAllBudget(0);
    b.take('g', 10_001, 0);
    b.take('g', 10_001, 0);
    expect(await codeOf(Promise.resolve().then(() => b.take('g', 10_001, 0)))).toBe(ErrorCode.RATE_LIMITED);
    expect(() => b.take('g', 10_001, 0)).toThrow(/try again in 30 s/);
    // Half a minute later, half the rows are back.
    b.take('g', 10_001, 30_000);
    expect(() => b.take('g', 2, 30_000)).toThrow();
    const small = new MentionAllBudget(0);
    for (let i = 0; i < MENTION_ALL_ROWS_PER_MINUTE / 10; i++) small.take('s', 11, 0);
    expect(() => small.take('s', 11, 0)).toThrow();
    small.take('s', 11, 60_000 / (MENTION_ALL_ROWS_PER_MINUTE / 10));
  });
});
