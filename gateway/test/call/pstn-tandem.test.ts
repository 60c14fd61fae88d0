/**
 * Tandem calls (call/pstn-tandem.ts) on a manual clock: a PSTN leg, the engine's frame legs and the
 * PSTN dialer faked. What is under test is the call control: groups tried in order, all ports busy
 * moving on, the two frame legs wired at the answer with no port pair, and the races — the caller
 * leaving while the far line rings, the far end answering after the caller left, a wiring refused.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ManualClock } from '../../../base/clock.ts';
import { ok } from '../../../base/result.ts';
import { PstnLeg } from '../../src/call/pstn-leg/pstn-leg.ts';
import { connectTandem } from '../../src/call/pstn-tandem.ts';
import { silentLogger } from '../../src/core/log.ts';
import type { FrameLegHandle, ServiceLegPlan } from '../../src/media/engine/engine.ts';
import type { PstnDialHandler, PstnIncoming } from '../../src/pstn/pstn-calls.ts';
import { FakeLocalMedia } from '../support/fake-local-media.ts';

interface FakeFrameLeg {
  key: string;
  near: string | undefined;
  started: ServiceLegPlan[];
  bound: number;
  closed: boolean;
}

function setup(o: { wires?: boolean } = {}) {
  const clock = new ManualClock();
  const frameLegs: FakeFrameLeg[] = [];
  const wired: Array<[string, string]> = [];
  const frames = {
    openFrameLeg: (key: string, _sink: unknown, opts?: { near?: string }): FrameLegHandle => {
      const f: FakeFrameLeg = { key, near: opts?.near, started: [], bound: 0, closed: false };
      frameLegs.push(f);
      return {
        rtpPort: 0,
        wired: false,
        bind: () => {
          f.bound++;
          return 40000;
        },
        opened: () => Promise.resolve(true),
        start: (plan) => void f.started.push(plan),
        setRemote: () => undefined,
        close: () => {
          f.closed = true;
          return Promise.resolve();
        },
        dump: () => ({ localPort: 0, latched: false, target: null, counters: {} }),
        send: () => undefined,
        pull: () => undefined,
        playout: () => null,
      };
    },
    wireFrameLegs: (a: string, b: string) => {
      if (o.wires === false) return false;
      wired.push([a, b]);
      return true;
    },
  };
  const dials: Array<{ group: string; number: string; handler: PstnDialHandler; hungUp: boolean }> = [];
  const dialer = {
    dial: (group: string, number: string, handler: PstnDialHandler) => {
      const d = { group, number, handler, hungUp: false };
      dials.push(d);
      return { hangup: () => void (d.hungUp = true), sendDigit: () => undefined };
    },
  };
  const port = { answers: 0, releases: [] as boolean[] };
  const incoming: PstnIncoming = {
    portKey: 'e1-1/1',
    lineId: 'e1-1',
    kind: 'e1',
    channel: 'sim0/e1-1/1',
    callerNumber: '13900139000',
    callerName: null,
    called: '95001',
    control: {
      answer: () => {
        port.answers++;
        return ok(undefined);
      },
      release: (answered) => void port.releases.push(answered),
      sendDigit: () => undefined,
    },
  };
  const leg = PstnLeg.open({
    incoming,
    interactionId: 'ix-t',
    frames,
    media: new FakeLocalMedia(clock, '10.0.0.1'),
    host: '10.0.0.1',
    progress: undefined,
    clock,
    timers: clock,
    logger: silentLogger,
  });
  assert.ok(leg);
  const placed: string[] = [];
  const deps = {
    dialer,
    frames,
    host: '10.0.0.1',
    clock,
    timers: clock,
    logger: silentLogger,
    placed: (out: { id: string }) => void placed.push(out.id),
    answered: () => undefined,
  };
  return { leg, deps, dials, frameLegs, wired, port, placed };
}

const settle = async () => {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
};
const info = { portKey: 'fxo1', lineId: 'fxo1', kind: 'fxo' as const, channel: 'sim0/1' };

void describe('tandem calls: a PSTN caller out on PSTN port groups', () => {
  void test('the far end answers: the two frame legs, opened side by side, are wired — no port pair — and either hanging up ends the other', async () => {
    const f = setup();
    const done = connectTandem(f.leg, ['analog'], '95001', f.deps);
    await settle();
    assert.equal(f.dials.length, 1);
    assert.equal(f.frameLegs[1]?.near, 'ix-t', 'the outbound frame leg opens beside the caller’s');
    f.dials[0]?.handler.progressed(info);
    f.dials[0]?.handler.answered(info);
    assert.equal(await done, 'done');
    await settle();
    assert.deepEqual(f.wired, [['ix-t', 'ix-t:p1']]);
    assert.equal(f.leg.state, 'answered');
    assert.equal(f.port.answers, 1, 'the caller’s line is answered');
    assert.deepEqual(
      f.frameLegs.map((l) => [l.bound, l.started[0]?.remote]),
      [
        [0, undefined],
        [0, undefined],
      ],
      'no port pair, no address: both legs start wired',
    );
    f.dials[0]?.handler.disconnected('far end cleared');
    await settle();
    assert.equal(f.leg.state, 'ended', 'the far end hanging up ends the caller');
    assert.ok(
      f.frameLegs.every((l) => l.closed),
      'both frame legs freed',
    );
    assert.deepEqual(f.port.releases, [true]);
  });

  void test('every port of the first group busy (503): the next group is dialled; any other failure is the caller’s', async () => {
    const f = setup();
    const done = connectTandem(f.leg, ['a', 'b', 'c'], '95002', f.deps);
    await settle();
    f.dials[0]?.handler.failed(503, 'all channels busy');
    await settle();
    assert.equal(f.dials[1]?.group, 'b');
    f.dials[1]?.handler.failed(486, 'busy');
    assert.equal(await done, 'done');
    assert.equal(f.dials.length, 2, 'a busy line is final: c is not tried');
    assert.equal(f.leg.state, 'ended');
    assert.equal(f.leg.end?.cause, 'user-busy');
    assert.deepEqual(f.placed, ['ix-t:p1', 'ix-t:p2']);
  });

  void test('every group busy: 503 with the caller still up, for the route’s SIP trunks', async () => {
    const f = setup();
    const done = connectTandem(f.leg, ['a'], '95001', f.deps);
    await settle();
    f.dials[0]?.handler.failed(503, 'all channels busy');
    assert.equal(await done, 503);
    assert.notEqual(f.leg.state, 'ended');
  });

  void test('the caller hangs up while the far line rings: the port is hung up, nothing is wired, every frame leg freed', async () => {
    const f = setup();
    const done = connectTandem(f.leg, ['analog'], '95003', f.deps);
    await settle();
    f.dials[0]?.handler.progressed(info);
    f.leg.portEvent({ type: 'far-end-disconnect', reason: 'caller hung up' });
    assert.equal(await done, 'done');
    await settle();
    assert.ok(f.dials[0]?.hungUp, 'the seized port is given back');
    assert.deepEqual(f.wired, []);
    assert.ok(f.frameLegs.every((l) => l.closed));
  });

  void test('the two channels cannot be wired: both legs end with a cause, nothing is left up', async () => {
    const f = setup({ wires: false });
    const done = connectTandem(f.leg, ['analog'], '95001', f.deps);
    await settle();
    f.dials[0]?.handler.answered(info);
    assert.equal(await done, 'done');
    await settle();
    assert.equal(f.leg.state, 'ended');
    assert.equal(f.leg.end?.cause, 'bearer-capability-not-available');
    assert.ok(f.dials[0]?.hungUp);
    assert.ok(f.frameLegs.every((l) => l.closed));
  });
});
