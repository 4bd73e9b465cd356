import { describe, expect, it } from 'vitest';
import { ErrorCode, ImError } from '../../protocol/errors.js';
import { rolledBack } from '../../storage/pg-errors.js';

const wrapped = (cause: unknown) => new ImError(ErrorCode.STORAGE, 'append messages', { cause });

describe('storage errors – what a failed write left behind', () => {
  it('storage errors – only an ERROR from Postgres says the write was rolled back; a FATAL, a socket error or a deadline leave it unknown', () => {
    expect(rolledBack(wrapped({ name: 'PostgresError', severity: 'ERROR', code: '22P05' }))).toBe(true);
    expect(rolledBack(wrapped({ name: 'PostgresError', severity: 'FATAL', code: '57P01' }))).toBe(false);
    expect(rolledBack(wrapped(Object.assign(new Error('write EPROTO'), { code: 'EPROTO' })))).toBe(false);
    expect(rolledBack(new ImError(ErrorCode.TIMEOUT, 'append messages: no answer within 10000 ms'))).toBe(false);
  });
});
