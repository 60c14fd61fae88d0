import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../../base/clock.ts';
import { MetricsRegistry } from '../../src/core/metrics.ts';
import { isAliveReply, TrunkMonitor, type ProbeResult } from '../../src/failover/trunk-health.ts';
import {
  memberKey,
  type MemberHealthState,
  type MemberRef,
  type TrunkHealthDef,
  type TrunkMemberConfig,
} from '../../src/failover/types.ts';

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

type Behaviour = { status: number; rttMs?: number } | 'hang' | 'transport-error';

function harness(trunks: TrunkHealthDef[], initial: Behaviour = { status: 200 }) {
  const clock = new ManualClock();
  const behaviour = new Map<string, Behaviour>();
  const probes: Array<{ member: string; atMs: number }> = [];
  const changes: Array<{ member: string; state: MemberHealthState; reason: string }> = [];
  const metrics = new MetricsRegistry();
  const monitor = new TrunkMonitor(
    {
      clock,
      timers: clock,
      metrics,
      probe(member: MemberRef): Promise<ProbeResult> {
        probes.push({ member: memberKey(member), atMs: clock.now() });
        const b = behaviour.get(memberKey(member)) ?? initial;
        if (b === 'hang') return new Promise(() => {});
        if (b === 'transport-error') return Promise.resolve({ ok: false, reason: 'transport-error' });
        return Promise.resolve({ ok: true, status: b.status, rttMs: b.rttMs ?? 10 });
      },
      onStateChange: (m, state, reason) => changes.push({ member: memberKey(m), state, reason }),
    },
    trunks,
  );
  const tick = async (ms: number) => {
    clock.advance(ms);
    await flush();
  };
  return { clock, monitor, behaviour, probes, changes, metrics, tick };
}

const A: TrunkMemberConfig = { host: '10.0.0.1', port: 5060, transport: 'udp', weight: 1 };
const B: TrunkMemberConfig = { host: '10.0.0.2', port: 5060, transport: 'udp', weight: 1 };
const probe = { enabled: true, intervalMs: 1000, timeoutMs: 500, downAfter: 3, upAfter: 2 };
const trunk = (members = [A, B], p = probe): TrunkHealthDef => ({ id: 'core', members, probe: p });
const ref = (m: TrunkMemberConfig): MemberRef => ({ trunkId: 'core', ...m });

