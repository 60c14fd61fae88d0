import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/core/clock.ts';
import {
  FailoverAttempt,
  type AttemptEvent,
  type FailoverOutcome,
} from '../../src/failover/failover-attempt.ts';
import { DEFAULT_FAILOVER_ON_STATUS, orderMembers } from '../../src/failover/member-selection.ts';
import { TrunkMonitor } from '../../src/failover/trunk-health.ts';
import { memberKey, type CallResultReport, type MemberRef } from '../../src/failover/types.ts';

const TIMER_B_MS = 64 * 500;

const member = (host: string): MemberRef => ({
  trunkId: 'core',
  host,
  port: 5060,
  transport: 'udp',
  weight: 1,
});
const A = member('a');
const B = member('b');
const C = member('c');

interface SentInvite {
  member: MemberRef;
  emit: (e: AttemptEvent) => void;
  abandoned: boolean;
  atMs: number;
}

function harness(
  members: MemberRef[],
  opts: { inviteTimeoutMs?: number; onSend?: (s: SentInvite) => void } = {},
) {
  const clock = new ManualClock();
  const sent: SentInvite[] = [];
  const reports: Array<[string, CallResultReport]> = [];
  const outcomes: FailoverOutcome[] = [];
  const attempt = new FailoverAttempt(
    {
      clock,
      timers: clock,
      attempt(m, emit) {
        const s: SentInvite = { member: m, emit, abandoned: false, atMs: clock.now() };
        sent.push(s);
        opts.onSend?.(s);
        return { abandon: () => (s.abandoned = true) };
      },
      health: { reportCallResult: (m, r) => reports.push([m.host, r]) },
      onOutcome: (o) => outcomes.push(o),
    },
    { members, inviteTimeoutMs: opts.inviteTimeoutMs ?? 2000, onStatus: DEFAULT_FAILOVER_ON_STATUS },
  );
  const last = () => {
    const s = sent.at(-1);
    assert.ok(s, 'an INVITE was sent');
    return s;
  };
  return { clock, sent, reports, outcomes, attempt, last };
}

