import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CadenceDetector,
  CadenceLearner,
  DISCONNECT_TONES,
  LearnErrors,
  SteadyToneDetector,
  type CadenceMatch,
} from '../../src/pstn/cadence.ts';
import {
  CHINA_TONE_PLAN,
  ETSI_TONE_PLAN,
  NANP_TONE_PLAN,
  type TonePlanId,
} from '../../../base/signal/tone-plan.ts';
import { toFrames } from '../../../base/signal/line-audio.ts';
import {
  addNoise,
  cadencedTone,
  concat,
  silence,
  speechLike,
  tone,
} from '../../../base/test/signal/line-signals.ts';

function firstMatch(detector: CadenceDetector, audio: Int16Array): CadenceMatch | undefined {
  for (const frame of toFrames(audio)) {
    const m = detector.push(frame);
    if (m) return m;
  }
  return undefined;
}

const plans = [CHINA_TONE_PLAN, ETSI_TONE_PLAN, NANP_TONE_PLAN];

const busyTones: { plan: TonePlanId; freqs: number[]; onMs: number; offMs: number; expect: string }[] = [
  { plan: 'cn', freqs: [450], onMs: 350, offMs: 350, expect: 'cn-busy' },
  { plan: 'cn', freqs: [450], onMs: 700, offMs: 700, expect: 'cn-congestion' },
  { plan: 'etsi', freqs: [425], onMs: 500, offMs: 500, expect: 'etsi-busy' },
  { plan: 'etsi', freqs: [425], onMs: 250, offMs: 250, expect: 'etsi-congestion' },
  { plan: 'nanp', freqs: [480, 620], onMs: 500, offMs: 500, expect: 'nanp-busy' },
  { plan: 'nanp', freqs: [480, 620], onMs: 250, offMs: 250, expect: 'nanp-congestion' },
  // Exchanges drift: 15 % long bursts and 10 Hz off still match.
  { plan: 'cn', freqs: [460], onMs: 400, offMs: 320, expect: 'cn-busy' },
  { plan: 'etsi', freqs: [415], onMs: 450, offMs: 560, expect: 'etsi-busy' },
];

describe('busy and congestion tone cadence (ITU-T E.180)', () => {
  for (const c of busyTones) {
    // A far-end hangup that leaves only busy tone must free the port within 2 s; congestion at
    // 700/700 cannot show two cycles that fast and gets two whole cycles.
    const limitMs = Math.max(2000, 2 * (c.onMs + c.offMs));
    test(`MUST declare ${c.expect} for ${c.freqs.join('+')} Hz ${c.onMs}/${c.offMs} ms within ${limitMs} ms from any phase of the cycle`, () => {
      for (const phaseMs of [0, 90, 260, c.onMs + 40, c.onMs + c.offMs - 30]) {
        const detector = new CadenceDetector(DISCONNECT_TONES[c.plan]);
        const m = firstMatch(detector, cadencedTone(c.freqs, c.onMs, c.offMs, 4000, -20, phaseMs));
        assert.equal(m?.profile, c.expect, `phase ${phaseMs}`);
        assert.ok((m?.atMs ?? Infinity) <= limitMs, `declared at ${m?.atMs} ms (phase ${phaseMs})`);
        detector.close();
      }
    });
  }

  test('MUST declare busy at 15 dB SNR and at −35 dBm0', () => {
    const detector = new CadenceDetector(DISCONNECT_TONES.cn);
    assert.equal(
      firstMatch(detector, addNoise(cadencedTone([450], 350, 350, 3000, -20), 15, 4))?.profile,
      'cn-busy',
    );
    detector.reset();
    assert.equal(firstMatch(detector, cadencedTone([450], 350, 350, 3000, -35))?.profile, 'cn-busy');
  });

  const notBusy: { name: string; plan: TonePlanId; audio: () => Int16Array }[] = [
    {
      name: 'China ringback 450 Hz 1 s/4 s',
      plan: 'cn',
      audio: () => cadencedTone([450], 1000, 4000, 10000),
    },
    {
      name: 'Europe ringback 425 Hz 1 s/4 s',
      plan: 'etsi',
      audio: () => cadencedTone([425], 1000, 4000, 10000),
    },
    {
      name: 'North American ringback 440+480 Hz 2 s/4 s',
      plan: 'nanp',
      audio: () => cadencedTone([440, 480], 2000, 4000, 10000),
    },
    {
      name: 'North American busy cadence at the wrong frequency (440 Hz)',
      plan: 'nanp',
      audio: () => cadencedTone([440], 500, 500, 5000),
    },
    { name: 'dial tone (steady)', plan: 'etsi', audio: () => tone([425], 5000, -15) },
    { name: 'speech-like audio', plan: 'cn', audio: () => speechLike(10000, 9) },
    { name: 'speech-like audio', plan: 'etsi', audio: () => speechLike(10000, 10) },
    { name: 'speech-like audio', plan: 'nanp', audio: () => speechLike(10000, 12) },
    { name: 'white noise', plan: 'cn', audio: () => addNoise(new Int16Array(40000).fill(1), 0, 2) },
    {
      name: 'busy below the minimum level (−50 dBm0)',
      plan: 'cn',
      audio: () => cadencedTone([450], 350, 350, 4000, -50),
    },
  ];
  for (const c of notBusy) {
    test(`MUST NOT declare a disconnect tone on ${c.name} (${c.plan})`, () => {
      assert.equal(firstMatch(new CadenceDetector(DISCONNECT_TONES[c.plan]), c.audio()), undefined);
    });
  }
});

