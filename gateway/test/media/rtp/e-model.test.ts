import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  delayImpairment,
  effectiveEquipmentImpairment,
  estimateMos,
  G711_NO_PLC,
  G711_PLC,
  mosFromR,
  rFactor,
} from '../../../src/media/rtp/e-model.ts';

const near = (actual: number, expected: number, tol: number, what: string): void =>
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: ${actual} not within ${tol} of ${expected}`);

describe('G.107 R → MOS (Annex B)', () => {
  const cases: Array<{ r: number; mos: number }> = [
    { r: -5, mos: 1 },
    { r: 0, mos: 1 },
    { r: 50, mos: 2.58 },
    { r: 70, mos: 3.6 },
    { r: 80, mos: 4.02 },
    { r: 90, mos: 4.34 },
    { r: 93.2, mos: 4.41 },
    { r: 100, mos: 4.5 },
    { r: 120, mos: 4.5 },
  ];
  for (const c of cases) {
    test(`R = ${c.r} → MOS ≈ ${c.mos}`, () => near(mosFromR(c.r), c.mos, 0.01, 'MOS'));
  }
  test('MOS never decreases as R rises (the cubic is held at 1 below R ≈ 6.5)', () => {
    let prev = 0;
    for (let r = -10; r <= 110; r += 0.5) {
      const m = mosFromR(r);
      assert.ok(m >= prev - 1e-12, `MOS fell at R=${r}`);
      prev = m;
    }
  });
});

describe('E-model for G.711 (simplified G.107)', () => {
  test('no delay, no loss, no jitter → R = 93.2, MOS ≈ 4.41', () => {
    const inputs = { oneWayDelayMs: 0, packetLossPercent: 0, jitterMs: 0 };
    near(rFactor(inputs), 93.2, 1e-9, 'R');
    near(estimateMos(inputs), 4.41, 0.005, 'MOS');
  });

  const idd: Array<{ ta: number; idd: number }> = [
    { ta: 0, idd: 0 },
    { ta: 100, idd: 0 },
    { ta: 200, idd: 3.05 },
    { ta: 400, idd: 24.07 },
  ];
  for (const c of idd) {
    test(`Idd(Ta = ${c.ta} ms) ≈ ${c.idd} (eq. 3-26; zero up to 100 ms)`, () =>
      near(delayImpairment(c.ta), c.idd, 0.01, 'Idd'));
  }

  const loss: Array<{ name: string; ppl: number; codec: typeof G711_PLC; ie: number }> = [
    { name: '1 % without PLC (Bpl 4.3)', ppl: 1, codec: G711_NO_PLC, ie: 95 / 5.3 },
    { name: '1 % with PLC (Bpl 25.1)', ppl: 1, codec: G711_PLC, ie: 95 / 26.1 },
    { name: '5 % with PLC', ppl: 5, codec: G711_PLC, ie: (95 * 5) / 30.1 },
    { name: '100 % saturates at 95 × 100 / (100 + Bpl)', ppl: 100, codec: G711_PLC, ie: (95 * 100) / 125.1 },
  ];
  for (const c of loss) {
    test(`Ie,eff for ${c.name} (eq. 3-29)`, () =>
      near(effectiveEquipmentImpairment(c.ppl, c.codec), c.ie, 1e-9, 'Ie,eff'));
  }

  test('PLC makes the same loss cost less', () => {
    const i = { oneWayDelayMs: 20, packetLossPercent: 2 };
    assert.ok(rFactor(i, { codec: G711_PLC }) > rFactor(i, { codec: G711_NO_PLC }));
  });

  test('jitter counts as delay through the jitter buffer (2 × jitter by default)', () => {
    near(
      rFactor({ oneWayDelayMs: 100, packetLossPercent: 0, jitterMs: 50 }),
      93.2 - delayImpairment(200),
      1e-9,
      'R',
    );
    near(
      rFactor({ oneWayDelayMs: 100, packetLossPercent: 0, jitterMs: 50 }, { jitterBufferFactor: 1 }),
      93.2 - delayImpairment(150),
      1e-9,
      'R',
    );
  });

  const monotonic: Array<{
    name: string;
    at: (x: number) => { oneWayDelayMs: number; packetLossPercent: number; jitterMs: number };
  }> = [
    { name: 'one-way delay', at: (x) => ({ oneWayDelayMs: x * 10, packetLossPercent: 1, jitterMs: 5 }) },
    { name: 'packet loss', at: (x) => ({ oneWayDelayMs: 50, packetLossPercent: x / 5, jitterMs: 5 }) },
    { name: 'jitter', at: (x) => ({ oneWayDelayMs: 50, packetLossPercent: 1, jitterMs: x * 2 }) },
  ];
  for (const m of monotonic) {
    test(`R and MOS never rise as ${m.name} grows`, () => {
      let prevR = Infinity;
      let prevMos = Infinity;
      for (let x = 0; x <= 100; x++) {
        const r = rFactor(m.at(x));
        const mos = estimateMos(m.at(x));
        assert.ok(r <= prevR + 1e-12 && mos <= prevMos + 1e-12, `${m.name} step ${x}`);
        prevR = r;
        prevMos = mos;
      }
      assert.ok(prevR < rFactor(m.at(0)), 'and they do fall over the range');
    });
  }
});
