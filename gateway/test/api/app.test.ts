import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApi } from '../../src/api/app.ts';
import { ManualClock } from '../../../base/clock.ts';
import { MetricsRegistry } from '../../src/core/metrics.ts';
import { ConfigStore } from '../../src/store/config-store.ts';
import { Records } from '../../src/store/records.ts';

interface Env {
  app: FastifyInstance;
  config: ConfigStore;
  records: Records;
  health: { ready: boolean; reasons: string[] };
  dir: string;
}

async function setup(): Promise<Env> {
  const dir = mkdtempSync(join(tmpdir(), 'edgeline-api-'));
  const cs = await ConfigStore.open(dir, { clock: new ManualClock() });
  assert.ok(cs.ok);
  const rs = Records.open(dir);
  assert.ok(rs.ok);
  const metrics = new MetricsRegistry();
  metrics.counter('edgeline_sip_requests_total', 'SIP requests received').inc({ method: 'INVITE' });
  const health = { ready: true, reasons: [] as string[] };
  const app = buildApi({
    config: cs.value,
    records: rs.value,
    metrics,
    health: () => health,
    dumps: { transport: () => ({ udp: 'bound' }) },
  });
  await app.ready();
  return { app, config: cs.value, records: rs.value, health, dir };
}

async function teardown(env: Env): Promise<void> {
  await env.app.close();
  await env.config.close();
  env.records.close();
  rmSync(env.dir, { recursive: true, force: true });
}

const doc = {
  extensions: [
    { number: '1001', password: 'secret-1001' },
    { number: '1002', password: 'secret-1002' },
  ],
  trunks: [
    {
      id: 'cloud',
      members: [{ host: '127.0.0.1', port: 5080 }],
      credentials: { username: 'u', password: 'trunk-secret' },
    },
  ],
};

