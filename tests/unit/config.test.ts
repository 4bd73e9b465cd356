import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_TOKEN_LIFETIME_SEC } from '../../protocol/limits.js';
import { ConfigError, DEFAULT_COMMIT_GATHER_BELOW, DEFAULT_COMMIT_GATHER_MS, DEFAULT_COMMIT_MAX_BACKLOG_MB, DEFAULT_COMMIT_MAX_ROWS, envName, parseConfig, WEBHOOK_EVENT_TYPES } from '../../runtime/config.js';
import { parseStartConfig } from '../../runtime/config-scripts.js';

const base = ['--node-id', 'c1', '--database-url', 'postgres://x/y'];

describe('config', () => {
  it('config – every flag has an environment form, IM_ and the flag in capitals (a few keep older names); a flag beats it', () => {
    expect(envName('max-group-members')).toBe('IM_MAX_GROUP_MEMBERS');
    expect(envName('recall-window')).toBe('IM_RECALL_WINDOW_S');
    expect(envName('database-url')).toBe('DATABASE_URL');
    // Flags that once had no environment form at all.
    const env = {
      IM_REQUEST_TIMEOUT_MS: '1234',
      IM_ACTOR_IDLE_MS: '4321',
      IM_HANDOFF_TIMEOUT_MS: '999',
      IM_MAX_CONNECTIONS: '77',
      IM_MAX_FRAME_BYTES: '2000',
      IM_RATE_BURST: '11',
      IM_RATE_CLOSE_AFTER: '12',
      IM_CLIENT_HEARTBEAT_MS: '5000',
      IM_MAX_BACKPRESSURE: '65536',
      IM_LARGE_GROUP: '7',
      IM_MAX_USER_CONVERSATIONS: '300',
      IM_MAX_GROUP_MEMBERS: '500',
      IM_MAX_PINNED: '9',
      IM_NO_EVENTS: '1',
    };
    const c = parseConfig(base, env);
    expect([c.requestTimeoutMs, c.actorIdleMs, c.handoffPhaseTimeoutMs]).toEqual([1234, 4321, 999]);
    const g = c.gateway;
    expect([g.maxConnections, g.maxFrameBytes, g.rateBurst, g.rateCloseAfterSec, g.heartbeatMs, g.maxBackpressureBytes]).toEqual([77, 2000, 11, 12, 5000, 65536]);
    expect([g.largeGroupMembers, g.maxUserConversations, g.maxGroupMembers, g.maxPinned, g.events]).toEqual([7, 300, 500, 9, false]);
    expect(parseConfig([...base, '--large-group', '8', '--request-timeout-ms', '50'], env)).toMatchObject({ requestTimeoutMs: 50, gateway: { largeGroupMembers: 8 } });
    expect(parseConfig(base, { IM_NO_EVENTS: '0' }).gateway.events).toBe(true);
    expect(() => parseConfig(base, { IM_MAX_FRAME_BYTES: String(10 * 1024 * 1024) })).toThrow(/max-frame-bytes/);
    expect(() => parseConfig(base, { IM_MAX_FRAME_BYTES: '512' })).toThrow(/max-frame-bytes must be an integer from 1024/);
  });

  it('config – without --node-id (or IM_NODE_ID) the id is the host and pid, and the config says so (the node warns)', () => {
    const rest = base.slice(2);
    expect(parseConfig(base, {})).toMatchObject({ nodeId: 'c1', nodeIdFromHost: false });
    expect(parseConfig(rest, { IM_NODE_ID: 'c2' })).toMatchObject({ nodeId: 'c2', nodeIdFromHost: false });
    expect(parseConfig(rest, {})).toMatchObject({ nodeId: expect.stringMatching(new RegExp(`-${process.pid}$`)), nodeIdFromHost: true });
    // Likewise whether --shards was given (a cluster that keeps another count is then warned of).
    expect([parseConfig(base, {}).shardCountGiven, parseConfig([...base, '--shards', '64'], {}).shardCountGiven, parseConfig(base, { IM_SHARDS: '64' }).shardCountGiven]).toEqual([false, true, true]);
  });

  it('config – a timing past what a timer takes, or a heartbeat too short to keep a lease, is refused with the flag named', () => {
    // Past 2^31 - 1 ms, Node fires a timer after 1 ms: every call would time out at once.
    expect(() => parseConfig([...base, '--request-timeout-ms', '3000000000'], {})).toThrow(/request-timeout-ms must be an integer from 1 to 2147483647/);
    expect(() => parseConfig([...base, '--lease-ms', '2147483648'], {})).toThrow(/lease-ms/);
    expect(() => parseConfig([...base, '--heartbeat-ms', '1', '--lease-ms', '3'], {})).toThrow(/heartbeat-ms must be an integer from 50/);
    expect(parseConfig([...base, '--heartbeat-ms', '50', '--lease-ms', '150'], {})).toMatchObject({ heartbeatMs: 50, leaseMs: 150 });
  });

  it('config – the NATS cut grace is 10 s unless told, never shorter than a lease and a heartbeat (what peers report is that old), and 0 turns it off', () => {
    expect(parseConfig(base, {}).natsCutGraceMs).toBe(10_000);
    expect(parseConfig([...base, '--heartbeat-ms', '200', '--lease-ms', '30000'], {}).natsCutGraceMs).toBe(30_200);
    expect(parseConfig([...base, '--nats-cut-grace-ms', '0'], {}).natsCutGraceMs).toBe(0);
    expect(parseConfig(base, { IM_NATS_CUT_GRACE_MS: '4000' }).natsCutGraceMs).toBe(4000);
    expect(() => parseConfig([...base, '--nats-cut-grace-ms', '1000'], {})).toThrow(/nats-cut-grace-ms \(1000\) must be 0 \(never\) or at least lease-ms \+ heartbeat-ms \(1800\)/);
  });

  it('config – the group commit keeps its defaults unless told otherwise', () => {
    expect(parseConfig(base, {}).commit).toEqual({ maxRows: DEFAULT_COMMIT_MAX_ROWS, gatherBelow: DEFAULT_COMMIT_GATHER_BELOW, gatherMs: DEFAULT_COMMIT_GATHER_MS, maxBacklogBytes: DEFAULT_COMMIT_MAX_BACKLOG_MB * 1024 * 1024 });
  });

  it('config – group-commit sizing comes from flags first, then IM_COMMIT_* variables; 0 turns gathering off', () => {
    const env = { IM_COMMIT_MAX_ROWS: '500', IM_COMMIT_GATHER_MS: '5', IM_COMMIT_MAX_BACKLOG_MB: '8' };
    expect(parseConfig([...base, '--commit-gather-ms', '0', '--commit-gather-below', '0'], env).commit).toEqual({ maxRows: 500, gatherBelow: 0, gatherMs: 0, maxBacklogBytes: 8 * 1024 * 1024 });
  });

  it('config – a group-commit size that makes no sense is refused with the flag named', () => {
    expect(() => parseConfig([...base, '--commit-max-rows', '0'], {})).toThrow(ConfigError);
    expect(() => parseConfig([...base, '--commit-gather-ms', '-1'], {})).toThrow(/commit-gather-ms/);
    expect(() => parseConfig([...base, '--commit-gather-below', 'lots'], {})).toThrow(/commit-gather-below/);
    expect(() => parseConfig([...base, '--commit-max-backlog-mb', '0'], {})).toThrow(/commit-max-backlog-mb/);
  });

  it('config – the longest token lifetime is 30 days unless --max-token-lifetime or IM_MAX_TOKEN_LIFETIME_S says otherwise', () => {
    expect(parseConfig(base, {}).gateway.maxTokenLifetimeSec).toBe(DEFAULT_MAX_TOKEN_LIFETIME_SEC);
    expect(parseConfig(base, { IM_MAX_TOKEN_LIFETIME_S: '3600' }).gateway.maxTokenLifetimeSec).toBe(3600);
    expect(parseConfig([...base, '--max-token-lifetime', '60'], { IM_MAX_TOKEN_LIFETIME_S: '3600' }).gateway.maxTokenLifetimeSec).toBe(60);
    expect(() => parseConfig([...base, '--max-token-lifetime', '0'], {})).toThrow(/max-token-lifetime/);
  });

  it('config – allowed web origins: any unless listed (flag, then IM_ALLOWED_ORIGINS); something that is not an origin is refused', () => {
    expect(parseConfig(base, {}).gateway.allowedOrigins).toEqual([]);
    expect(parseConfig(base, { IM_ALLOWED_ORIGINS: 'https://a.example, http://localhost:3000' }).gateway.allowedOrigins).toEqual(['https://a.example', 'http://localhost:3000']);
    expect(parseConfig([...base, '--allowed-origins', 'https://b.example'], { IM_ALLOWED_ORIGINS: 'https://a.example' }).gateway.allowedOrigins).toEqual(['https://b.example']);
    expect(() => parseConfig([...base, '--allowed-origins', 'https://a.example/app'], {})).toThrow(/allowed-origins/);
    expect(() => parseConfig([...base, '--allowed-origins', 'a.example'], {})).toThrow(/allowed-origins/);
    // Taken as browsers write an Origin: lower-case host, no default port.
    expect(parseConfig([...base, '--allowed-origins', 'https://App.Example.com:443,http://a.example:8080'], {}).gateway.allowedOrigins).toEqual(['https://app.example.com', 'http://a.example:8080']);
  });

  it('config – a webhook: off unless a URL is given (flag, then IM_WEBHOOK_URL), needs IM_WEBHOOK_SECRET, forwards every event type unless listed', () => {
    expect(parseConfig(base, {}).webhook).toBeUndefined();
    const secret = { IM_WEBHOOK_SECRET: 's3cret-of-at-least-thirty-two-bytes' };
    expect(parseConfig([...base, '--webhook-url', 'https://app.example/im'], secret).webhook).toEqual({ url: 'https://app.example/im', secret: 's3cret-of-at-least-thirty-two-bytes', events: [...WEBHOOK_EVENT_TYPES] });
    expect(parseConfig(base, { ...secret, IM_WEBHOOK_URL: 'http://127.0.0.1:9000/h', IM_WEBHOOK_EVENTS: 'push, members' }).webhook).toMatchObject({ url: 'http://127.0.0.1:9000/h', events: ['push', 'members'] });
    expect(() => parseConfig([...base, '--webhook-url', 'https://app.example/im'], {})).toThrow(/IM_WEBHOOK_SECRET/);
    expect(() => parseConfig([...base, '--webhook-url', 'ftp://app.example/im'], secret)).toThrow(/webhook-url/);
    expect(() => parseConfig([...base, '--webhook-url', 'https://app.example/im', '--webhook-events', 'push,typing'], secret)).toThrow(/"typing"/);
    expect(() => parseConfig([...base, '--webhook-url', 'https://app.example/im', '--no-events'], secret)).toThrow(/no-events/);
  });

  it('config – ports past 65535, an empty host, a wildcard host without a public URL, a switch or log level it cannot read are refused with the name', () => {
    // uWS took 70000 as port 4464, and a gateway on 65536 listened on a random port while the dispatcher named 65536.
    expect(() => parseConfig([...base, '--gateway-port', '70000'], {})).toThrow(/gateway-port must be a port from 0 to 65535/);
    expect(() => parseStartConfig(['--gateway-port', '65534'], {})).toThrow(/gateway-port must be at most 65532/);
    expect(() => parseStartConfig(['--nats-port', '64000'], {})).toThrow(/nats-port must be at most 63535/);
    expect(parseStartConfig([], { IM_SERVER_KEY: 'k' })).toMatchObject({ gatewayPort: 8080, natsPort: 4222, ownServerKey: true });
    // Set but empty (a compose file's unset ${HOST}) is unset, not "every interface".
    expect(parseConfig([...base, '--gateway-port', '8081'], { IM_GATEWAY_HOST: '' }).gateway.host).toBe('127.0.0.1');
    const real = { IM_TOKEN_SECRET: 's'.repeat(32), IM_SERVER_KEY: 'k'.repeat(32) };
    expect(() => parseConfig([...base, '--gateway-port', '8081', '--gateway-host', '0.0.0.0'], real)).toThrow(/--public-url is needed/);
    expect(parseConfig([...base, '--gateway-port', '8081', '--gateway-host', '::1'], {}).gateway.publicUrl).toBe('ws://[::1]:8081/ws');
    expect(parseConfig(base, { IM_NO_EVENTS: 'true' }).gateway.events).toBe(false);
    expect(parseConfig(base, { IM_DEV_TOKENS: 'Yes' }).gateway.devTokens).toBe(true);
    expect(parseConfig(base, { IM_NO_EVENTS: 'false' }).gateway.events).toBe(true);
    expect(() => parseConfig(base, { IM_NO_EVENTS: 'on' })).toThrow(/IM_NO_EVENTS must be 1, true or yes/);
    expect(() => parseConfig([...base, '--log-level', 'verbose'], {})).toThrow(/log-level must be one of/);
    expect(parseConfig([...base, '--log-level', 'debug'], {}).logLevel).toBe('debug');
  });
});
