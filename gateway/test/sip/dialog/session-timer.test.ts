import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../../../base/clock.ts';
import {
  SessionTimer,
  expiryDelayMs,
  fromUacResponse,
  negotiateUas,
  offerUac,
  parseMinSe,
  parseSessionExpires,
} from '../../../src/sip/dialog/session-timer.ts';
import { SipHeaders } from '../../../src/sip/message/index.ts';
import type { SipRequest, SipResponse } from '../../../src/sip/message/index.ts';

function invite(headers: [string, string][]): SipRequest {
  return {
    kind: 'request',
    method: 'INVITE',
    uri: 'sip:1000@gw.example.com',
    version: 'SIP/2.0',
    headers: SipHeaders.from(headers),
    body: Buffer.alloc(0),
  };
}

function response(status: number, headers: [string, string][]): SipResponse {
  return {
    kind: 'response',
    status,
    reason: 'X',
    version: 'SIP/2.0',
    headers: SipHeaders.from(headers),
    body: Buffer.alloc(0),
  };
}

const cfg = { sessionExpiresS: 1800, minSeS: 90 };

void describe('Session-Expires and Min-SE syntax (RFC 4028 §4, §5)', () => {
  const good: [string, number, string | undefined][] = [
    ['1800', 1800, undefined],
    ['4000;refresher=uac', 4000, 'uac'],
    ['90 ; refresher = UAS', 90, 'uas'],
    ['600;foo=bar', 600, undefined],
  ];
  for (const [v, delta, refresher] of good) {
    void test(`parses Session-Expires: ${v}`, () => {
      const r = parseSessionExpires(v);
      assert.ok(r.ok);
      assert.equal(r.value.deltaS, delta);
      assert.equal(r.value.refresher, refresher);
    });
  }
  for (const v of ['', 'abc', '1800;refresher=proxy', '-5']) {
    void test(`rejects Session-Expires: '${v}'`, () => {
      const r = parseSessionExpires(v);
      assert.equal(r.ok, false);
      if (!r.ok) assert.equal(r.error.field, 'Session-Expires');
    });
  }
  void test('parses Min-SE with parameters', () => {
    assert.deepEqual(parseMinSe('120;x=1'), { ok: true, value: 120 });
    assert.equal(parseMinSe('soon').ok, false);
  });
});

void describe('UAS negotiation (RFC 4028 §9)', () => {
  void test('MUST reject a Session-Expires below our Min-SE with 422 carrying Min-SE', () => {
    const r = negotiateUas(
      invite([
        ['Supported', 'timer'],
        ['Session-Expires', '100'],
      ]),
      { sessionExpiresS: 1800, minSeS: 300 },
    );
    assert.deepEqual(r, {
      ok: false,
      status: 422,
      reason: 'Session Interval Too Small',
      headers: [['Min-SE', '300']],
    });
  });

  void test('never accepts below 90 s even when configured lower', () => {
    const r = negotiateUas(invite([['Session-Expires', '60']]), { sessionExpiresS: 1800, minSeS: 30 });
    assert.equal(r.ok ? 0 : r.status, 422);
    if (!r.ok) assert.deepEqual(r.headers, [['Min-SE', '90']]);
  });

  const accepted: {
    name: string;
    headers: [string, string][];
    intervalS: number;
    refresher: 'uac' | 'uas';
    response: [string, string][];
  }[] = [
    {
      name: 'UAC supports timer and asks 900: copied, refresher chosen uac, Require: timer',
      headers: [
        ['Supported', 'timer'],
        ['Session-Expires', '900'],
      ],
      intervalS: 900,
      refresher: 'uac',
      response: [
        ['Session-Expires', '900;refresher=uac'],
        ['Require', 'timer'],
      ],
    },
    {
      name: 'the UAC’s refresher parameter is kept',
      headers: [
        ['Supported', '100rel, timer'],
        ['Session-Expires', '1200;refresher=uas'],
      ],
      intervalS: 1200,
      refresher: 'uas',
      response: [
        ['Session-Expires', '1200;refresher=uas'],
        ['Require', 'timer'],
      ],
    },
    {
      name: 'a larger interval may be reduced to ours, never below their Min-SE',
      headers: [
        ['Supported', 'timer'],
        ['Session-Expires', '7200'],
        ['Min-SE', '3600'],
      ],
      intervalS: 3600,
      refresher: 'uac',
      response: [
        ['Session-Expires', '3600;refresher=uac'],
        ['Require', 'timer'],
      ],
    },
    {
      name: 'UAC without timer support: we refresh (uas) and send no Require',
      headers: [['Session-Expires', '1800']],
      intervalS: 1800,
      refresher: 'uas',
      response: [['Session-Expires', '1800;refresher=uas']],
    },
    {
      name: 'no Session-Expires in the request: we insert ours',
      headers: [['Supported', 'timer']],
      intervalS: 1800,
      refresher: 'uac',
      response: [
        ['Session-Expires', '1800;refresher=uac'],
        ['Require', 'timer'],
      ],
    },
  ];
  for (const c of accepted) {
    void test(c.name, () => {
      const r = negotiateUas(invite(c.headers), cfg);
      assert.ok(r.ok);
      assert.deepEqual(r.timer, { intervalS: c.intervalS, refresher: c.refresher });
      assert.deepEqual(r.headers, c.response);
    });
  }

  void test('a malformed Session-Expires is a 400', () => {
    const r = negotiateUas(invite([['Session-Expires', 'never']]), cfg);
    assert.equal(r.ok ? 0 : r.status, 400);
  });
});

