import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CHINA_TONE_PLAN,
  ETSI_TONE_PLAN,
  hasTonePlan,
  NANP_TONE_PLAN,
  TONE_NAMES,
  tonePlanForCountry,
} from '../../signal/tone-plan.ts';

describe('country tone plans', () => {
  const cases: [string, string][] = [
    ['CN', 'cn'],
    ['US', 'nanp'],
    ['CA', 'nanp'],
    ['DE', 'etsi'],
    ['FR', 'etsi'],
    ['es', 'etsi'],
    ['ZZ', 'etsi'],
  ];
  for (const [country, id] of cases) {
    test(`system.country ${country} selects the ${id} plan`, () => {
      assert.equal(tonePlanForCountry(country).id, id);
    });
  }

  test('unknown countries fall back to ETSI and say so', () => {
    assert.equal(hasTonePlan('ZZ'), false);
    assert.equal(hasTonePlan('CN'), true);
  });

  test('every plan defines every tone with an on/off cadence of whole samples', () => {
    for (const plan of [CHINA_TONE_PLAN, ETSI_TONE_PLAN, NANP_TONE_PLAN]) {
      for (const name of TONE_NAMES) {
        const t = plan.tones[name];
        assert.ok(t.frequenciesHz.length >= 1, `${plan.id} ${name}`);
        assert.ok(t.cadenceMs.length % 2 === 0, `${plan.id} ${name} cadence pairs`);
        assert.ok(t.levelDbm0 < 0 && t.levelDbm0 > -30);
      }
    }
  });

  test('plan values match the national descriptions', () => {
    assert.deepEqual(CHINA_TONE_PLAN.tones.ringback, {
      frequenciesHz: [450],
      levelDbm0: -10,
      cadenceMs: [1000, 4000],
    });
    assert.deepEqual(CHINA_TONE_PLAN.tones.busy.cadenceMs, [350, 350]);
    assert.deepEqual(CHINA_TONE_PLAN.tones.congestion.cadenceMs, [700, 700]);
    assert.deepEqual(ETSI_TONE_PLAN.tones.busy, {
      frequenciesHz: [425],
      levelDbm0: -10,
      cadenceMs: [500, 500],
    });
    assert.deepEqual(NANP_TONE_PLAN.tones.dial.frequenciesHz, [350, 440]);
    assert.deepEqual(NANP_TONE_PLAN.tones.ringback, {
      frequenciesHz: [440, 480],
      levelDbm0: -19,
      cadenceMs: [2000, 4000],
    });
    assert.deepEqual(NANP_TONE_PLAN.tones.congestion, {
      frequenciesHz: [480, 620],
      levelDbm0: -24,
      cadenceMs: [250, 250],
    });
  });
});
