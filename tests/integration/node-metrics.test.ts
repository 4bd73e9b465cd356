import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEV_SERVER_KEY } from '../../runtime/config.js';
import { parseExposition, sampleValue as value, type Sample } from '../../scripts/lib/prometheus-text.js';
import { startChatCluster, type ChatCluster } from '../helpers/chat-cluster.js';
import { startTestNats } from '../helpers/nats.js';
import { rawConnect } from '../helpers/raw-client.js';
import { waitUntil } from '../helpers/wait.js';

describe('node metrics', () => {
  let c: ChatCluster;
  const scrape = async (): Promise<{ status: number; type: string | null; samples: Sample[] }> => {
    const res = await fetch(`${c.http.get('m1')}/metrics`, { headers: { authorization: `Bearer ${DEV_SERVER_KEY}` } });
    return { status: res.status, type: res.headers.get('content-type'), samples: parseExposition(await res.text()) };
  };

  beforeAll(async () => {
    c = await startChatCluster({ nodes: ['m1'] });
  }, 60_000);
  afterAll(async () => {
    await c?.stop();
  }, 30_000);

  it('metrics – GET /metrics needs the server key and answers 401 with a coded JSON body without it', async () => {
    const res = await fetch(`${c.http.get('m1')}/metrics`);
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ code: 'unauthorized' });
    const wrong = await fetch(`${c.http.get('m1')}/metrics`, { headers: { authorization: 'Bearer not-the-key' } });
    expect(wrong.status).toBe(401);
  });

  it('metrics – connections, refusals, closes, error frames, revocations and stored messages show up in the node’s metrics', async () => {
    const before = await scrape();
    expect(before.status).toBe(200);
    expect(before.type).toMatch(/^text\/plain/);
    // The process's own metrics sample from the node's start, not from the first scrape: event-loop delay is there.
    expect(value(before.samples, 'nodejs_eventloop_lag_mean_seconds')).toBeGreaterThan(0);
    expect(value(before.samples, 'nodejs_eventloop_lag_max_seconds')).toBeLessThan(60);
    expect(value(before.samples, 'im_gateway_revoked_users')).toBe(0);
    const rowsBefore = value(before.samples, 'im_commit_rows_total') ?? -1;
    expect(rowsBefore).toBeGreaterThanOrEqual(0);
    const sendsBefore = value(before.samples, 'im_send_seconds_count') ?? -1;
    expect(sendsBefore).toBeGreaterThanOrEqual(0);

    const { body } = await c.api('POST', '/v1/conversations', { kind: 'direct', members: ['mia', 'max'] });
    const conv = body['conv'] as string;
    const { body: other } = await c.api('POST', '/v1/conversations', { kind: 'direct', members: ['ned', 'ola'] });
    const mia = await rawConnect(c.gateways.get('m1')!, c.token('mia', 'd1'));
    const max = await rawConnect(c.gateways.get('m1')!, c.token('max', 'd1'));
    await expect(rawConnect(c.gateways.get('m1')!, 'not-a-token')).rejects.toMatchObject({ status: 401 });
    mia.send({ type: 'send', conv, cid: 1, body: 'hi' });
    await max.waitFor((f) => f.type === 'msg');
    mia.send({ type: 'send', conv: other['conv'] as string, cid: 2, body: 'not mine' });
    await mia.waitFor((f) => f.type === 'error' && f.code === 'not_member');
    max.close();
    await max.closed;
    // A sign-out with revoke reaches the gateway's memory through the broadcast.
    expect((await c.api('POST', '/v1/users/max/disconnect', { revoke: true })).status).toBe(200);

    // The close reaches the gateway asynchronously: wait until it is counted.
    let after = await scrape();
    for (let i = 0; i < 50 && (value(after.samples, 'im_gateway_connections') !== 1 || value(after.samples, 'im_gateway_revoked_users') !== 1); i++) {
      await new Promise((r) => setTimeout(r, 100));
      after = await scrape();
    }
    const s = after.samples;
    expect(value(s, 'im_gateway_connections', { node: 'm1' })).toBe(1);
    expect(value(s, 'im_gateway_revoked_users')).toBe(1);
    expect(value(s, 'im_gateway_connections_opened_total')).toBeGreaterThanOrEqual(2);
    expect(value(s, 'im_gateway_upgrades_refused_total', { code: 'unauthorized' })).toBe(1);
    expect(value(s, 'im_gateway_closes_total', { code: '1000' })).toBeGreaterThanOrEqual(1);
    expect(value(s, 'im_gateway_error_frames_total', { code: 'not_member' })).toBe(1);
    expect(value(s, 'im_gateway_frames_received_total')).toBeGreaterThanOrEqual(2);
    expect(value(s, 'im_commit_rows_total')).toBe(rowsBefore + 1);
    expect(value(s, 'im_commit_statements_total')).toBeGreaterThanOrEqual(1);
    expect(value(s, 'im_commit_seconds_total')).toBeGreaterThan(0);
    // The latency histograms count the one send that was stored; the refused one is not a send that succeeded.
    expect(value(s, 'im_send_seconds_count')).toBe(sendsBefore + 1);
    expect(value(s, 'im_send_seconds_bucket', { le: '+Inf' })).toBe(sendsBefore + 1);
    expect(value(s, 'im_send_seconds_sum')).toBeGreaterThan(0);
    expect(value(s, 'im_commit_row_seconds_count')).toBe(rowsBefore + 1);
    expect(value(s, 'im_commit_statement_seconds_count')).toBe(value(s, 'im_commit_statements_total'));
    expect(value(s, 'im_shards_served', { kind: 'connector' })).toBe(32);
    expect(value(s, 'im_actors_active', { kind: 'connector' })).toBeGreaterThanOrEqual(1);
    expect(value(s, 'im_node_lease_valid')).toBe(1);
    expect(value(s, 'im_node_lease_losses_total')).toBeTypeOf('number');
    expect(value(s, 'im_node_nats_connected')).toBe(1);
    expect(value(s, 'im_transport_calls_total')).toBeGreaterThanOrEqual(1);
    // The process's own figures come with the node's.
    expect(value(s, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(value(s, 'nodejs_eventloop_lag_p99_seconds')).toBeGreaterThanOrEqual(0);
    mia.close();
  }, 30_000);

  it('load – a node’s heartbeat reports its clients, CPU, sends per second and their p90 / p99 over the last second; imctl nodes shows them', async () => {
    const { body } = await c.api('POST', '/v1/conversations', { kind: 'direct', members: ['lo-a', 'lo-b'] });
    const conv = body['conv'] as string;
    const a = await rawConnect(c.gateways.get('m1')!, c.token('lo-a', 'd1'));
    await a.waitFor((f) => f.type === 'convs');
    const row = async (): Promise<Record<string, unknown>> => (await c.db.sql<{ load: Record<string, unknown> }[]>`SELECT load FROM nodes WHERE node_id = 'm1'`)[0]!.load;
    let cid = 0;
    // Sends keep coming until a heartbeat carries a second that had some.
    await waitUntil(async () => {
      for (let i = 0; i < 10; i++) a.send({ type: 'send', conv, cid: ++cid, body: `load ${cid}` });
      await a.waitFor((f) => f.type === 'sent' && f.cid === cid);
      const l = await row();
      return typeof l['sendsPerSec'] === 'number' && (l['sendsPerSec'] as number) > 0 && typeof l['sendP99Ms'] === 'number';
    }, 'a heartbeat with sends in it', 15_000);
    const l = await row();
    expect(l).toMatchObject({ connections: expect.any(Number), cpu: expect.any(Number), sendP90Ms: expect.any(Number) });
    expect(l['cpu'] as number).toBeGreaterThan(0);
    expect(l['sendP99Ms'] as number).toBeGreaterThanOrEqual(l['sendP90Ms'] as number);
    const out = await c.imctl('nodes');
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toMatch(/conns\s+cpu\s+sends\/s\s+send p99/);
    expect(out.stdout).toMatch(/m1 .* \d+(\.\d)?% .* ms /);
    a.close();
  }, 30_000);

  it('health – /healthz is 200 while the node can serve; while its NATS connection is down it is 503, saying why, upgrades are refused, and a setting changed meanwhile applies at the reconnect', async () => {
    const health = async () => {
      const res = await fetch(`${c.http.get('m1')}/healthz`);
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    expect(await health()).toEqual({ status: 200, body: { ok: true, node: 'm1', connections: expect.any(Number), accepting: true, lease: true, nats: true } });
    // nats-server dies: the node keeps its lease (Postgres) but cannot route a message, so it is not ready.
    c.nats.signal('SIGKILL');
    await waitUntil(async () => (await health()).status === 503, 'healthz 503 once NATS is gone');
    expect((await health()).body).toMatchObject({ ok: false, nats: false, lease: true });
    expect((await fetch(`${c.http.get('m1')}/healthz`, { method: 'HEAD' })).status).toBe(503);
    expect(value((await scrape()).samples, 'im_node_nats_connected')).toBe(0);
    // The operator sees it too, from the node's next heartbeat.
    await waitUntil(async () => /^m1\s.*\sDOWN\s/m.test((await c.imctl('nodes')).stdout), 'imctl nodes showing m1 with NATS DOWN');
    // A setting changed meanwhile: its notice could not reach the node, which re-reads the settings when it reconnects
    // (not only at its once-a-minute read).
    await c.db.sql`UPDATE cluster_settings SET value = to_jsonb('77'::text) WHERE key = 'flag.large-group'`;
    const runsWith = async (): Promise<string | undefined> => {
      const [row] = await c.db.sql<{ load: { settings?: Record<string, string> } }[]>`SELECT load FROM nodes WHERE node_id = 'm1'`;
      return row?.load.settings?.['large-group'];
    };
    // Whole, so that a failure shows what the node's row held.
    const [row] = await c.db.sql<{ load: Record<string, unknown> }[]>`SELECT load FROM nodes WHERE node_id = 'm1'`;
    expect(row?.load).toMatchObject({ settings: { 'large-group': '100' } });
    // And its gateway sends new clients elsewhere rather than leave them connected to nothing.
    await expect(rawConnect(c.gateways.get('m1')!, c.token('nia', 'd1'))).rejects.toMatchObject({ status: 503, body: expect.stringContaining('lost its NATS connection') });
    const again = await startTestNats({ port: c.nats.port });
    try {
      await waitUntil(async () => (await health()).status === 200, 'healthz 200 once NATS is back', 15_000);
      await waitUntil(async () => (await runsWith()) === '77', 'the node running with the setting changed while it was cut off');
      const nia = await rawConnect(c.gateways.get('m1')!, c.token('nia', 'd1'));
      await nia.waitFor((f) => f.type === 'convs');
      nia.close();
    } finally {
      await again.stop();
    }
  }, 30_000);
});
