import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { compileDialPattern, matchesDialPattern } from '../../src/routing/dial-pattern.ts';
import { RoutingTable, type RoutingConfig } from '../../src/routing/sip-routing.ts';

describe('dial patterns (X, Z, N, [set], ., !, ^regex)', () => {
  const cases: Array<[string, string, boolean]> = [
    ['9.', '95001', true],
    ['9.', '9', false],
    ['9!', '9', true],
    ['NXXXXXX', '5551234', true],
    ['NXXXXXX', '1551234', false],
    ['1[3-9]XXXXXXXXX', '13812345678', true],
    ['1[3-9]XXXXXXXXX', '12812345678', false],
    ['00Z.', '0044207', true],
    ['*4X', '*43', true],
    ['+X.', '+8610123', true],
    ['^1(38|39)\\d{8}$', '13912345678', true],
    ['5551000', '5551000', true],
    ['5551000', '55510000', false],
  ];
  for (const [pattern, digits, expected] of cases) {
    test(`'${pattern}' ${expected ? 'matches' : 'does not match'} '${digits}'`, () => {
      const p = compileDialPattern(pattern);
      assert.ok(p.ok);
      assert.equal(matchesDialPattern(p.value, digits), expected);
    });
  }
  for (const bad of ['', '9a', '[a-z]', '^(']) {
    test(`refuses the malformed pattern '${bad}' naming the field`, () => {
      const p = compileDialPattern(bad);
      assert.equal(p.ok, false);
      if (!p.ok) assert.equal(p.error.field, 'pattern');
    });
  }
});

describe('SIP routing', () => {
  const cfg: RoutingConfig = {
    country: 'CN',
    extensions: [
      { number: '1001', permission: 'international' },
      { number: '1002', permission: 'internal' },
      { number: '1003', permission: 'national', enabled: false },
    ],
    outbound: [
      { id: 'intl', pattern: '900.', strip: 1, prefix: '', trunks: ['cloud'], permission: 'international' },
      { id: 'pstn', pattern: '9.', strip: 1, prefix: '', trunks: ['cloud', 'itsp'], permission: 'local' },
    ],
    inbound: [
      { id: 'main', did: '5551000', destination: { type: 'extension', target: '1001' } },
      { id: 'range', did: '55510XX', destination: { type: 'extension', target: '1002' } },
      { id: 'echo', trunk: 'itsp', did: '5552000', destination: { type: 'service', target: '*43' } },
    ],
    services: [
      { number: '*43', type: 'echo' },
      { number: '*44', type: 'milliwatt' },
    ],
  };
  const table = new RoutingTable(cfg);
  const caller = (n: string) => {
    const e = cfg.extensions.find((x) => x.number === n);
    assert.ok(e);
    return e;
  };

  test('extension to extension', () => {
    assert.deepEqual(table.fromExtension(caller('1001'), '1002'), { type: 'extension', number: '1002' });
  });
  test('a disabled extension is temporarily unavailable (480)', () => {
    assert.deepEqual(table.fromExtension(caller('1001'), '1003'), {
      type: 'reject',
      status: 480,
      reason: 'Temporarily Unavailable',
    });
  });
  test('service numbers route to the service', () => {
    assert.deepEqual(table.fromExtension(caller('1002'), '*44'), {
      type: 'service',
      number: '*44',
      service: 'milliwatt',
    });
  });
  test('first matching outbound route wins, with digits stripped', () => {
    assert.deepEqual(table.fromExtension(caller('1001'), '90044123'), {
      type: 'trunk',
      trunks: ['cloud'],
      number: '0044123',
      routeId: 'intl',
    });
    assert.deepEqual(table.fromExtension(caller('1001'), '95001'), {
      type: 'trunk',
      trunks: ['cloud', 'itsp'],
      number: '5001',
      routeId: 'pstn',
    });
  });
  test('an extension below the route permission class gets 403', () => {
    const d = table.fromExtension(caller('1002'), '95001');
    assert.equal(d.type, 'reject');
    if (d.type === 'reject') assert.equal(d.status, 403);
  });
  test('emergency numbers are always allowed', () => {
    assert.deepEqual(table.fromExtension(caller('1002'), '9110'), {
      type: 'trunk',
      trunks: ['cloud', 'itsp'],
      number: '110',
      routeId: 'pstn',
    });
  });
  test('unknown numbers get 404', () => {
    const d = table.fromExtension(caller('1001'), '12345');
    assert.equal(d.type === 'reject' && d.status, 404);
  });
  test('inbound DID: the exact DID wins over a range', () => {
    assert.deepEqual(table.fromTrunk('cloud', '5551000'), {
      type: 'extension',
      number: '1001',
      routeId: 'main',
    });
    assert.deepEqual(table.fromTrunk('cloud', '5551042'), {
      type: 'extension',
      number: '1002',
      routeId: 'range',
    });
  });
  test('inbound route restricted to one trunk ignores the others', () => {
    assert.equal(table.fromTrunk('itsp', '5552000').type, 'service');
    assert.equal(table.fromTrunk('cloud', '5552000').type, 'reject');
  });
});