void describe('FailoverAttempt', () => {
  void test('answers on the first member that returns 2xx', async () => {
    const h = harness([A, B]);
    h.attempt.start();
    h.last().emit({ type: 'provisional', status: 100 });
    h.last().emit({ type: 'provisional', status: 180 });
    h.last().emit({ type: 'final', status: 200 });
    const o = await h.attempt.done;
    assert.equal(o.kind, 'answered');
    assert.equal(o.kind === 'answered' && o.member.host, 'a');
    assert.equal(h.sent.length, 1);
    assert.deepEqual(h.reports, [['a', { ok: true, reason: 'call-200' }]]);
    assert.deepEqual(h.clock.armed(), []);
  });

  void test('fails over on 503 to the next member', () => {
    const h = harness([A, B]);
    h.attempt.start();
    h.last().emit({ type: 'provisional', status: 100 });
    h.last().emit({ type: 'final', status: 503 });
    assert.equal(h.last().member.host, 'b');
    h.last().emit({ type: 'final', status: 200 });
    assert.equal(h.outcomes[0]?.kind, 'answered');
    assert.deepEqual(
      h.outcomes[0]?.tried.map((t) => [t.member.host, t.result]),
      [
        ['a', 503],
        ['b', 200],
      ],
    );
    assert.deepEqual(h.reports[0], ['a', { ok: false, reason: 'call-503' }]);
  });

  void test('fails over when no response arrives within inviteTimeoutMs, without waiting for Timer B', () => {
    const h = harness([A, B], { inviteTimeoutMs: 2000 });
    h.attempt.start();
    assert.deepEqual(h.clock.armed(), ['invite-timeout']);
    h.clock.advance(1999);
    assert.equal(h.sent.length, 1);
    h.clock.advance(1);
    assert.equal(h.sent[0]?.abandoned, true, 'the silent member is abandoned');
    assert.equal(h.last().member.host, 'b');
    assert.equal(h.last().atMs, 2000);
    assert.ok(h.last().atMs < TIMER_B_MS);
    h.last().emit({ type: 'final', status: 200 });
    assert.equal(h.outcomes[0]?.kind, 'answered');
    assert.deepEqual(h.reports[0], ['a', { ok: false, reason: 'call-timeout' }]);
  });

  void test('100 Trying stops the invite timeout but a later 503 still fails over', () => {
    const h = harness([A, B], { inviteTimeoutMs: 2000 });
    h.attempt.start();
    h.last().emit({ type: 'provisional', status: 100 });
    assert.equal(h.attempt.state, 'proceeding');
    h.clock.advance(10_000);
    assert.equal(h.sent.length, 1, 'a member that answered 100 is not abandoned');
    h.last().emit({ type: 'final', status: 503 });
    assert.equal(h.last().member.host, 'b');
  });

  for (const status of [486, 603, 404, 480, 600]) {
    void test(`never fails over on ${status}: the callee answered`, () => {
      const h = harness([A, B]);
      h.attempt.start();
      h.last().emit({ type: 'final', status });
      assert.equal(h.sent.length, 1);
      assert.deepEqual(
        { kind: h.outcomes[0]?.kind, status: h.outcomes[0]?.kind === 'failed' && h.outcomes[0].status },
        { kind: 'failed', status },
      );
      assert.equal(h.reports[0]?.[1].ok, true, 'the member itself is healthy');
    });
  }

  void test('no failover after 180 Ringing: a later 503 is the call’s outcome', () => {
    const h = harness([A, B]);
    h.attempt.start();
    h.last().emit({ type: 'provisional', status: 180 });
    assert.equal(h.attempt.state, 'ringing');
    h.clock.advance(60_000);
    assert.equal(h.sent.length, 1);
    h.last().emit({ type: 'final', status: 503 });
    assert.equal(h.sent.length, 1);
    const o = h.outcomes[0];
    assert.equal(o?.kind === 'failed' && o.status, 503);
  });

  void test('no failover after 183 Session Progress: a transaction timeout ends the call with 408', () => {
    const h = harness([A, B]);
    h.attempt.start();
    h.last().emit({ type: 'provisional', status: 183 });
    h.last().emit({ type: 'timeout' });
    assert.equal(h.sent.length, 1);
    const o = h.outcomes[0];
    assert.equal(o?.kind === 'failed' && o.status, 408);
    assert.deepEqual(
      h.reports[0],
      ['a', { ok: true, reason: 'call-timeout' }],
      'it answered, so it is alive',
    );
  });

  void test('all members down → fail fast with 503 and send nothing', () => {
    const h = harness([]);
    h.attempt.start();
    assert.equal(h.sent.length, 0);
    assert.deepEqual(h.outcomes[0], { kind: 'failed', status: 503, reason: 'no-usable-member', tried: [] });
    assert.deepEqual(h.clock.armed(), []);
  });

  void test('when every member is silent the call fails with 408 (§16.7) after one inviteTimeout each', () => {
    const h = harness([A, B, C], { inviteTimeoutMs: 1500 });
    h.attempt.start();
    h.clock.advance(4500);
    const o = h.outcomes[0];
    assert.equal(o?.kind === 'failed' && o.status, 408);
    assert.equal(o?.kind === 'failed' && o.reason, 'all-members-failed');
    assert.deepEqual(
      h.sent.map((s) => [s.member.host, s.atMs, s.abandoned]),
      [
        ['a', 0, true],
        ['b', 1500, true],
        ['c', 3000, true],
      ],
    );
  });

  void test('the last response wins when every member failed over; transport errors alone give 503', () => {
    const h = harness([A, B]);
    h.attempt.start();
    h.last().emit({ type: 'final', status: 500 });
    h.last().emit({ type: 'transport-error' });
    assert.equal(h.outcomes[0]?.kind === 'failed' && h.outcomes[0].status, 500);

    const t = harness([A, B]);
    t.attempt.start();
    t.last().emit({ type: 'transport-error' });
    t.last().emit({ type: 'transport-error' });
    assert.equal(t.outcomes[0]?.kind === 'failed' && t.outcomes[0].status, 503);
  });

  void test('a transport error reported synchronously by the port moves on at once', () => {
    const h = harness([A, B], {
      onSend: (s) => {
        if (s.member.host === 'a') s.emit({ type: 'transport-error' });
      },
    });
    h.attempt.start();
    assert.deepEqual(
      h.sent.map((s) => s.member.host),
      ['a', 'b'],
    );
    assert.deepEqual(h.clock.armed(), ['invite-timeout']);
    h.last().emit({ type: 'final', status: 200 });
    assert.equal(h.outcomes[0]?.kind, 'answered');
  });

  void test('events from an abandoned member are ignored', () => {
    const h = harness([A, B], { inviteTimeoutMs: 1000 });
    h.attempt.start();
    const first = h.last();
    h.clock.advance(1000);
    first.emit({ type: 'final', status: 200 });
    assert.equal(h.outcomes.length, 0);
    h.last().emit({ type: 'final', status: 486 });
    assert.equal(h.outcomes[0]?.kind === 'failed' && h.outcomes[0].status, 486);
  });

  void test('cancel() abandons the member being tried and ends the attempt as cancelled', () => {
    const h = harness([A, B]);
    h.attempt.start();
    h.last().emit({ type: 'provisional', status: 180 });
    h.attempt.cancel();
    assert.equal(h.sent[0]?.abandoned, true);
    assert.equal(h.outcomes[0]?.kind, 'cancelled');
    assert.deepEqual(h.clock.armed(), []);
    assert.deepEqual(h.attempt.dump().tried, [
      { member: 'udp:a:5060', result: 'cancelled', provisional: 180, startedAtMs: 0, endedAtMs: 0 },
    ]);
  });

  void test('call timeouts feed passive health: a stopped member is marked down and skipped for the next call', () => {
    const clock = new ManualClock();
    const trunk = {
      id: 'core',
      members: [A, B].map(({ host, port, transport, weight }) => ({ host, port, transport, weight })),
      probe: { enabled: false, intervalMs: 30_000, timeoutMs: 2000, downAfter: 2, upAfter: 1 },
    };
    const monitor = new TrunkMonitor(
      { clock, timers: clock, probe: () => Promise.resolve({ ok: false, reason: 'timeout' }) },
      [trunk],
    );
    const placeCall = () => {
      const members = orderMembers(trunk, monitor.lookup, 'priority', 0);
      const a = new FailoverAttempt(
        {
          clock,
          timers: clock,
          attempt: (m, emit) => {
            // Member a is stopped (never answers); member b answers at once.
            if (m.host === 'b') queueMicrotask(() => emit({ type: 'final', status: 200 }));
            return { abandon: () => {} };
          },
          health: monitor,
        },
        { members, inviteTimeoutMs: 1000, onStatus: [503] },
      );
      a.start();
      return a;
    };
    for (let i = 0; i < 2; i++) {
      const call = placeCall();
      assert.equal(call.dump().current?.member, 'udp:a:5060');
      clock.advance(1000);
      call.close();
    }
    assert.equal(monitor.stateOf(A), 'down');
    const third = placeCall();
    assert.equal(third.dump().current?.member, memberKey(B), 'the next call goes straight to b');
    third.close();
    assert.deepEqual(clock.armed(), ['hold-down'], 'with probing off, a is retried after one interval');
    monitor.close();
    assert.deepEqual(clock.armed(), []);
  });
});