void describe('UAC side (RFC 4028 §7)', () => {
  void test('offers Supported: timer, Session-Expires and Min-SE', () => {
    assert.deepEqual(offerUac(cfg), [
      ['Supported', 'timer'],
      ['Session-Expires', '1800'],
      ['Min-SE', '90'],
    ]);
  });

  void test('after a 422 retries with the Min-SE of the response', () => {
    const r422 = response(422, [['Min-SE', '3600']]);
    assert.deepEqual(offerUac(cfg, r422), [
      ['Supported', 'timer'],
      ['Session-Expires', '3600'],
      ['Min-SE', '3600'],
    ]);
  });

  const answers: { name: string; headers: [string, string][]; expect: unknown }[] = [
    { name: 'no Session-Expires: no session expiration', headers: [], expect: null },
    {
      name: 'refresher=uas',
      headers: [['Session-Expires', '1800;refresher=uas']],
      expect: { intervalS: 1800, refresher: 'uas' },
    },
    {
      name: 'no refresher: we refresh',
      headers: [['Session-Expires', '600']],
      expect: { intervalS: 600, refresher: 'uac' },
    },
  ];
  for (const c of answers) {
    void test(`reads the 2xx: ${c.name}`, () => {
      const r = fromUacResponse(response(200, c.headers));
      assert.ok(r.ok);
      assert.deepEqual(r.value, c.expect);
    });
  }
});

void describe('SessionTimer (RFC 4028 §10)', () => {
  const expiry: [number, number][] = [
    [1800, 1768_000],
    [90, 60_000],
    [120, 88_000],
  ];
  for (const [intervalS, ms] of expiry) {
    void test(`BYE deadline for ${intervalS} s is interval − min(32, interval/3) = ${ms} ms`, () => {
      assert.equal(expiryDelayMs(intervalS), ms);
    });
  }

  void test('the refresher SHOULD refresh at half the interval; refreshed() restarts', () => {
    const clock = new ManualClock();
    const events: string[] = [];
    const t = new SessionTimer({
      timers: clock,
      intervalS: 1800,
      localRefresher: true,
      onRefreshDue: () => events.push(`refresh@${clock.now()}`),
      onExpired: () => events.push(`expired@${clock.now()}`),
    });
    clock.advance(899_999);
    assert.deepEqual(events, []);
    clock.advance(1);
    assert.deepEqual(events, ['refresh@900000']);
    assert.equal(t.state, 'refresh-due');
    clock.advance(10_000);
    t.refreshed();
    assert.equal(t.state, 'running');
    clock.advance(900_000);
    assert.deepEqual(events, ['refresh@900000', 'refresh@1810000']);
    t.close();
    assert.deepEqual(clock.armed(), []);
  });

  void test('the refresher whose refresh gets no answer ends the session at the deadline', () => {
    const clock = new ManualClock();
    const events: string[] = [];
    new SessionTimer({
      timers: clock,
      intervalS: 90,
      localRefresher: true,
      onRefreshDue: () => events.push(`refresh@${clock.now()}`),
      onExpired: () => events.push(`expired@${clock.now()}`),
    });
    clock.advance(100_000);
    assert.deepEqual(events, ['refresh@45000', 'expired@60000']);
    assert.deepEqual(clock.armed(), []);
  });

  void test('the side not refreshing sends BYE at interval − min(32, interval/3) unless refreshed', () => {
    const clock = new ManualClock();
    const events: string[] = [];
    const t = new SessionTimer({
      timers: clock,
      intervalS: 1800,
      localRefresher: false,
      onRefreshDue: () => events.push('refresh'),
      onExpired: () => events.push(`expired@${clock.now()}`),
    });
    assert.deepEqual(clock.armed(), ['session-expiry']);
    clock.advance(1_000_000);
    t.refreshed({ intervalS: 600, localRefresher: false });
    clock.advance(567_999);
    assert.deepEqual(events, []);
    clock.advance(1);
    assert.deepEqual(events, ['expired@1568000']);
    assert.equal(t.state, 'expired');
    t.refreshed();
    assert.equal(t.state, 'expired', 'an expired session is not revived');
    assert.deepEqual(t.dump(), { state: 'expired', intervalS: 600, localRefresher: false, refreshes: 1 });
  });
});