void describe('HTTP API', () => {
  let env: Env;
  before(async () => {
    env = await setup();
  });
  after(async () => {
    await teardown(env);
  });

  void test('GET /healthz answers 200 ready, then 503 not-ready with the reasons', async () => {
    const ok = await env.app.inject({ method: 'GET', url: '/healthz' });
    assert.equal(ok.statusCode, 200);
    assert.deepEqual(ok.json(), { status: 'ready' });
    env.health.ready = false;
    env.health.reasons = ['sip transport not bound'];
    const bad = await env.app.inject({ method: 'GET', url: '/healthz' });
    assert.equal(bad.statusCode, 503);
    assert.deepEqual(bad.json(), { status: 'not-ready', reasons: ['sip transport not bound'] });
    env.health.ready = true;
  });

  void test('GET /metrics is the Prometheus text format 0.0.4', async () => {
    const r = await env.app.inject({ method: 'GET', url: '/metrics' });
    assert.equal(r.statusCode, 200);
    assert.match(String(r.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    assert.match(r.body, /^edgeline_sip_requests_total\{method="INVITE"\} 1$/m);
  });

  void test('PUT /api/config with a bad value answers 400 naming its JSON path, and changes nothing', async () => {
    const bad = structuredClone(doc);
    (bad.trunks[0]?.members[0] as { port: number }).port = 99999;
    const r = await env.app.inject({ method: 'PUT', url: '/api/config', payload: bad });
    assert.equal(r.statusCode, 400);
    const body = r.json<{ error: { code: string; message: string; field: string } }>();
    assert.equal(body.error.code, 'EDGE_ERR_CONFIG_INVALID');
    assert.equal(body.error.field, '/trunks/0/members/0/port');
    assert.equal(body.error.message, '/trunks/0/members/0/port must be <= 65535');
    assert.equal(env.config.currentRevision(), 0);
  });

  void test('PUT /api/config refuses an unknown key instead of dropping it', async () => {
    const r = await env.app.inject({ method: 'PUT', url: '/api/config', payload: { ...doc, extenions: [] } });
    assert.equal(r.statusCode, 400);
    assert.equal(r.json<{ error: { field: string } }>().error.field, '/extenions');
  });

  void test('a body that is not JSON answers 400 in the error shape', async () => {
    const r = await env.app.inject({
      method: 'PUT',
      url: '/api/config',
      headers: { 'content-type': 'application/json' },
      payload: '{"extensions": [',
    });
    assert.equal(r.statusCode, 400);
    assert.equal(typeof r.json<{ error: { code: string } }>().error.code, 'string');
  });

  void test('GET /api/config masks passwords; PUT of the mask keeps the stored password', async () => {
    const put = await env.app.inject({ method: 'PUT', url: '/api/config?comment=initial', payload: doc });
    assert.equal(put.statusCode, 200);
    assert.deepEqual(put.json(), { revision: 1, changed: true });

    const get = await env.app.inject({ method: 'GET', url: '/api/config' });
    assert.equal(get.statusCode, 200);
    assert.equal(get.headers['x-config-revision'], '1');
    assert.doesNotMatch(get.body, /secret/);
    const shown = get.json<{
      extensions: Array<{ number: string; password: string }>;
      trunks: Array<{ credentials: { password: string } }>;
    }>();
    assert.equal(shown.extensions[0]?.password, '********');
    assert.equal(shown.trunks[0]?.credentials.password, '********');

    // Read-modify-write: change one password, keep the others masked.
    const second = shown.extensions[1];
    assert.ok(second);
    second.password = 'new-1002';
    const put2 = await env.app.inject({ method: 'PUT', url: '/api/config', payload: shown });
    assert.equal(put2.statusCode, 200);
    const c = env.config.get();
    assert.equal(c.extensions[0]?.password, 'secret-1001');
    assert.equal(c.extensions[1]?.password, 'new-1002');
    assert.equal(c.trunks[0]?.credentials?.password, 'trunk-secret');
  });

  void test('a mask for an extension with no stored password is refused at its path', async () => {
    const r = await env.app.inject({
      method: 'PUT',
      url: '/api/config',
      payload: { extensions: [{ number: '2001', password: '********' }] },
    });
    assert.equal(r.statusCode, 400);
    assert.equal(r.json<{ error: { field: string } }>().error.field, '/extensions/0/password');
  });

  void test('revisions are listed, shown masked, diffed and restored as a new revision', async () => {
    const list = await env.app.inject({ method: 'GET', url: '/api/config/revisions' });
    const revisions = list.json<{
      revisions: Array<{ revision: number; author: string; comment?: string }>;
    }>().revisions;
    assert.deepEqual(
      revisions.map((r) => [r.revision, r.author, r.comment]),
      [
        [1, 'api', 'initial'],
        [2, 'api', undefined],
      ],
    );

    const one = await env.app.inject({ method: 'GET', url: '/api/config/revisions/1' });
    assert.equal(one.statusCode, 200);
    assert.doesNotMatch(one.body, /secret/);
    assert.equal(one.json<{ revision: number }>().revision, 1);

    const diff = await env.app.inject({ method: 'GET', url: '/api/config/diff?from=1&to=2' });
    assert.equal(diff.statusCode, 200);
    assert.deepEqual(diff.json(), {
      from: 1,
      to: 2,
      changes: [{ path: '/extensions/1/password', op: 'replace', from: '********', to: '********' }],
    });

    const restore = await env.app.inject({ method: 'POST', url: '/api/config/revisions/1/restore' });
    assert.equal(restore.statusCode, 200);
    assert.deepEqual(restore.json(), { revision: 3, changed: true });
    assert.equal(env.config.get().extensions[1]?.password, 'secret-1002');
    const same = await env.app.inject({ method: 'GET', url: '/api/config/diff?from=1&to=3' });
    assert.deepEqual(same.json<{ changes: unknown[] }>().changes, []);
  });

  const notFound: Array<[string, string, string]> = [
    ['GET', '/api/config/revisions/99', 'n'],
    ['POST', '/api/config/revisions/99/restore', 'n'],
    ['GET', '/api/config/diff?from=1&to=99', 'to'],
  ];
  for (const [method, url, field] of notFound) {
    void test(`${method} ${url} answers 404 naming '${field}'`, async () => {
      const r = await env.app.inject({ method: method as 'GET', url });
      assert.equal(r.statusCode, 404);
      assert.equal(r.json<{ error: { field: string } }>().error.field, field);
    });
  }

  const badQueries: Array<[string, string]> = [
    ['/api/config/diff?from=1', 'to'],
    ['/api/config/diff?from=x&to=2', 'from'],
    ['/api/cdrs?limit=0', 'limit'],
    ['/api/cdrs?limti=5', 'limti'],
    ['/api/config/revisions/0', 'n'],
  ];
  for (const [url, field] of badQueries) {
    void test(`GET ${url} answers 400 naming '${field}'`, async () => {
      const r = await env.app.inject({ method: 'GET', url });
      assert.equal(r.statusCode, 400);
      const e = r.json<{ error: { code: string; field: string } }>().error;
      assert.equal(e.code, 'EDGE_ERR_API_BAD_REQUEST');
      assert.equal(e.field, field);
    });
  }

  void test('GET /api/cdrs lists stored legs, filtered by interaction; /api/interactions lists interactions', async () => {
    env.records.insertBatch({
      legs: [
        {
          legId: 'l1',
          interactionId: 'ix-1',
          direction: 'inbound',
          technology: 'pstn',
          startedAt: '2026-01-01T00:00:00.000Z',
        },
        {
          legId: 'l2',
          interactionId: 'ix-2',
          direction: 'outbound',
          technology: 'sip',
          startedAt: '2026-01-01T00:00:01.000Z',
        },
      ],
      interactions: [
        { interactionId: 'ix-1', startedAt: '2026-01-01T00:00:00.000Z', outcome: 'busy', status: 486 },
      ],
    });
    const all = await env.app.inject({ method: 'GET', url: '/api/cdrs?limit=10' });
    assert.deepEqual(
      all.json<{ cdrs: Array<{ legId: string }> }>().cdrs.map((c) => c.legId),
      ['l2', 'l1'],
    );
    const one = await env.app.inject({ method: 'GET', url: '/api/cdrs?interaction=ix-1' });
    assert.deepEqual(
      one.json<{ cdrs: Array<{ legId: string }> }>().cdrs.map((c) => c.legId),
      ['l1'],
    );
    const ix = await env.app.inject({ method: 'GET', url: '/api/interactions' });
    assert.equal(ix.json<{ interactions: Array<{ outcome: string }> }>().interactions[0]?.outcome, 'busy');
  });

  void test('calls in progress (open rows) are listed only with state=open or all; ended ones by default', async () => {
    env.records.insertBatch({
      legs: [
        {
          legId: 'l-open',
          interactionId: 'ix-open',
          direction: 'inbound',
          technology: 'sip',
          startedAt: '2026-01-01T00:00:05.000Z',
          state: 'open',
        },
      ],
      interactions: [{ interactionId: 'ix-open', startedAt: '2026-01-01T00:00:05.000Z', state: 'open' }],
    });
    const ids = async (url: string) =>
      (await env.app.inject({ method: 'GET', url }))
        .json<{ cdrs: Array<{ legId: string }> }>()
        .cdrs.map((c) => c.legId);
    assert.ok(!(await ids('/api/cdrs?limit=50')).includes('l-open'));
    assert.deepEqual(await ids('/api/cdrs?state=open'), ['l-open']);
    assert.ok((await ids('/api/cdrs?state=all')).includes('l-open'));
    const open = await env.app.inject({ method: 'GET', url: '/api/interactions?state=open' });
    assert.deepEqual(
      open
        .json<{ interactions: Array<{ interactionId: string }> }>()
        .interactions.map((i) => i.interactionId),
      ['ix-open'],
    );
    const bad = await env.app.inject({ method: 'GET', url: '/api/cdrs?state=opened' });
    assert.equal(bad.statusCode, 400);
  });

  void test('GET /api/status carries the dumps', async () => {
    const r = await env.app.inject({ method: 'GET', url: '/api/status' });
    const s = r.json<Record<string, Record<string, unknown>>>();
    assert.deepEqual(s['transport'], { udp: 'bound' });
    assert.equal(s['config']?.['revision'], 3);
    assert.equal(s['records']?.['journalMode'], 'wal');
  });

  void test('an unknown route answers 404 in the error shape', async () => {
    const r = await env.app.inject({ method: 'GET', url: '/api/nope' });
    assert.equal(r.statusCode, 404);
    assert.equal(r.json<{ error: { code: string } }>().error.code, 'EDGE_ERR_API_NOT_FOUND');
  });
});
