import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../runtime/config.js';
import { parseAdminConfig } from '../../runtime/config-scripts.js';
import { natsLogin } from '../../runtime/nats-login.js';

const DB = { DATABASE_URL: 'postgres://u@127.0.0.1:5432/im' };

describe('NATS login', () => {
  it('config – NATS_USER and NATS_PASSWORD, or NATS_TOKEN, reach the node and imctl; none is an open server', () => {
    expect(parseConfig([], { ...DB, NATS_USER: 'natsim', NATS_PASSWORD: 'pw' }).natsAuth).toEqual({ user: 'natsim', pass: 'pw' });
    expect(parseConfig([], { ...DB, NATS_TOKEN: 't0k' }).natsAuth).toEqual({ token: 't0k' });
    expect(parseConfig([], { ...DB }).natsAuth).toBeUndefined();
    expect(parseAdminConfig({}, { ...DB, NATS_USER: 'natsim', NATS_PASSWORD: 'pw' }, {}).natsAuth).toEqual({ user: 'natsim', pass: 'pw' });
    expect(parseAdminConfig({}, { ...DB }, {}).natsAuth).toBeUndefined();
  });

  it('config – credentials written in the NATS URLs are taken out of them (nats.js would drop them) and used', () => {
    const c = parseConfig([], { ...DB, NATS_URL: 'nats://natsim:p%40ss@10.0.0.1:4222,nats://natsim:p%40ss@10.0.0.2:4222' });
    expect(c.natsServers).toEqual(['nats://10.0.0.1:4222', 'nats://10.0.0.2:4222']);
    expect(c.natsAuth).toEqual({ user: 'natsim', pass: 'p@ss' });
    // A lone name is a token (the Go client's and the nats CLI's reading); a URL without them shares the others'.
    expect(natsLogin(['nats://s3cret@a:4222', 'b:4222'], {})).toEqual({ servers: ['nats://a:4222', 'b:4222'], auth: { token: 's3cret' } });
    expect(natsLogin(['u:p@a:4222'], {})).toEqual({ servers: ['a:4222'], auth: { user: 'u', pass: 'p' } });
    expect(natsLogin(['nats://a:4222'], {})).toEqual({ servers: ['nats://a:4222'] });
    expect(parseAdminConfig({}, { ...DB, NATS_URL: 'nats://u:p@a:4222' }, {})).toMatchObject({ natsServers: ['nats://a:4222'], natsAuth: { user: 'u', pass: 'p' } });
  });

  it('config – credentials that cannot be meant stop the start, naming what is wrong', () => {
    const bad: [string[], NodeJS.ProcessEnv, RegExp][] = [
      [[], { NATS_USER: 'u' }, /NATS_USER is set without NATS_PASSWORD/],
      [[], { NATS_PASSWORD: 'p' }, /NATS_PASSWORD is set without NATS_USER/],
      [[], { NATS_TOKEN: '' }, /NATS_TOKEN is set but empty/],
      [[], { NATS_TOKEN: 't', NATS_USER: 'u', NATS_PASSWORD: 'p' }, /both set/],
      [[], { NATS_URL: 'nats://u:p@a:4222', NATS_TOKEN: 't' }, /given twice/],
      [[], { NATS_URL: 'nats://u:p@a:4222,nats://u:q@b:4222' }, /different credentials/],
      [[], { NATS_URL: 'nats://u:50%off@a:4222' }, /not valid percent-encoding/],
      // On the command line, any local user would read them (ps).
      [['--nats', 'nats://u:p@a:4222'], {}, /--nats carries credentials/],
    ];
    for (const [argv, env, message] of bad) {
      expect(() => parseConfig(argv, { ...DB, ...env })).toThrow(ConfigError);
      expect(() => parseConfig(argv, { ...DB, ...env })).toThrow(message);
    }
    expect(() => parseAdminConfig({}, { ...DB, NATS_USER: 'u' }, {})).toThrow(/NATS_USER is set without NATS_PASSWORD/);
    expect(() => parseAdminConfig({ nats: 'nats://u:p@a:4222' }, DB, {})).toThrow(/--nats carries credentials/);
  });
});
