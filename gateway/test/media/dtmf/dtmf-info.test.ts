import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  formatDtmfBody,
  formatDtmfRelay,
  parseDtmfInfo,
  parseDtmfRelay,
} from '../../../src/media/dtmf/dtmf-info.ts';

describe('SIP INFO DTMF bodies', () => {
  const good: { type: string; body: string; digit: string; durationMs: number | null }[] = [
    { type: 'application/dtmf-relay', body: 'Signal=5\r\nDuration=160\r\n', digit: '5', durationMs: 160 },
    { type: 'application/dtmf-relay', body: 'Signal=#\nDuration=250', digit: '#', durationMs: 250 },
    {
      type: 'Application/DTMF-Relay; charset=utf-8',
      body: 'signal = *\r\nduration = 100',
      digit: '*',
      durationMs: 100,
    },
    { type: 'application/dtmf-relay', body: 'Signal=11\r\nDuration=200', digit: '#', durationMs: 200 },
    { type: 'application/dtmf-relay', body: 'Signal=10\r\n', digit: '*', durationMs: null },
    { type: 'application/dtmf-relay', body: 'Signal=d\r\nDuration=80', digit: 'D', durationMs: 80 },
    { type: 'application/dtmf-relay', body: 'Signal=!\r\nDuration=500', digit: '!', durationMs: 500 },
    {
      type: 'application/dtmf-relay',
      body: 'Foo=bar\r\nSignal=0\r\nDuration=90\r\n',
      digit: '0',
      durationMs: 90,
    },
    { type: 'application/dtmf', body: '7', digit: '7', durationMs: null },
    { type: 'application/dtmf', body: '11\r\n', digit: '#', durationMs: null },
  ];
  for (const c of good) {
    test(`MUST read ${c.type} ${JSON.stringify(c.body)}`, () => {
      const r = parseDtmfInfo(c.type, c.body);
      assert.ok(r.ok, JSON.stringify(r));
      assert.deepEqual(r.value, { digit: c.digit, durationMs: c.durationMs });
    });
  }

  const bad: { type: string; body: string; field: string }[] = [
    { type: 'application/dtmf-relay', body: 'Duration=160', field: 'Signal' },
    { type: 'application/dtmf-relay', body: 'Signal=x\r\nDuration=160', field: 'Signal' },
    { type: 'application/dtmf-relay', body: 'Signal=17', field: 'Signal' },
    { type: 'application/dtmf-relay', body: 'Signal=5\r\nDuration=-5', field: 'Duration' },
    { type: 'application/dtmf-relay', body: 'Signal=5\r\nDuration=abc', field: 'Duration' },
    { type: 'application/dtmf-relay', body: 'Signal=5\r\nDuration=99999999', field: 'Duration' },
    { type: 'application/dtmf-relay', body: 'Signal=5\r\n' + 'x'.repeat(2000), field: 'body' },
    { type: 'application/dtmf', body: '55', field: 'body' },
    { type: 'application/dtmf', body: '', field: 'body' },
    { type: 'application/sdp', body: 'v=0', field: 'Content-Type' },
  ];
  for (const c of bad) {
    test(`MUST reject ${c.type} ${JSON.stringify(c.body.slice(0, 30))} naming ${c.field}`, () => {
      const r = parseDtmfInfo(c.type, c.body);
      assert.ok(!r.ok);
      assert.equal(r.error.field, c.field);
    });
  }

  test('formatted bodies parse back to the same key and duration', () => {
    assert.equal(formatDtmfRelay('5', 160), 'Signal=5\r\nDuration=160\r\n');
    for (const d of ['0', '9', '*', '#', 'A', 'D'] as const) {
      const r = parseDtmfRelay(formatDtmfRelay(d, 120));
      assert.ok(r.ok);
      assert.deepEqual(r.value, { digit: d, durationMs: 120 });
      const b = parseDtmfInfo('application/dtmf', formatDtmfBody(d));
      assert.ok(b.ok);
      assert.equal(b.value.digit, d);
    }
  });
});
