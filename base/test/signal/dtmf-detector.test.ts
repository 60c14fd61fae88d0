import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  classifyWindow,
  DtmfDetector,
  DTMF_COLUMN_HZ,
  DTMF_ROW_HZ,
  type DtmfDetectorEvent,
} from '../../signal/dtmf-detector.ts';
import { DBM0_REFERENCE_PEAK } from '../../signal/tone-plan.ts';

const FS = 8000;
const KEYS = ['123A', '456B', '789C', '*0#D'];

function keyFreqs(key: string): [number, number] {
  for (let r = 0; r < 4; r++) {
    const c = (KEYS[r] ?? '').indexOf(key);
    if (c >= 0) return [DTMF_ROW_HZ[r] ?? 0, DTMF_COLUMN_HZ[c] ?? 0];
  }
  throw new Error(`no key ${key}`);
}

/** Deterministic PRNG (mulberry32) so noise and offsets are the same on every run. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const amp = (dbm0: number): number => DBM0_REFERENCE_PEAK * 10 ** (dbm0 / 20);

interface Burst {
  key?: string;
  ms: number;
  /** Frequency error applied to both tones, as a ratio. */
  deviation?: number;
  rowDbm0?: number;
  colDbm0?: number;
  freqsHz?: number[];
}

/** Bursts back to back; `noiseDb` adds white noise that many dB below the tone power. */
function synth(bursts: Burst[], opts: { noiseSnrDb?: number; seed?: number } = {}): Int16Array {
  const total = bursts.reduce((n, b) => n + Math.round((b.ms * FS) / 1000), 0);
  const out = new Float64Array(total);
  let at = 0;
  let tonePower = 0;
  for (const b of bursts) {
    const n = Math.round((b.ms * FS) / 1000);
    const comps: [number, number][] = [];
    if (b.key) {
      const [r, c] = keyFreqs(b.key);
      const dev = 1 + (b.deviation ?? 0);
      comps.push([r * dev, amp(b.rowDbm0 ?? -10)], [c * dev, amp(b.colDbm0 ?? -10)]);
    }
    for (const f of b.freqsHz ?? []) comps.push([f, amp(b.rowDbm0 ?? -10)]);
    for (const [f, a] of comps) {
      tonePower = Math.max(tonePower, comps.reduce((s, [, x]) => s + x * x, 0) / 2);
      for (let i = 0; i < n; i++)
        out[at + i] = (out[at + i] ?? 0) + a * Math.sin((2 * Math.PI * f * i) / FS + 0.3);
    }
    at += n;
  }
  if (opts.noiseSnrDb !== undefined) {
    const rand = rng(opts.seed ?? 1);
    // Uniform noise of variance σ²: amplitude √3·σ.
    const sigma = Math.sqrt(tonePower / 10 ** (opts.noiseSnrDb / 10));
    for (let i = 0; i < total; i++) out[i] = (out[i] ?? 0) + (rand() * 2 - 1) * Math.sqrt(3) * sigma;
  }
  return Int16Array.from(out, (v) => Math.max(-32768, Math.min(32767, Math.round(v))));
}

/** Feed `samples` in 20 ms frames (the last one padded) and collect the events. */
function detect(samples: Int16Array): DtmfDetectorEvent[] {
  const events: DtmfDetectorEvent[] = [];
  const det = new DtmfDetector((ev) => events.push(ev));
  const frame = new Int16Array(160);
  for (let at = 0; at < samples.length; at += 160) {
    frame.fill(0);
    frame.set(samples.subarray(at, Math.min(at + 160, samples.length)));
    det.process(frame);
  }
  det.process(new Int16Array(800));
  det.close();
  return events;
}

const digitsOf = (events: DtmfDetectorEvent[]): string =>
  events
    .filter((e) => e.type === 'begin')
    .map((e) => e.digit)
    .join('');

/** A burst between silences with a lead-in that is not a multiple of the hop. */
function alone(burst: Burst, leadMs: number): Burst[] {
  return [{ ms: leadMs }, burst, { ms: 100 }];
}

const LEADS_MS = [20, 21.375, 22.75, 24.125];

