import { describe, expect, it } from 'vitest';
import { withoutApplicationName } from '../../storage/commit-connection.js';

describe('group commit connection – its URL', () => {
  it('commit connection – an application_name in the database URL is taken out, the rest kept, multi-host URLs too', () => {
    expect(withoutApplicationName('postgres://u:p@h:5432/db')).toBe('postgres://u:p@h:5432/db');
    expect(withoutApplicationName('postgres://u:p@h:5432/db?application_name=x')).toBe('postgres://u:p@h:5432/db');
    expect(withoutApplicationName('postgres://u@h1:5432,h2:5432/db?sslmode=require&application_name=x&target_session_attrs=read-write')).toBe(
      'postgres://u@h1:5432,h2:5432/db?sslmode=require&target_session_attrs=read-write',
    );
    expect(withoutApplicationName('postgres://u@h/db?application%5Fname=x&a=1')).toBe('postgres://u@h/db?a=1');
  });
});
