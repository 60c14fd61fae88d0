import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Fastify from 'fastify';
import { writeWavHeader } from '../../../base/signal/wav.ts';
import { simHttpPlugin } from '../../sim/http-plugin.ts';
import { eventsOf, harness, heard, purity } from './harness.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'edgeline-sim-'));
after(() => rmSync(dataDir, { recursive: true, force: true }));

async function setup() {
  const h = harness();
  // The gateway's API refuses unknown keys rather than dropping them; so does this app.
  const app = Fastify({
    logger: false,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: true, allErrors: false } },
  });
  await app.register(simHttpPlugin, { office: h.office, dataDir });
  await app.ready();
  return {
    h,
    app,
    close: async () => {
      await app.close();
      h.close();
    },
  };
}

describe('simulated office HTTP API', () => {
  test('POST /api/sim/calls rings the line; digits, tone and hangup drive the call', async () => {
    const { h, app, close } = await setup();
    const tap = h.tap('fxo-1');
    const res = await app.inject({
      method: 'POST',
      url: '/api/sim/calls',
      payload: { line: 1, callerId: { number: '13800138000', name: 'LI NA' }, cidMode: 'fsk-v23' },
    });
    assert.equal(res.statusCode, 201);
    const { id, state } = res.json<{ id: string; state: string }>();
    assert.equal(state, 'alerting');
    h.advance(100);
    assert.equal(eventsOf(tap, 'ring-on').length, 1);
    assert.ok(tap.channel.answer().ok);
    h.advance(40);
    const tone = await app.inject({
      method: 'POST',
      url: `/api/sim/calls/${id}/play`,
      payload: { tone: { frequenciesHz: [1000], levelDbm0: -10, durationMs: 400 } },
    });
    assert.equal(tone.statusCode, 200);
    const t0 = h.clock.now();
    h.advance(400);
    assert.ok(purity(heard(tap, t0 + 20, t0 + 380), 1000) > 0.95);
    const digits = await app.inject({
      method: 'POST',
      url: `/api/sim/calls/${id}/digits`,
      payload: { digits: '123#' },
    });
    assert.equal(digits.statusCode, 200);
    assert.ok(tap.channel.dialDtmf('42').ok);
    h.advance(1000);
    const got = await app.inject({ method: 'GET', url: `/api/sim/calls/${id}` });
    const summary = got.json<{ state: string; recording: { digits: string; frames: number } }>();
    assert.equal(summary.state, 'answered');
    assert.equal(summary.recording.digits, '42');
    assert.ok(summary.recording.frames > 50);
    const hang = await app.inject({ method: 'POST', url: `/api/sim/calls/${id}/hangup` });
    assert.equal(hang.json<{ state: string; endedBy: string }>().endedBy, 'caller');
    const again = await app.inject({ method: 'POST', url: `/api/sim/calls/${id}/hangup` });
    assert.equal(again.statusCode, 409);
    await close();
  });

  test('plays a WAV file from the data directory', async () => {
    const { h, app, close } = await setup();
    const samples = new Int16Array(8000);
    for (let i = 0; i < samples.length; i++)
      samples[i] = Math.round(6000 * Math.sin((2 * Math.PI * 500 * i) / 8000));
    const header = writeWavHeader({ channels: 1, sampleRateHz: 8000, dataBytes: samples.byteLength });
    writeFileSync(
      join(dataDir, 'hello.wav'),
      Buffer.concat([Buffer.from(header), Buffer.from(samples.buffer)]),
    );
    const tap = h.tap('fxo-2');
    const res = await app.inject({
      method: 'POST',
      url: '/api/sim/calls',
      payload: { line: 'fxo-2', callerId: { number: '1' } },
    });
    const { id } = res.json<{ id: string }>();
    assert.ok(tap.channel.answer().ok);
    h.advance(40);
    const play = await app.inject({
      method: 'POST',
      url: `/api/sim/calls/${id}/play`,
      payload: { wav: 'hello.wav' },
    });
    assert.equal(play.statusCode, 200);
    const t0 = h.clock.now();
    h.advance(1000);
    assert.ok(purity(heard(tap, t0 + 20, t0 + 900), 500) > 0.95);
    await close();
  });

  const bad: Array<{ name: string; url: string; payload: unknown; status: number; field?: string }> = [
    {
      name: 'a missing caller ID',
      url: '/api/sim/calls',
      payload: { line: 1 },
      status: 400,
      field: '/callerId',
    },
    {
      name: 'an unknown body field',
      url: '/api/sim/calls',
      payload: { line: 1, callerId: {}, x: 1 },
      status: 400,
      field: '/x',
    },
    {
      name: 'an unknown line',
      url: '/api/sim/calls',
      payload: { line: 99, callerId: {} },
      status: 404,
      field: '/line',
    },
    {
      name: 'an unknown CID mode',
      url: '/api/sim/calls',
      payload: { line: 1, callerId: {}, cidMode: 'morse' },
      status: 400,
    },
    {
      name: 'an unknown call',
      url: '/api/sim/calls/nope/digits',
      payload: { digits: '1' },
      status: 404,
      field: 'id',
    },
  ];
  for (const c of bad) {
    test(`answers ${c.name} with ${c.status} and the field named`, async () => {
      const { app, close } = await setup();
      const res = await app.inject({ method: 'POST', url: c.url, payload: c.payload as object });
      assert.equal(res.statusCode, c.status);
      const body = res.json<{ error: { code: string; field?: string } }>();
      assert.match(body.error.code, /^EDGE_ERR_/);
      if (c.field) assert.equal(body.error.field, c.field);
      await close();
    });
  }

  test('refuses a WAV path outside the data directory', async () => {
    const { app, close } = await setup();
    const res = await app.inject({
      method: 'POST',
      url: '/api/sim/calls',
      payload: { line: 1, callerId: {} },
    });
    const { id } = res.json<{ id: string }>();
    const play = await app.inject({
      method: 'POST',
      url: `/api/sim/calls/${id}/play`,
      payload: { wav: '../../etc/passwd' },
    });
    assert.equal(play.statusCode, 400);
    assert.equal(play.json<{ error: { field: string } }>().error.field, '/wav');
    await close();
  });

  test('a second call on a ringing line is refused with 409', async () => {
    const { app, close } = await setup();
    const first = await app.inject({
      method: 'POST',
      url: '/api/sim/calls',
      payload: { line: 1, callerId: {} },
    });
    assert.equal(first.statusCode, 201);
    const second = await app.inject({
      method: 'POST',
      url: '/api/sim/calls',
      payload: { line: 1, callerId: {} },
    });
    assert.equal(second.statusCode, 409);
    await close();
  });

  test('GET /api/sim/lines lists every line with its number and state; faults can be injected', async () => {
    const { app, close } = await setup();
    const put = await app.inject({
      method: 'PUT',
      url: '/api/sim/lines/fxo-3/faults',
      payload: { faults: ['no-dial-tone'] },
    });
    assert.equal(put.statusCode, 200);
    const res = await app.inject({ method: 'GET', url: '/api/sim/lines' });
    const { lines } = res.json<{
      lines: Array<{ id: string; number: string; state: string; faults: string[] }>;
    }>();
    assert.equal(lines.length, 34);
    assert.deepEqual(lines[0] && [lines[0].id, lines[0].number, lines[0].state], [
      'fxo-1',
      '5550001',
      'idle',
    ]);
    assert.deepEqual(lines[2]?.faults, ['no-dial-tone']);
    assert.equal(lines[4]?.number, '5560101');
    await close();
  });
});
