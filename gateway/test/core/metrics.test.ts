import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MetricsRegistry } from '../../src/core/metrics.ts';

void describe('metrics: counters with bound label handles', () => {
  void test('a bound handle adds to the same series as inc(labels)', () => {
    const c = new MetricsRegistry().counter('sip_x_total', 'x');
    const handle = c.labels({ kind: 'invite_server' });
    handle.inc();
    handle.inc(2);
    c.inc({ kind: 'invite_server' });
    assert.equal(c.get({ kind: 'invite_server' }), 4);
    assert.equal(handle.value, 4);
  });

  void test('a bound series is rendered only once incremented, like inc(labels)', () => {
    const m = new MetricsRegistry();
    const c = m.counter('sip_y_total', 'y');
    const handle = c.labels({ reason: 'overload' });
    assert.equal(handle.value, 0);
    assert.match(m.render(), /^sip_y_total 0$/m);
    handle.inc();
    assert.match(m.render(), /^sip_y_total\{reason="overload"\} 1$/m);
    assert.doesNotMatch(m.render(), /^sip_y_total 0$/m);
  });

  void test('changing the label object after binding does not move the handle', () => {
    const c = new MetricsRegistry().counter('sip_z_total', 'z');
    const labels = { kind: 'a' };
    const handle = c.labels(labels);
    labels.kind = 'b';
    handle.inc();
    assert.equal(c.get({ kind: 'a' }), 1);
    assert.equal(c.get({ kind: 'b' }), 0);
  });

  const orders: Array<[string, Record<string, string>, Record<string, string>]> = [
    ['one label', { kind: 'x' }, { kind: 'x' }],
    ['two labels in either order', { a: '1', b: '2' }, { b: '2', a: '1' }],
  ];
  for (const [name, first, second] of orders) {
    void test(`label sets are one series whatever their key order (${name})`, () => {
      const c = new MetricsRegistry().counter('sip_w_total', 'w');
      c.inc(first);
      c.labels(second).inc();
      assert.equal(c.get(first), 2);
    });
  }
});
