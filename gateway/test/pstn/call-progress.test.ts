import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../../base/clock.ts';
import { CHINA_TONE_PLAN, ETSI_TONE_PLAN, NANP_TONE_PLAN } from '../../../base/signal/tone-plan.ts';
import { CallProgress, failureTone, tonePlanOf, type ProgressInput } from '../../src/pstn/call-progress.ts';
import { goertzelPower } from '../../../base/test/signal/tone-analysis.ts';

function harness(failureToneMs = 8000, plan = CHINA_TONE_PLAN) {
  const clock = new ManualClock();
  let released = 0;
  const p = new CallProgress({ plan, failureToneMs }, clock, () => released++);
  return { clock, p, released: () => released };
}

describe('call-progress tones to a PSTN caller', () => {
  test('failure status → tone (RFC 3398 §8.2.6.1: 486/600 user busy, the rest congestion)', () => {
    const cases: Array<[number, 'busy' | 'congestion']> = [
      [486, 'busy'],
      [600, 'busy'],
      [404, 'congestion'],
      [480, 'congestion'],
      [503, 'congestion'],
      [408, 'congestion'],
      [603, 'congestion'],
    ];
    for (const [status, tone] of cases) assert.equal(failureTone(status), tone, String(status));
  });

  test('the plan: an explicit tonePlan wins over the country', () => {
    const cases: Array<[{ country: string; tonePlan?: 'cn' | 'etsi' | 'nanp' }, string]> = [
      [{ country: 'CN' }, 'cn'],
      [{ country: 'US' }, 'nanp'],
      [{ country: 'DE' }, 'etsi'],
      [{ country: 'CN', tonePlan: 'nanp' }, 'nanp'],
      [{ country: 'US', tonePlan: 'etsi' }, 'etsi'],
    ];
    for (const [system, id] of cases) assert.equal(tonePlanOf(system).id, id, JSON.stringify(system));
  });

  test('state after a sequence of SIP progress (RFC 3960 §2.1: local ringback only without early media)', () => {
    const cases: Array<{
      name: string;
      inputs: ProgressInput[];
      state: string;
      answers: boolean[];
      tone: string | null;
    }> = [
      {
        name: '180',
        inputs: [{ type: 'provisional', status: 180, earlyMedia: false }],
        state: 'ringback',
        answers: [true],
        tone: 'ringback',
      },
      {
        name: '183 with SDP',
        inputs: [{ type: 'provisional', status: 183, earlyMedia: true }],
        state: 'early-media',
        answers: [true],
        tone: null,
      },
      {
        name: '180 then 183 with SDP then 180',
        inputs: [
          { type: 'provisional', status: 180, earlyMedia: false },
          { type: 'provisional', status: 183, earlyMedia: true },
          { type: 'provisional', status: 180, earlyMedia: false },
        ],
        state: 'early-media',
        answers: [true, false, false],
        tone: null,
      },
      {
        name: '180 then 200',
        inputs: [{ type: 'provisional', status: 180, earlyMedia: false }, { type: 'answered' }],
        state: 'connected',
        answers: [true, false],
        tone: null,
      },
      {
        name: '200 at once',
        inputs: [{ type: 'answered' }],
        state: 'connected',
        answers: [false],
        tone: null,
      },
      {
        name: '486 at once',
        inputs: [{ type: 'failed', status: 486 }],
        state: 'failure-tone',
        answers: [true],
        tone: 'busy',
      },
      {
        name: '180 then 503',
        inputs: [
          { type: 'provisional', status: 180, earlyMedia: false },
          { type: 'failed', status: 503 },
        ],
        state: 'failure-tone',
        answers: [true, false],
        tone: 'congestion',
      },
      {
        name: 'a failure after the answer is ignored',
        inputs: [{ type: 'answered' }, { type: 'failed', status: 500 }],
        state: 'connected',
        answers: [false, false],
        tone: null,
      },
    ];
    for (const c of cases) {
      const { p } = harness();
      const answers = c.inputs.map((i) => p.input(i));
      assert.equal(p.state, c.state, c.name);
      assert.deepEqual(answers, c.answers, c.name);
      assert.equal(p.dump().tone, c.tone, c.name);
      p.close();
    }
  });

  test('ringback follows the plan cadence and frequency; the frames stop being tone at the answer', () => {
    for (const plan of [CHINA_TONE_PLAN, ETSI_TONE_PLAN, NANP_TONE_PLAN]) {
      const { p } = harness(8000, plan);
      p.input({ type: 'provisional', status: 180, earlyMedia: false });
      const spec = plan.tones.ringback;
      const [onMs = 0, offMs = 0] = spec.cadenceMs;
      const frames: number[] = [];
      const f = new Int16Array(160);
      for (let i = 0; i < (onMs + offMs) / 20; i++) {
        assert.equal(p.frame(f), 'tone');
        let e = 0;
        for (const x of f) e += x * x;
        frames.push(e);
        if (i === 10) {
          const target = goertzelPower(f, 8000, spec.frequenciesHz[0] ?? 0);
          const off = goertzelPower(f, 8000, 1000);
          assert.ok(target > 100 * off, `${plan.id}: energy at the plan frequency`);
        }
      }
      const on = frames.filter((e) => e > 0).length;
      assert.equal(on * 20, onMs, `${plan.id}: ${on} frames on`);
      p.input({ type: 'answered' });
      assert.equal(p.frame(f), 'media');
    }
  });

  test('the failure tone plays for failureToneMs, then the line is released once', () => {
    const { clock, p, released } = harness(5000);
    p.input({ type: 'failed', status: 486 });
    clock.advance(4999);
    assert.equal(released(), 0);
    clock.advance(1);
    assert.equal(released(), 1);
    assert.equal(p.state, 'done');
    assert.equal(p.frame(new Int16Array(160)), 'none');
    clock.advance(10_000);
    assert.equal(released(), 1);
  });

  test('closing during the failure tone (the caller hung up) releases nothing more', () => {
    const { clock, p, released } = harness(5000);
    p.input({ type: 'failed', status: 404 });
    p.close();
    clock.advance(10_000);
    assert.equal(released(), 0);
  });
});