describe('dial tone', () => {
  for (const plan of plans) {
    const dial = plan.tones.dial;
    test(`MUST recognise the ${plan.id} dial tone (${dial.frequenciesHz.join('+')} Hz) after 300 ms steady`, () => {
      const d = new SteadyToneDetector(dial.frequenciesHz);
      const frames = toFrames(tone([...dial.frequenciesHz], 1000, dial.levelDbm0));
      const heardAt = frames.findIndex((f) => d.push(f));
      assert.equal(heardAt, 14);
    });
  }
  test('MUST NOT take busy tone for dial tone', () => {
    const d = new SteadyToneDetector(CHINA_TONE_PLAN.tones.dial.frequenciesHz, 400);
    assert.equal(
      toFrames(cadencedTone([450], 350, 350, 3000)).some((f) => d.push(f)),
      false,
    );
  });
});

describe("learning a line's busy tone", () => {
  const table: { name: string; freqs: number[]; onMs: number; offMs: number }[] = [
    { name: 'China busy', freqs: [450], onMs: 350, offMs: 350 },
    { name: 'Europe busy', freqs: [425], onMs: 500, offMs: 500 },
    { name: 'North American busy', freqs: [480, 620], onMs: 500, offMs: 500 },
    { name: 'an odd PBX tone', freqs: [600], onMs: 240, offMs: 760 },
    { name: 'UK busy', freqs: [400], onMs: 375, offMs: 375 },
  ];
  for (const c of table) {
    test(`MUST learn ${c.name} and then detect the same tone with the learned profile`, () => {
      const learner = new CadenceLearner();
      for (const f of toFrames(addNoise(cadencedTone(c.freqs, c.onMs, c.offMs, 5000, -22, 123), 25, 8)))
        learner.push(f);
      const learned = learner.finish();
      assert.ok(learned.ok, JSON.stringify(learned));
      if (!learned.ok) return;
      const p = learned.value;
      assert.equal(p.frequenciesHz.length, c.freqs.length);
      p.frequenciesHz.forEach((f, i) => assert.ok(Math.abs(f - (c.freqs[i] ?? 0)) <= 10, `freq ${f}`));
      assert.ok(Math.abs(p.onMs - c.onMs) <= 40, `on ${p.onMs}`);
      assert.ok(Math.abs(p.offMs - c.offMs) <= 40, `off ${p.offMs}`);
      const detector = new CadenceDetector([p]);
      const m = firstMatch(detector, cadencedTone(c.freqs, c.onMs, c.offMs, 4000, -20, 77));
      assert.equal(m?.profile, 'learned-busy');
      assert.equal(firstMatch(new CadenceDetector([p]), speechLike(8000, 4)), undefined);
      learner.close();
    });
  }

  test('MUST learn the cadence from a line that first carried dial tone and the dialling pause', () => {
    const learner = new CadenceLearner({ maxMs: 6000 });
    const setup = concat(tone([450], 700, -10), silence(800));
    for (const f of toFrames(concat(setup, cadencedTone([450], 350, 350, 3500, -10, 0)))) learner.push(f);
    const learned = learner.finish();
    assert.ok(learned.ok, JSON.stringify(learned));
    if (!learned.ok) return;
    assert.ok(Math.abs(learned.value.onMs - 350) <= 40, `on ${learned.value.onMs}`);
    assert.ok(Math.abs(learned.value.offMs - 350) <= 40, `off ${learned.value.offMs}`);
  });

  const failures: { name: string; audio: () => Int16Array; code: string }[] = [
    { name: 'silence', audio: () => silence(4000), code: LearnErrors.NO_TONE },
    {
      name: 'one burst only (ringback)',
      audio: () => cadencedTone([450], 1000, 4000, 4000, -20, 500),
      code: LearnErrors.TOO_SHORT,
    },
    {
      name: 'bursts of different lengths',
      audio: () =>
        concat(
          silence(100),
          tone([450], 300, -20),
          silence(300),
          tone([450], 800, -20),
          silence(300),
          tone([450], 300, -20),
          silence(900),
          tone([450], 300, -20),
          silence(100),
        ),
      code: LearnErrors.IRREGULAR,
    },
  ];
  for (const c of failures) {
    test(`MUST refuse to learn from ${c.name}`, () => {
      const learner = new CadenceLearner();
      for (const f of toFrames(c.audio())) learner.push(f);
      const r = learner.finish();
      assert.equal(r.ok, false);
      if (!r.ok) assert.equal(r.error.code, c.code);
    });
  }
});
