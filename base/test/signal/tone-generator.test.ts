import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { goertzelAmplitude, goertzelCoefficient, goertzelPower } from '../../signal/goertzel.ts';
import { ToneGenerator } from '../../signal/tone-generator.ts';
import {
  CHINA_TONE_PLAN,
  DBM0_REFERENCE_PEAK,
  ETSI_TONE_PLAN,
  NANP_TONE_PLAN,
  TONE_NAMES,
  type ToneSpec,
} from '../../signal/tone-plan.ts';
import { levelDbm0, zeroCrossingFrequencyHz } from './tone-analysis.ts';

const FS = 8000;

/** `frames` consecutive 20 ms frames from one generator, concatenated. */
function generate(spec: ToneSpec, frames: number): Int16Array {
  const gen = new ToneGenerator(spec);
  const out = new Int16Array(frames * 160);
  const frame = new Int16Array(160);
  for (let f = 0; f < frames; f++) out.set(gen.fill(frame), f * 160);
  gen.close();
  return out;
}

/** On/off runs in ms, from 1 ms blocks (a block is "on" if any sample is non-zero). */
function runsMs(samples: Int16Array): number[] {
  const runs: number[] = [];
  let on = true;
  let len = 0;
  for (let at = 0; at < samples.length; at += 8) {
    const blockOn = samples.subarray(at, at + 8).some((v) => v !== 0);
    if (blockOn === on) len++;
    else {
      runs.push(len);
      on = blockOn;
      len = 1;
    }
  }
  runs.push(len);
  return runs;
}

const dbm0Of = (amplitude: number): number => 20 * Math.log10(amplitude / DBM0_REFERENCE_PEAK);

describe('tone generator', () => {
  for (const plan of [CHINA_TONE_PLAN, ETSI_TONE_PLAN, NANP_TONE_PLAN]) {
    for (const name of TONE_NAMES) {
      const spec = plan.tones[name];
      test(`${plan.name} ${name}: ${spec.frequenciesHz.join('+')} Hz at ${spec.levelDbm0} dBm0, cadence ${spec.cadenceMs.join('/') || 'continuous'}`, () => {
        const cycleMs = spec.cadenceMs.reduce((a, b) => a + b, 0);
        const frames = cycleMs === 0 ? 25 : Math.ceil((2 * cycleMs) / 20) + 1;
        const samples = generate(spec, frames);
        // Cadence: two whole cycles, edges on the exact millisecond.
        if (cycleMs > 0) {
          const runs = runsMs(samples).slice(0, spec.cadenceMs.length * 2);
          assert.deepEqual(runs, [...spec.cadenceMs, ...spec.cadenceMs]);
        } else {
          assert.deepEqual(runsMs(samples), [frames * 20]);
        }
        // Frequency and level, over the first 100 ms of tone (a whole number of periods of every
        // frequency in the plans).
        const on = samples.subarray(0, 800);
        if (spec.frequenciesHz.length === 1) {
          const f = spec.frequenciesHz[0] ?? 0;
          assert.ok(Math.abs(zeroCrossingFrequencyHz(on, FS) - f) < 0.5, 'frequency');
          assert.ok(Math.abs(levelDbm0(on, DBM0_REFERENCE_PEAK) - spec.levelDbm0) <= 0.5, 'level');
        }
        for (const f of spec.frequenciesHz) {
          const a = goertzelAmplitude(goertzelPower(on, goertzelCoefficient(f, FS)), on.length);
          assert.ok(Math.abs(dbm0Of(a) - spec.levelDbm0) <= 0.5, `${f} Hz level ${dbm0Of(a)}`);
          // Nothing 50 Hz off the tone: the energy is where the plan says.
          const off = goertzelAmplitude(goertzelPower(on, goertzelCoefficient(f + 50, FS)), on.length);
          assert.ok(dbm0Of(off) < spec.levelDbm0 - 30, `${f + 50} Hz leakage`);
        }
      });
    }
  }

  test('MUST keep phase across frames: frame-by-frame equals one long fill', () => {
    const spec = NANP_TONE_PLAN.tones.busy;
    const whole = new ToneGenerator(spec).fill(new Int16Array(160 * 60));
    assert.deepEqual(generate(spec, 60), whole);
    const odd = new ToneGenerator(spec);
    const pieces = new Int16Array(160 * 60);
    for (let at = 0; at < pieces.length; at += 37) {
      const n = Math.min(37, pieces.length - at);
      pieces.set(odd.fill(new Int16Array(n)), at);
    }
    assert.deepEqual(pieces, whole);
  });

  test('MUST not drift: 1 000 s of 450 Hz still starts each second at phase zero', () => {
    const gen = new ToneGenerator(CHINA_TONE_PLAN.tones.dial);
    const frame = new Int16Array(160);
    const firsts: number[] = [];
    for (let f = 0; f < 50 * 1000; f++) {
      gen.fill(frame);
      if (f % 50 === 0) firsts.push(frame[0] ?? 0, frame[1] ?? 0);
    }
    assert.ok(firsts.every((v, i) => v === firsts[i % 2]));
  });

  test('dump() is plain JSON; reset() restarts the cadence; close() gives silence', () => {
    const gen = new ToneGenerator(ETSI_TONE_PLAN.tones.busy);
    const frame = new Int16Array(160);
    for (let i = 0; i < 26; i++) gen.fill(frame);
    assert.deepEqual(JSON.parse(JSON.stringify(gen.dump())), {
      frequenciesHz: [425],
      levelDbm0: -10,
      cadenceMs: [500, 500],
      positionSamples: 4160,
      on: false,
    });
    gen.reset();
    assert.equal(gen.dump().on, true);
    gen.close();
    assert.ok(gen.fill(frame).every((v) => v === 0));
  });
});