void describe('TrunkMonitor (dispatcher-style member health)', () => {
  void test('members start up so the first calls after boot are not refused', () => {
    const h = harness([trunk()]);
    assert.equal(h.monitor.stateOf(ref(A)), 'up');
    assert.equal(h.monitor.isUsable(ref(B)), true);
    h.monitor.close();
  });

  void test('a member failing downAfter consecutive probes is marked down', async () => {
    const h = harness([trunk()]);
    h.behaviour.set(memberKey(A), { status: 503 });
    await h.tick(0);
    assert.equal(h.monitor.stateOf(ref(A)), 'probing', 'one failure: still usable, being decided');
    await h.tick(1000);
    assert.equal(h.monitor.stateOf(ref(A)), 'probing');
    await h.tick(1000);
    assert.equal(h.monitor.stateOf(ref(A)), 'down');
    assert.equal(h.monitor.stateOf(ref(B)), 'up');
    assert.deepEqual(
      h.changes.map((c) => [c.member, c.state, c.reason]),
      [
        ['udp:10.0.0.1:5060', 'probing', 'probe-503'],
        ['udp:10.0.0.1:5060', 'down', 'probe-503'],
      ],
    );
    h.monitor.close();
  });

  void test('upAfter consecutive successes mark it up again', async () => {
    const h = harness([trunk()]);
    h.behaviour.set(memberKey(A), 'transport-error');
    await h.tick(0);
    await h.tick(2000);
    assert.equal(h.monitor.stateOf(ref(A)), 'down');
    h.behaviour.set(memberKey(A), { status: 200 });
    await h.tick(1000);
    assert.equal(h.monitor.stateOf(ref(A)), 'down', 'one success is not enough with upAfter = 2');
    await h.tick(1000);
    assert.equal(h.monitor.stateOf(ref(A)), 'up');
    const a = h.monitor.dump().trunks[0]?.members.find((m) => m.member === memberKey(A));
    assert.equal(a?.consecutiveSuccesses, 2);
    assert.equal(a?.consecutiveFailures, 0);
    h.monitor.close();
  });

  void test('a success while failing (probing) returns the member to up and resets the failure count', async () => {
    const h = harness([trunk()]);
    h.behaviour.set(memberKey(A), { status: 500 });
    await h.tick(0);
    await h.tick(1000);
    h.behaviour.set(memberKey(A), { status: 200 });
    await h.tick(1000);
    assert.equal(h.monitor.stateOf(ref(A)), 'up');
    h.behaviour.set(memberKey(A), { status: 500 });
    await h.tick(1000);
    await h.tick(1000);
    assert.equal(h.monitor.stateOf(ref(A)), 'probing', 'the count restarted after the success');
    h.monitor.close();
  });

  void test('a probe with no answer by timeoutMs counts as a failure', async () => {
    const h = harness([trunk([A], { ...probe, downAfter: 1 })]);
    h.behaviour.set(memberKey(A), 'hang');
    await h.tick(0);
    assert.equal(h.monitor.stateOf(ref(A)), 'up');
    assert.deepEqual(h.clock.armed().sort(), ['probe', 'probe-timeout']);
    await h.tick(499);
    assert.equal(h.monitor.stateOf(ref(A)), 'up');
    await h.tick(1);
    assert.equal(h.monitor.stateOf(ref(A)), 'down');
    assert.equal(h.monitor.dump().trunks[0]?.members[0]?.lastResult, 'timeout');
    h.monitor.close();
  });

  void test('a probe outstanding longer than intervalMs is not overlapped by the next one', async () => {
    const h = harness([trunk([A], { ...probe, timeoutMs: 2500 })]);
    h.behaviour.set(memberKey(A), 'hang');
    await h.tick(0);
    await h.tick(2000);
    assert.equal(h.probes.length, 1);
    await h.tick(1000);
    assert.equal(h.probes.length, 2, 'after the timeout at 2500 the 3000 ms round probes again');
    h.monitor.close();
  });

  void test('alive replies per the documented default: any 2xx and the refusals only a running stack sends', () => {
    const cases: Array<[number, boolean]> = [
      [200, true],
      [202, true],
      [401, true],
      [403, true],
      [404, true],
      [405, true],
      [407, true],
      [489, true],
      [501, true],
      [100, false],
      [408, false],
      [480, false],
      [500, false],
      [503, false],
      [504, false],
      [603, false],
    ];
    for (const [status, alive] of cases) assert.equal(isAliveReply(status), alive, `status ${status}`);
    assert.equal(isAliveReply(503, 'any-final'), true);
    assert.equal(isAliveReply(180, 'any-final'), false);
    assert.equal(isAliveReply(405, []), false);
  });

  void test('call timeouts mark a member down before the next probe round (passive health)', async () => {
    const h = harness([trunk()]);
    await h.tick(0);
    for (let i = 0; i < 3; i++) h.monitor.reportCallResult(ref(A), { ok: false, reason: 'call-timeout' });
    assert.equal(h.monitor.stateOf(ref(A)), 'down');
    assert.equal(h.changes.at(-1)?.reason, 'call-timeout');
    h.monitor.close();
  });

  void test('with probing disabled a passively failed member is held down for one interval, then retried', () => {
    const h = harness([trunk([A], { ...probe, enabled: false, downAfter: 1 })]);
    assert.deepEqual(h.clock.armed(), [], 'no probe timers');
    h.monitor.reportCallResult(ref(A), { ok: false });
    assert.equal(h.monitor.stateOf(ref(A)), 'down');
    h.clock.advance(999);
    assert.equal(h.monitor.stateOf(ref(A)), 'down');
    h.clock.advance(1);
    assert.equal(h.monitor.stateOf(ref(A)), 'up');
    assert.equal(h.probes.length, 0);
    h.monitor.close();
  });

  void test('keeps last and smoothed RTT (RFC 6298 alpha = 1/8)', async () => {
    const h = harness([trunk([A])]);
    h.behaviour.set(memberKey(A), { status: 200, rttMs: 80 });
    await h.tick(0);
    h.behaviour.set(memberKey(A), { status: 200, rttMs: 160 });
    await h.tick(1000);
    const rtt = h.monitor.dump().trunks[0]?.members[0]?.rtt;
    assert.deepEqual(rtt, { lastMs: 160, avgMs: 90, samples: 2 });
    h.monitor.close();
  });

  void test('update() keeps the state of unchanged members, drops removed ones and adds new ones up', async () => {
    const h = harness([trunk()]);
    h.behaviour.set(memberKey(A), { status: 503 });
    await h.tick(0);
    await h.tick(2000);
    assert.equal(h.monitor.stateOf(ref(A)), 'down');
    const C: TrunkMemberConfig = { host: '10.0.0.3', port: 5061, transport: 'tls', weight: 1 };
    h.monitor.update([trunk([{ ...A, weight: 5 }, C])]);
    assert.equal(h.monitor.stateOf(ref(A)), 'down', 're-weighting keeps health');
    assert.equal(h.monitor.stateOf(ref(B)), undefined);
    assert.equal(h.monitor.stateOf(ref(C)), 'up');
    assert.equal(h.monitor.dump().trunks[0]?.members[0]?.weight, 5);
    h.monitor.update([]);
    assert.deepEqual(h.monitor.dump().trunks, []);
    assert.deepEqual(h.clock.armed(), []);
    h.monitor.close();
  });

  void test('dump() reports state, counts, last probe time and rtt as plain JSON; metrics expose up/down', async () => {
    const h = harness([trunk([A], { ...probe, downAfter: 1 })]);
    h.behaviour.set(memberKey(A), { status: 503, rttMs: 12 });
    await h.tick(0);
    const d = h.monitor.dump();
    assert.deepEqual(JSON.parse(JSON.stringify(d)), d);
    assert.deepEqual(d.trunks[0]?.members[0], {
      member: 'udp:10.0.0.1:5060',
      host: '10.0.0.1',
      port: 5060,
      transport: 'udp',
      weight: 1,
      state: 'down',
      consecutiveFailures: 1,
      consecutiveSuccesses: 0,
      lastProbeAtMs: 0,
      lastProbeWallMs: h.clock.wallNow(),
      lastResult: '503',
      lastChangeReason: 'probe-503',
      probeInFlight: false,
      rtt: { lastMs: 12, avgMs: 12, samples: 1 },
    });
    const text = h.metrics.render();
    assert.match(text, /edgeline_trunk_member_up\{trunk="core",member="udp:10.0.0.1:5060"\} 0/);
    assert.match(
      text,
      /edgeline_trunk_probes_total\{trunk="core",member="udp:10.0.0.1:5060",result="failed"\} 1/,
    );
    h.monitor.close();
  });

  void test('close() cancels every timer and ignores late probe answers', async () => {
    const h = harness([trunk()], 'hang');
    await h.tick(0);
    assert.ok(h.clock.armed().length > 0);
    h.monitor.close();
    assert.deepEqual(h.clock.armed(), []);
    h.monitor.reportCallResult(ref(A), { ok: false });
    assert.equal(h.monitor.dump().closed, true);
  });
});
