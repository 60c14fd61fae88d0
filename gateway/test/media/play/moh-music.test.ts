import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ZERO_DBM0_PEAK } from '../../../../base/signal/milliwatt.ts';
import {
  BUILTIN_MOH_LEVEL_DBM0,
  builtInMelody,
  builtInMusicOnHold,
} from '../../../src/media/play/moh-music.ts';
import { goertzelPower } from '../../../../base/test/signal/tone-analysis.ts';

describe('built-in music on hold', () => {
  const music = builtInMusicOnHold();

  test('is a whole number of 20 ms frames, a few seconds long, and the same on every call', () => {
    assert.equal(music.length % 160, 0);
    assert.ok(music.length / 8000 >= 3 && music.length / 8000 <= 10, `${music.length / 8000} s`);
    assert.deepEqual(builtInMusicOnHold(), music);
  });

  test('plays at about −16 dBm0 (RMS) and never clips', () => {
    let e = 0;
    let peak = 0;
    for (const v of music) {
      e += v * v;
      peak = Math.max(peak, Math.abs(v));
    }
    const rms = Math.sqrt(e / music.length);
    const dbm0 = 20 * Math.log10(rms / (ZERO_DBM0_PEAK.pcmu / Math.SQRT2));
    assert.ok(Math.abs(dbm0 - BUILTIN_MOH_LEVEL_DBM0) < 0.5, `${dbm0.toFixed(2)} dBm0`);
    assert.ok(peak < 32767, 'no sample at full scale');
  });

  test('loops without a seam: the jump from the last sample to the first is no larger than any step inside', () => {
    let maxStep = 0;
    for (let i = 1; i < music.length; i++)
      maxStep = Math.max(maxStep, Math.abs((music[i] ?? 0) - (music[i - 1] ?? 0)));
    const seam = Math.abs((music[0] ?? 0) - (music[music.length - 1] ?? 0));
    assert.ok(seam <= maxStep, `seam ${seam}, largest step ${maxStep}`);
  });

  test('each quarter second carries its melody note (the note dominates a neighbour semitone)', () => {
    const notes = builtInMelody();
    notes.forEach((midi, k) => {
      const f = 440 * 2 ** ((midi - 69) / 12);
      // 30..230 ms into the note: after the attack, before the next note.
      const seg = music.subarray(k * 2000 + 240, k * 2000 + 1840);
      const on = goertzelPower(seg, 8000, f);
      const off = goertzelPower(seg, 8000, f * 2 ** (1.5 / 12));
      assert.ok(on > 4 * off, `note ${k} (${f.toFixed(0)} Hz): ${on} vs ${off}`);
    });
  });
});
