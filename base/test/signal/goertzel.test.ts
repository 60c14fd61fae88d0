import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { goertzelAmplitude, goertzelCoefficient, goertzelPower, locatePeak } from '../../signal/goertzel.ts';

const FS = 8000;
const sine = (f: number, a: number, n: number): Float64Array =>
  Float64Array.from({ length: n }, (_v, i) => a * Math.sin((2 * Math.PI * f * i) / FS + 0.7));

describe('Goertzel', () => {
  test('gives (A·N/2)² for a sine on its frequency, so amplitude reads back', () => {
    for (const [f, a] of [
      [697, 1000],
      [1633, 5000],
      [425, 7000],
    ] as const) {
      const x = sine(f, a, 800);
      const amp = goertzelAmplitude(goertzelPower(x, goertzelCoefficient(f, FS)), x.length);
      assert.ok(Math.abs(amp / a - 1) < 0.01, `${f} Hz: ${amp}`);
    }
  });

  test('locates an off-nominal tone to within 0.3 % over 160 samples', () => {
    for (const nominal of [697, 941, 1209, 1633]) {
      for (const dev of [-0.03, -0.015, 0, 0.01, 0.02]) {
        const x = sine(nominal * (1 + dev), 8000, 160);
        const peak = locatePeak(x, FS, nominal, 5, 0.01);
        assert.ok(Math.abs(peak.freqHz / nominal - 1 - dev) < 0.003, `${nominal} ${dev}: ${peak.freqHz}`);
        assert.ok(goertzelAmplitude(peak.power, 160) > 8000 * 0.97);
      }
    }
  });

  test('honours start and length within a buffer', () => {
    const x = new Float64Array(400);
    x.set(sine(1000, 3000, 200), 100);
    const c = goertzelCoefficient(1000, FS);
    assert.ok(Math.abs(goertzelAmplitude(goertzelPower(x, c, 100, 200), 200) - 3000) < 30);
    assert.equal(goertzelPower(x, c, 0, 100), 0);
  });
});