describe('in-band DTMF detection (ITU-T Q.24 tolerances)', () => {
  test('MUST detect each of the 16 keys once, with begin and end', () => {
    for (const key of '123456789*0#ABCD') {
      const events = detect(synth(alone({ key, ms: 80 }, 30)));
      assert.deepEqual(
        events.map((e) => `${e.type}:${e.digit}`),
        [`begin:${key}`, `end:${key}`],
        key,
      );
      const end = events[1];
      assert.ok(end?.type === 'end' && Math.abs(end.durationMs - 80) <= 6, `${key} duration`);
    }
  });

  const cases: { rule: string; burst: Burst; detected: boolean; noiseSnrDb?: number }[] = [
    {
      rule: 'MUST accept +1.0 % frequency deviation',
      burst: { key: '5', ms: 60, deviation: 0.01 },
      detected: true,
    },
    {
      rule: 'MUST accept −1.0 % frequency deviation',
      burst: { key: 'D', ms: 60, deviation: -0.01 },
      detected: true,
    },
    {
      rule: 'MUST accept +1.5 % frequency deviation',
      burst: { key: '1', ms: 60, deviation: 0.015 },
      detected: true,
    },
    {
      rule: 'MUST reject +4 % frequency deviation',
      burst: { key: '5', ms: 60, deviation: 0.04 },
      detected: false,
    },
    {
      rule: 'MUST reject −4 % frequency deviation',
      burst: { key: '9', ms: 60, deviation: -0.04 },
      detected: false,
    },
    {
      rule: 'MUST reject +3.5 % frequency deviation',
      burst: { key: '#', ms: 60, deviation: 0.035 },
      detected: false,
    },
    {
      rule: 'MUST accept 6 dB normal twist (high group weaker)',
      burst: { key: '3', ms: 60, rowDbm0: -8, colDbm0: -14 },
      detected: true,
    },
    {
      rule: 'MUST reject 10 dB normal twist',
      burst: { key: '3', ms: 60, rowDbm0: -8, colDbm0: -18 },
      detected: false,
    },
    {
      rule: 'MUST accept 3 dB reverse twist (high group stronger)',
      burst: { key: '7', ms: 60, rowDbm0: -13, colDbm0: -10 },
      detected: true,
    },
    {
      rule: 'MUST reject 6 dB reverse twist',
      burst: { key: '7', ms: 60, rowDbm0: -16, colDbm0: -10 },
      detected: false,
    },
    { rule: 'MUST reject a tone of 30 ms', burst: { key: '8', ms: 30 }, detected: false },
    { rule: 'MUST accept a tone of 40 ms', burst: { key: '8', ms: 40 }, detected: true },
    { rule: 'MUST accept a tone of 50 ms', burst: { key: '8', ms: 50 }, detected: true },
    {
      rule: 'MUST reject tones below the minimum level (−45 dBm0)',
      burst: { key: '2', ms: 80, rowDbm0: -45, colDbm0: -45 },
      detected: false,
    },
    {
      rule: 'MUST accept tones at −30 dBm0',
      burst: { key: '2', ms: 80, rowDbm0: -30, colDbm0: -30 },
      detected: true,
    },
    {
      rule: 'MUST detect with white noise at 20 dB SNR',
      burst: { key: '0', ms: 60 },
      detected: true,
      noiseSnrDb: 20,
    },
    {
      rule: 'MUST NOT report a digit for the 1004 Hz test tone',
      burst: { ms: 500, freqsHz: [1004], rowDbm0: 0 },
      detected: false,
    },
    {
      rule: 'MUST NOT report a digit for one DTMF frequency alone',
      burst: { ms: 500, freqsHz: [770] },
      detected: false,
    },
    {
      rule: 'MUST NOT report a digit for three tones (two rows and a column)',
      burst: { ms: 200, freqsHz: [697, 852, 1336] },
      detected: false,
    },
  ];
  for (const c of cases) {
    test(c.rule, () => {
      for (const lead of LEADS_MS) {
        const samples = synth(alone(c.burst, lead), { noiseSnrDb: c.noiseSnrDb, seed: lead * 8 });
        const got = digitsOf(detect(samples));
        if (c.detected) assert.equal(got.length, 1, `lead ${lead} ms: ${got}`);
        else assert.equal(got, '', `lead ${lead} ms`);
      }
    });
  }

  test('MUST NOT report digits in a speech-like signal (voiced harmonics with formants)', () => {
    const rand = rng(7);
    const n = FS * 2;
    const out = new Int16Array(n);
    // A 120–180 Hz gliding fundamental with 30 harmonics shaped by formants at 500, 1500, 2500 Hz.
    const ph = new Float64Array(31);
    for (let i = 0; i < n; i++) {
      const f0 = 150 + 30 * Math.sin((2 * Math.PI * i) / 4000);
      let v = 0;
      for (let h = 1; h <= 30; h++) {
        const f = f0 * h;
        ph[h] = (ph[h] ?? 0) + f / FS;
        const gain = [500, 1500, 2500].reduce((g, fm) => g + 1 / (1 + ((f - fm) / 120) ** 2), 0);
        v += gain * Math.sin(2 * Math.PI * (ph[h] ?? 0));
      }
      out[i] = Math.round(v * 3000 + (rand() - 0.5) * 200);
    }
    assert.equal(digitsOf(detect(out)), '');
  });

  test('MUST report "1234567890*#ABCD" exactly from 60 ms tones with 50 ms gaps', () => {
    const bursts: Burst[] = [{ ms: 13 }];
    for (const key of '1234567890*#ABCD') bursts.push({ key, ms: 60 }, { ms: 50 });
    assert.equal(digitsOf(detect(synth(bursts))), '1234567890*#ABCD');
    assert.equal(digitsOf(detect(synth(bursts, { noiseSnrDb: 20, seed: 3 }))), '1234567890*#ABCD');
  });

  test('MUST separate a repeated key by a 40 ms pause and bridge a 10 ms drop-out', () => {
    assert.equal(
      digitsOf(
        detect(synth([{ ms: 9 }, { key: '5', ms: 60 }, { ms: 40 }, { key: '5', ms: 60 }, { ms: 60 }])),
      ),
      '55',
    );
    assert.equal(
      digitsOf(
        detect(synth([{ ms: 9 }, { key: '5', ms: 60 }, { ms: 10 }, { key: '5', ms: 60 }, { ms: 60 }])),
      ),
      '5',
    );
  });

  test('MUST give the same digits whatever the frame size', () => {
    const samples = synth([{ ms: 7 }, { key: '4', ms: 70 }, { ms: 50 }, { key: '#', ms: 70 }, { ms: 80 }]);
    for (const size of [1, 37, 80, 160, 333]) {
      const events: DtmfDetectorEvent[] = [];
      const det = new DtmfDetector((ev) => events.push(ev));
      for (let at = 0; at < samples.length; at += size) det.process(samples.subarray(at, at + size));
      det.close();
      assert.equal(digitsOf(events), '4#', `frame of ${size}`);
    }
  });

  test('classifyWindow names the key of a whole 20 ms window', () => {
    assert.equal(classifyWindow(synth([{ key: 'C', ms: 20 }])), 'C');
    assert.equal(classifyWindow(new Int16Array(160)), undefined);
  });

  test('dump() is plain JSON and close() ends a digit in progress', () => {
    const events: DtmfDetectorEvent[] = [];
    const det = new DtmfDetector((ev) => events.push(ev));
    const s = synth([{ key: '6', ms: 100 }]);
    det.process(s);
    assert.deepEqual(JSON.parse(JSON.stringify(det.dump())), {
      state: 'tone',
      digit: '6',
      samples: 800,
      digits: 1,
      windowsAnalysed: 17,
      windowsPassedOver: 0,
    });
    det.close();
    assert.deepEqual(
      events.map((e) => e.type),
      ['begin', 'end'],
    );
    assert.equal(det.dump().state, 'closed');
  });

  test('coarse stepping while idle gives exactly the events of analysing every window, and skips most windows of non-DTMF audio', () => {
    const r = rng(7);
    const keys = '0123456789*#ABCD';
    const bursts: Burst[] = [];
    for (let i = 0; i < 400; i++) {
      // Tones of 20–90 ms (both sides of the 40 ms minimum), pauses of 5–80 ms (both sides of 40),
      // single tones and chords in between, at varied levels and slight frequency errors.
      const kind = r();
      if (kind < 0.55) {
        bursts.push({
          key: keys[Math.floor(r() * keys.length)] ?? '5',
          ms: 20 + Math.floor(r() * 70),
          deviation: (r() - 0.5) * 0.03,
          rowDbm0: -5 - r() * 25,
          colDbm0: -5 - r() * 25,
        });
      } else if (kind < 0.8) bursts.push({ ms: 5 + Math.floor(r() * 75) });
      else
        bursts.push({
          ms: 20 + Math.floor(r() * 200),
          freqsHz: [300 + r() * 2700, ...(r() < 0.5 ? [300 + r() * 2700] : [])],
        });
    }
    const signal = synth(bursts, { noiseSnrDb: 30, seed: 11 });
    const events = (everyWindow: boolean) => {
      const out: DtmfDetectorEvent[] = [];
      const det = new DtmfDetector((ev) => out.push(ev), { everyWindow });
      // Frames of the engine's size, and of odd sizes: the grid must not depend on framing.
      for (let at = 0; at < signal.length;) {
        const n = everyWindow ? 160 : 37 + Math.floor(r() * 300);
        det.process(signal.subarray(at, at + n));
        at += n;
      }
      det.close();
      return { out, dump: det.dump() };
    };
    const full = events(true);
    const coarse = events(false);
    assert.ok(full.out.length > 100, `the sequence holds digits (${full.out.length} events)`);
    assert.deepEqual(coarse.out, full.out);
    const silentish = synth([
      { ms: 2000, freqsHz: [1004] },
      { ms: 2000, freqsHz: [440, 1200] },
      { ms: 1000 },
    ]);
    const det = new DtmfDetector(() => assert.fail('no digit in a test tone'));
    det.process(silentish);
    const d = det.dump();
    assert.ok(
      d.windowsPassedOver >= 2 * d.windowsAnalysed,
      `analysed ${d.windowsAnalysed}, passed over ${d.windowsPassedOver}`,
    );
  });
});
