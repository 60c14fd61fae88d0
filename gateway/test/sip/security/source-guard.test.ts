/**
 * Source protection on a manual clock: the fail2ban rule (5 failed digests in 60 s → banned for
 * 300 s), the flood limit, the allow-list, manual bans, bounded memory, and time that is the
 * monotonic clock only (a wall-clock jump neither lifts nor extends a ban).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ManualClock } from '../../../../base/clock.ts';
import { parseAddressRange } from '../../../../base/address-range.ts';
import {
  SourceGuard,
  type SourceBan,
  type SourceGuardPolicy,
} from '../../../src/sip/security/source-guard.ts';

function policy(over: Partial<SourceGuardPolicy> = {}): SourceGuardPolicy {
  const allow = ['127.0.0.1', '10.9.0.0/16'].map((a) => {
    const r = parseAddressRange(a);
    assert.ok(r.ok);
    return r.value;
  });
  return {
    authFailures: 5,
    authWindowMs: 60_000,
    banMs: 300_000,
    unansweredChallenges: 20,
    floodPerS: 100,
    allow,
    ...over,
  };
}

function guard(over: Partial<SourceGuardPolicy> = {}, limits = {}) {
  const clock = new ManualClock();
  const banned: SourceBan[] = [];
  const lifted: string[] = [];
  const g = new SourceGuard(
    policy(over),
    clock,
    { banned: (b) => banned.push(b), unbanned: (e) => lifted.push(`${e.address}:${e.expired}`) },
    limits,
  );
  return { g, clock, banned, lifted };
}

void describe('source protection (SourceGuard)', () => {
  void test('5 failed digests within 60 s ban the source for 300 s; its requests are dropped, then admitted again', () => {
    const { g, clock, banned, lifted } = guard();
    for (let i = 0; i < 4; i++) {
      g.authFailed('203.0.113.5', '1001', 'REGISTER');
      clock.advance(10_000);
    }
    assert.ok(g.admit('203.0.113.5'), 'four failures are no ban');
    g.authFailed('203.0.113.5', '1001', 'REGISTER');
    assert.deepEqual(
      banned.map((b) => [b.address, b.reason, b.untilWallMs - b.sinceWallMs]),
      [['203.0.113.5', 'auth-failures', 300_000]],
    );
    assert.equal(g.admit('203.0.113.5'), false);
    assert.equal(g.admit('203.0.113.6'), true, 'another source is not affected');
    clock.advance(299_999);
    assert.equal(g.admit('203.0.113.5'), false);
    assert.equal(g.list()[0]?.dropped, 2);
    clock.advance(1);
    assert.equal(g.admit('203.0.113.5'), true, 'the ban ends after 300 s');
    assert.deepEqual(lifted, ['203.0.113.5:true']);
    assert.deepEqual(g.list(), []);
  });

  void test('failures spread wider than the window never ban', () => {
    const { g, clock, banned } = guard();
    for (let i = 0; i < 20; i++) {
      g.authFailed('203.0.113.7', undefined, 'INVITE');
      clock.advance(15_001);
    }
    assert.deepEqual(banned, []);
  });

  void test('20 challenges a source never answers ban it as a scanner; a phone that answers each one never is', () => {
    const { g, clock, banned } = guard();
    for (let i = 0; i < 200; i++) {
      g.challenged('192.0.2.50');
      g.authenticated('192.0.2.50');
      clock.advance(100);
    }
    assert.equal(banned.length, 0, 'challenged 200 times, answered every time');
    for (let i = 0; i < 19; i++) g.challenged('192.0.2.60');
    assert.equal(banned.length, 0);
    g.challenged('192.0.2.60');
    assert.equal(banned.length, 1);
    assert.equal(banned[0]?.address, '192.0.2.60');
    assert.equal(banned[0]?.reason, 'scan');
  });

  void test('more requests in a second than floodPerS ban the source as a flood', () => {
    const { g, clock, banned } = guard({ floodPerS: 100 });
    for (let i = 0; i < 100; i++) assert.ok(g.admit('198.51.100.1'));
    clock.advance(999);
    assert.equal(g.admit('198.51.100.1'), false, 'the 101st in the same second');
    assert.equal(banned[0]?.reason, 'flood');
    // A steady 99 per second is fine.
    for (let s = 0; s < 5; s++) {
      clock.advance(1000);
      for (let i = 0; i < 99; i++) assert.ok(g.admit('198.51.100.2'));
    }
    assert.equal(banned.length, 1);
  });

  void test('the allow-list is never banned, by failures, flood or hand; a new policy frees what it allows', () => {
    const { g, banned } = guard();
    for (let i = 0; i < 10; i++) g.authFailed('127.0.0.1', '1001', 'REGISTER');
    for (let i = 0; i < 1000; i++) assert.ok(g.admit('10.9.3.4'));
    assert.equal(g.ban('10.9.0.1', 'manual'), false);
    assert.deepEqual(banned, []);
    assert.ok(g.ban('192.0.2.1', 'manual', 60_000));
    assert.equal(g.admit('192.0.2.1'), false);
    const wider = policy();
    const all = parseAddressRange('192.0.2.0/24');
    assert.ok(all.ok);
    g.setPolicy({ ...wider, allow: [...wider.allow, all.value] });
    assert.equal(g.admit('192.0.2.1'), true, 'allowed now: the ban is lifted');
  });

  void test('manual bans: any duration, lifted by hand; not an IP address is refused; IPv6 in the socket form', () => {
    const { g } = guard();
    assert.equal(g.ban('example.com', 'manual'), false);
    assert.ok(g.ban('2001:0db8:0:0:0:0:0:1', 'manual', 10_000));
    assert.equal(g.admit('2001:db8::1'), false, 'as the socket reports it');
    assert.ok(g.unban('2001:db8::1'));
    assert.equal(g.unban('2001:db8::1'), false);
    assert.equal(g.admit('2001:db8::1'), true);
  });

  void test('a wall-clock jump neither lifts nor extends a ban (monotonic time)', () => {
    const clock = new ManualClock();
    let wallOffset = 0;
    const jumpy = { now: () => clock.now(), wallNow: () => clock.wallNow() + wallOffset };
    const g = new SourceGuard(policy(), jumpy);
    g.ban('192.0.2.9', 'manual', 60_000);
    wallOffset = 3_600_000;
    assert.equal(g.admit('192.0.2.9'), false, 'an hour of wall clock later, still banned');
    wallOffset = -3_600_000;
    clock.advance(60_000);
    assert.equal(g.admit('192.0.2.9'), true, 'a minute of monotonic time later, free');
  });

  void test('memory stays bounded under a spoofed flood of sources', () => {
    const { g } = guard({ floodPerS: 1 }, { maxTracked: 1000, maxBans: 100 });
    for (let i = 0; i < 20_000; i++) {
      const a = `198.18.${(i >> 8) & 0xff}.${i & 0xff}`;
      g.admit(a);
      g.admit(a);
    }
    const d = g.dump();
    assert.ok(d.tracked <= 1000, `${d.tracked} tracked`);
    assert.ok(d.bans.length <= 100, `${d.bans.length} bans`);
    assert.equal(d.counters.banned.flood, 20_000);
  });
});
