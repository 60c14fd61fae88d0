import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { downsample16kTo8k, upsample8kTo16k } from '../../signal/resample.ts';
import { goertzelPower, rms } from './tone-analysis.ts';

function tone(freqHz: number, rateHz: number, samples: number, amplitude = 10000): Int16Array {
  const out = new Int16Array(samples);
  for (let i = 0; i < samples; i++)
    out[i] = Math.round(amplitude * Math.sin((2 * Math.PI * freqHz * i) / rateHz));
  return out;
}

/** Level in dB of the steady middle of `out` relative to a sine of `amplitude`. */
function levelDb(out: Int16Array, amplitude: number): number {
  const mid = out.subarray(100, out.length - 100);
  return 20 * Math.log10(rms(mid) / (amplitude / Math.SQRT2));
}

describe('16 kHz → 8 kHz decimation', () => {
  for (const freqHz of [300, 1000, 2500]) {
    test(`keeps the level of a ${freqHz} Hz tone (within 0.5 dB)`, () => {
      const out = downsample16kTo8k(tone(freqHz, 16000, 16000));
      assert.equal(out.length, 8000);
      const db = levelDb(out, 10000);
      assert.ok(Math.abs(db) < 0.5, `level ${db.toFixed(2)} dB`);
    });
  }

  for (const freqHz of [4500, 5000, 6000, 7000]) {
    test(`attenuates a ${freqHz} Hz tone by at least 40 dB instead of aliasing it to ${8000 - freqHz} Hz`, () => {
      const out = downsample16kTo8k(tone(freqHz, 16000, 16000));
      const db = levelDb(out, 10000);
      assert.ok(db <= -40, `level ${db.toFixed(1)} dB`);
    });
  }

  test('output lines up with the input (zero phase): a 1 kHz tone keeps its phase', () => {
    const input = tone(1000, 16000, 1600);
    const out = downsample16kTo8k(input);
    const expected = tone(1000, 8000, 800);
    let worst = 0;
    for (let i = 100; i < 700; i++) worst = Math.max(worst, Math.abs((out[i] ?? 0) - (expected[i] ?? 0)));
    assert.ok(worst < 150, `max deviation ${worst}`);
  });
});

describe('8 kHz → 16 kHz interpolation', () => {
  test('keeps the level and frequency of a 1 kHz tone and leaves no image at 7 kHz', () => {
    const out = upsample8kTo16k(tone(1000, 8000, 8000));
    assert.equal(out.length, 16000);
    assert.ok(Math.abs(levelDb(out, 10000)) < 0.5);
    const mid = out.subarray(1000, 15000);
    const wanted = goertzelPower(mid, 16000, 1000);
    const image = goertzelPower(mid, 16000, 7000);
    assert.ok(10 * Math.log10(wanted / image) > 40, 'image at 7 kHz below −40 dB');
  });

  test('round trip 8 → 16 → 8 kHz reproduces a 1 kHz tone', () => {
    const input = tone(1000, 8000, 1600);
    const back = downsample16kTo8k(upsample8kTo16k(input));
    let worst = 0;
    for (let i = 100; i < 1500; i++) worst = Math.max(worst, Math.abs((back[i] ?? 0) - (input[i] ?? 0)));
    assert.ok(worst < 150, `max deviation ${worst}`);
  });
});
