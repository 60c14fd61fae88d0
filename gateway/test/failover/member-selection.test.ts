import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_FAILOVER_ON_STATUS,
  isMemberFailure,
  orderMembers,
  shouldFailover,
  type AttemptFailure,
} from '../../src/failover/member-selection.ts';
import type { HealthLookup, MemberHealthState, TrunkMembersDef } from '../../src/failover/types.ts';

const m = (host: string, weight = 1) => ({ host, port: 5060, transport: 'udp' as const, weight });
const trunk: TrunkMembersDef = { id: 'itsp', members: [m('a'), m('b'), m('c')] };
const healthOf =
  (states: Record<string, MemberHealthState>): HealthLookup =>
  (ref) =>
    states[ref.host];
const allUp: HealthLookup = () => 'up';
const hosts = (refs: Array<{ host: string }>) => refs.map((r) => r.host);

void describe('orderMembers', () => {
  void test('priority keeps configuration order and tags each member with its trunk', () => {
    const out = orderMembers(trunk, allUp, 'priority', 7);
    assert.deepEqual(hosts(out), ['a', 'b', 'c']);
    assert.equal(out[0]?.trunkId, 'itsp');
  });

  void test('a down member is skipped for new calls; probing and unknown members are still tried', () => {
    const health = healthOf({ a: 'down', b: 'probing' });
    for (const policy of ['priority', 'round-robin', 'weighted'] as const) {
      const out = hosts(orderMembers(trunk, health, policy, 0));
      assert.ok(!out.includes('a'), policy);
      assert.deepEqual([...out].sort(), ['b', 'c'], policy);
    }
  });

  void test('all members down → no member to try (the call fails fast with 503)', () => {
    const health = healthOf({ a: 'down', b: 'down', c: 'down' });
    for (const policy of ['priority', 'round-robin', 'weighted'] as const) {
      assert.deepEqual(orderMembers(trunk, health, policy, 3), [], policy);
    }
  });

  void test('round-robin starts each call on the next member and fails over through the rest', () => {
    const cases: Array<[number, string[]]> = [
      [0, ['a', 'b', 'c']],
      [1, ['b', 'c', 'a']],
      [2, ['c', 'a', 'b']],
      [3, ['a', 'b', 'c']],
      [-1, ['b', 'c', 'a']],
    ];
    for (const [counter, want] of cases)
      assert.deepEqual(hosts(orderMembers(trunk, allUp, 'round-robin', counter)), want);
  });

  void test('round-robin rotates over usable members only', () => {
    const health = healthOf({ b: 'down' });
    assert.deepEqual(hosts(orderMembers(trunk, health, 'round-robin', 1)), ['c', 'a']);
  });

  void test('weighted spreads first choices in proportion to weight and lists every usable member once', () => {
    const weighted: TrunkMembersDef = { id: 't', members: [m('a', 3), m('b', 1), m('c', 0)] };
    const firsts: Record<string, number> = {};
    for (let i = 0; i < 1000; i++) {
      const out = hosts(orderMembers(weighted, allUp, 'weighted', i));
      assert.equal(out.length, 3);
      assert.equal(out[2], 'c', 'weight 0 is a backup, tried last');
      firsts[out[0] ?? ''] = (firsts[out[0] ?? ''] ?? 0) + 1;
    }
    assert.ok(Math.abs((firsts['a'] ?? 0) - 750) <= 10, `a first ${firsts['a']}`);
    assert.ok(Math.abs((firsts['b'] ?? 0) - 250) <= 10, `b first ${firsts['b']}`);
    assert.equal(firsts['c'], undefined);
  });

  void test('weighted interleaves rather than sending bursts to one member', () => {
    const weighted: TrunkMembersDef = { id: 't', members: [m('a', 1), m('b', 1)] };
    const firsts = Array.from({ length: 8 }, (_, i) => orderMembers(weighted, allUp, 'weighted', i)[0]?.host);
    let longestRun = 1;
    let run = 1;
    for (let i = 1; i < firsts.length; i++) {
      run = firsts[i] === firsts[i - 1] ? run + 1 : 1;
      longestRun = Math.max(longestRun, run);
    }
    assert.ok(longestRun <= 2, firsts.join(','));
  });

  void test('weighted falls back to backups when every weighted member is down', () => {
    const weighted: TrunkMembersDef = { id: 't', members: [m('a', 3), m('b', 0)] };
    assert.deepEqual(hosts(orderMembers(weighted, healthOf({ a: 'down' }), 'weighted', 0)), ['b']);
  });
});

void describe('shouldFailover', () => {
  const onStatus = [...DEFAULT_FAILOVER_ON_STATUS];
  const cases: Array<[AttemptFailure, boolean, string]> = [
    ['timeout', true, 'no answer from the member'],
    ['transport-error', true, 'member unreachable'],
    [503, true, 'configured: service unavailable'],
    [500, true, 'configured: server error'],
    [408, true, 'configured: next hop timed out'],
    [502, true, 'configured: bad gateway'],
    [501, false, 'not configured'],
    [486, false, 'busy here is the callee’s answer'],
    [600, false, 'busy everywhere'],
    [603, false, 'decline'],
    [604, false, 'does not exist anywhere'],
    [404, false, 'not found is true at every member'],
    [410, false, 'gone'],
    [484, false, 'address incomplete'],
    [480, false, 'callee reached but unavailable (§21.4.18)'],
    [487, false, 'request terminated'],
    [401, false, 'challenge: handled as auth'],
    [407, false, 'proxy challenge: handled as auth'],
    [200, false, 'answered'],
    [302, false, 'redirect'],
    [180, false, 'provisional'],
  ];
  for (const [status, want, why] of cases) {
    void test(`${want ? 'MUST' : 'MUST NOT'} fail over on ${status} (${why})`, () => {
      assert.equal(shouldFailover(status, onStatus), want);
    });
  }

  void test('never fails over on user answers even when a trunk lists them in onStatus', () => {
    for (const status of [404, 410, 480, 484, 486, 600, 603, 401, 407, 200, 302]) {
      assert.equal(shouldFailover(status, [status]), false, String(status));
    }
  });
});

void describe('isMemberFailure (passive health)', () => {
  const cases: Array<[AttemptFailure, boolean]> = [
    ['timeout', true],
    ['transport-error', true],
    [503, true],
    [500, false],
    [486, false],
    [200, false],
  ];
  for (const [status, want] of cases) {
    void test(`${status} ${want ? 'counts' : 'does not count'} against the member`, () => {
      assert.equal(isMemberFailure(status), want);
    });
  }
});
