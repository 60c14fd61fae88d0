/**
 * Dial strings at the edge, on the wire: the user part of a Request-URI is a dial string —
 * digits, `*`, `#`, a leading `+` — or the INVITE is refused with 404 before routing, counted,
 * and logged; nothing is sent on to a trunk (or, behind it, a PSTN port). A route's number is at
 * most E.164's 15 digits (ITU-T E.164 §6) unless the route allows more. The same holds for a
 * transfer: REFER is routed as a call from its sender.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkDialString } from '../../src/call/dial-string.ts';
import { InProcessGateway } from '../support/in-process-gateway.ts';
import type { TestUa } from '../support/test-ua.ts';

const CARRIER = '10.0.9.1';

function gateway(maxDigits?: number) {
  const h = new InProcessGateway({
    config: {
      extensions: [
        { number: '1001', password: 'secret-1001', permission: 'international' },
        { number: '1002', password: 'secret-1002', permission: 'international' },
      ],
      trunks: [{ id: 'carrier', members: [{ host: CARRIER, port: 5060 }], probe: { enabled: false } }],
      routes: {
        outbound: [
          {
            id: 'out',
            pattern: '9.',
            strip: 1,
            trunks: ['carrier'],
            permission: 'international',
            ...(maxDigits ? { maxDigits } : {}),
          },
        ],
      },
    },
  });
  const [alice] = h.registered(['1001', '10.0.1.1']);
  const carrier = h.peer('carrier', CARRIER);
  assert.ok(alice);
  return { h, alice, carrier };
}

const finals = (ua: TestUa): number[] =>
  ua.responsesReceived('INVITE').flatMap((r) => (r.status >= 200 && r.status !== 407 ? [r.status] : []));

void describe('dial strings at the edge', () => {
  const table: Array<[string, string, 'characters' | 'length' | null]> = [
    ['95551234', '95551234', null],
    ['+8613800138000', '+8613800138000', null],
    ['*481002', '*481002', null],
    ['#21#', '#21#', null],
    ['|95000', '', 'characters'],
    ['9"5000', '', 'characters'],
    ['95000@evil', '', 'characters'],
    ['9 5000', '', 'characters'],
    ['95000;user=phone', '', 'characters'],
    ['9+5000', '', 'characters'],
    ['', '', 'characters'],
    ['9'.repeat(33), '', 'length'],
  ];
  for (const [user, number, reason] of table)
    void test(`${JSON.stringify(user)} → ${reason ?? number}`, () => {
      const r = checkDialString(user, 'sip');
      if (reason === null) assert.deepEqual(r, { ok: true, number });
      else assert.equal(r.ok ? null : r.reason, reason);
    });

  void test('a tel URI’s visual separators are layout, not digits (RFC 3966 §5.1.1)', () => {
    assert.deepEqual(checkDialString('+86-10-(6552)-1234', 'tel'), { ok: true, number: '+861065521234' });
    assert.equal(checkDialString('+86-10-(6552)-1234', 'sip').ok, false);
  });

  void test('MUST refuse with 404 every injected character, before routing: no INVITE leaves for the trunk', () => {
    const { h, alice, carrier } = gateway();
    // RFC 3261 §19.1.2: escaped characters in the user part decode to what they stand for.
    const injected = ['9%7C95000', '9%2295000', '9%4095000', '9%3B95000', '9%2095000', '9%0D%0A5000'];
    for (const user of injected) alice.invite(`sip:${user}@${h.config.system.domain}`);
    h.run();
    assert.deepEqual(
      finals(alice),
      injected.map(() => 404),
    );
    assert.deepEqual(carrier.requestsReceived('INVITE'), [], 'nothing reached the trunk');
    assert.match(
      h.metrics.render(),
      new RegExp(`edgeline_dial_refused_total\\{reason="characters"\\} ${injected.length}`),
    );
    h.assertNothingLeftBehind();
  });

  void test('MUST refuse a number longer than E.164’s 15 digits (9 + 40 digits) with 404; 15 go out', () => {
    const { h, alice, carrier } = gateway();
    alice.invite(`9${'1'.repeat(40)}`);
    alice.invite(`9${'1'.repeat(16)}`);
    h.run();
    assert.deepEqual(finals(alice), [404, 404]);
    assert.equal(carrier.requestsReceived('INVITE').length, 0);
    alice.invite(`9${'1'.repeat(15)}`);
    h.run();
    const sent = carrier.requestsReceived('INVITE');
    assert.equal(sent.length, 1);
    assert.match(sent[0]?.uri ?? '', /^sip:1{15}@/);
  });

  void test('a route that allows longer numbers (maxDigits) carries them', () => {
    const { h, alice, carrier } = gateway(20);
    alice.invite(`9${'1'.repeat(20)}`);
    alice.invite(`9${'1'.repeat(21)}`);
    h.run();
    assert.equal(carrier.requestsReceived('INVITE').length, 1);
    assert.deepEqual(finals(alice), [404]);
  });
});
