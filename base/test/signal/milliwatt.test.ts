import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { alawToLinear, ulawToLinear, type G711Law } from '../../signal/g711.ts';
import {
  fillMilliwatt,
  MILLIWATT_PERIOD_SAMPLES,
  milliwattPeriod,
  ZERO_DBM0_PEAK,
} from '../../signal/milliwatt.ts';
import { goertzelPower, levelDbm0, zeroCrossingFrequencyHz } from './tone-analysis.ts';

const decode = (law: G711Law, codes: ArrayLike<number>): Float64Array => {
  const out = new Float64Array(codes.length);
  for (let i = 0; i < codes.length; i++)
    out[i] = law === 'pcmu' ? ulawToLinear(codes[i] ?? 0) : alawToLinear(codes[i] ?? 0);
  return out;
};

describe('digital milliwatt tone (ITU-T O.133, G.711)', () => {
  for (const law of ['pcmu', 'pcma'] as const) {
    test(`${law}: one second is 1004 Hz ± 0.5 Hz at 0 dBm0 ± 0.2 dB`, () => {
      const codes = new Uint8Array(8000);
      let pos = 0;
      // Built 160 samples at a time, as packets are: the phase must carry over.
      for (let at = 0; at < 8000; at += 160) pos = fillMilliwatt(law, pos, codes, at, 160);
      const samples = decode(law, codes);
      const f = zeroCrossingFrequencyHz(samples, 8000);
      assert.ok(Math.abs(f - 1004) < 0.5, `frequency ${f}`);
      const level = levelDbm0(samples, ZERO_DBM0_PEAK[law]);
      assert.ok(Math.abs(level) < 0.2, `level ${level} dBm0`);
      // The energy is at 1004 Hz, not at the 1000 Hz submultiple O.133 avoids.
      assert.ok(goertzelPower(samples, 8000, 1004) > 100 * goertzelPower(samples, 8000, 1000));
    });
  }

  test('the peak is 3.17 dB below µ-law overload and 3.14 dB below A-law overload', () => {
    assert.ok(Math.abs(20 * Math.log10((8159 * 4) / ZERO_DBM0_PEAK.pcmu) - 3.17) < 0.01);
    assert.ok(Math.abs(20 * Math.log10((4096 * 8) / ZERO_DBM0_PEAK.pcma) - 3.14) < 0.01);
  });

  test('the sampled 1004 Hz sine repeats every 2000 samples: packets cut across the period boundary stay continuous', () => {
    const period = milliwattPeriod('pcmu');
    assert.equal(period.length, MILLIWATT_PERIOD_SAMPLES);
    const out = new Uint8Array(160);
    const next = fillMilliwatt('pcmu', 1920, out, 0, 160);
    assert.equal(next, 80);
    assert.deepEqual(out.subarray(0, 80), period.subarray(1920, 2000));
    assert.deepEqual(out.subarray(80), period.subarray(0, 80));
  });
});
