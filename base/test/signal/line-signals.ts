/** Signal generators for the line-signalling tests: tones, cadences, noise, all deterministic. */
import { clamp16, dbm0ToPeak, meanPower, SAMPLE_RATE_HZ } from '../../signal/line-audio.ts';

/** A small deterministic PRNG (mulberry32) so noisy tests are repeatable. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal samples (Box–Muller). */
export function gaussian(rand: () => number): () => number {
  return () => {
    const u = Math.max(1e-12, rand());
    const v = rand();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
}

/** Add white Gaussian noise `snrDb` below the mean power of the non-silent part of `signal`. */
export function addNoise(signal: Int16Array, snrDb: number, seed = 1): Int16Array {
  let sum = 0;
  let count = 0;
  for (const x of signal) {
    if (x !== 0) {
      sum += x * x;
      count++;
    }
  }
  const power = count ? sum / count : meanPower(signal);
  const sigma = Math.sqrt(power / 10 ** (snrDb / 10));
  const g = gaussian(prng(seed));
  const out = new Int16Array(signal.length);
  for (let i = 0; i < signal.length; i++) out[i] = clamp16((signal[i] ?? 0) + sigma * g());
  return out;
}

/** Sum of sines at `levelDbm0` each, for `ms` milliseconds. */
export function tone(freqsHz: number[], ms: number, levelDbm0: number, phase0 = 0): Int16Array {
  const n = Math.round((ms * SAMPLE_RATE_HZ) / 1000);
  const out = new Int16Array(n);
  const peak = dbm0ToPeak(levelDbm0);
  for (let i = 0; i < n; i++) {
    let x = 0;
    for (const f of freqsHz) x += peak * Math.sin(phase0 + (2 * Math.PI * f * i) / SAMPLE_RATE_HZ);
    out[i] = clamp16(x);
  }
  return out;
}

export function silence(ms: number): Int16Array {
  return new Int16Array(Math.round((ms * SAMPLE_RATE_HZ) / 1000));
}

export function concat(...parts: Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A cadenced tone: `cycles` repetitions of on/off, starting `startOffsetMs` into the first on. */
export function cadencedTone(
  freqsHz: number[],
  onMs: number,
  offMs: number,
  totalMs: number,
  levelDbm0 = -20,
  startOffsetMs = 0,
): Int16Array {
  const parts: Int16Array[] = [];
  let t = -startOffsetMs;
  while (t < totalMs) {
    parts.push(tone(freqsHz, onMs, levelDbm0), silence(offMs));
    t += onMs + offMs;
  }
  const all = concat(...parts);
  const skip = Math.round((startOffsetMs * SAMPLE_RATE_HZ) / 1000);
  return all.subarray(skip, skip + Math.round((totalMs * SAMPLE_RATE_HZ) / 1000));
}

/**
 * Speech-like noise: a vowel-like harmonic series whose pitch glides and whose loudness follows a
 * syllable envelope (about 4 syllables a second), mixed with some breath noise.
 */
export function speechLike(ms: number, seed = 7, levelDbm0 = -20): Int16Array {
  const n = Math.round((ms * SAMPLE_RATE_HZ) / 1000);
  const out = new Int16Array(n);
  const rand = prng(seed);
  const g = gaussian(rand);
  const peak = dbm0ToPeak(levelDbm0);
  let phase = 0;
  let syllableLeft = 0;
  let syllableLen = 1;
  let pitch = 120;
  let pitchSlope = 0;
  for (let i = 0; i < n; i++) {
    if (syllableLeft <= 0) {
      syllableLen = Math.round(SAMPLE_RATE_HZ * (0.12 + rand() * 0.25));
      syllableLeft = syllableLen + Math.round(SAMPLE_RATE_HZ * rand() * 0.12);
      pitch = 100 + rand() * 120;
      pitchSlope = (rand() - 0.5) * 0.02;
    }
    const pos = syllableLen - syllableLeft;
    const env = pos >= 0 && pos < syllableLen ? Math.sin((Math.PI * pos) / syllableLen) : 0;
    syllableLeft--;
    pitch = Math.max(80, pitch + pitchSlope);
    phase += (2 * Math.PI * pitch) / SAMPLE_RATE_HZ;
    let x = 0;
    for (let h = 1; h <= 12; h++) x += Math.sin(h * phase) / h;
    out[i] = clamp16(peak * (env * 0.6 * x + 0.05 * g()));
  }
  return out;
}

const DTMF_LOW: Record<string, number> = {};
const DTMF_HIGH: Record<string, number> = {};
['123A', '456B', '789C', '*0#D'].forEach((row, r) => {
  for (let c = 0; c < 4; c++) {
    const key = row[c] ?? '';
    DTMF_LOW[key] = [697, 770, 852, 941][r] ?? 0;
    DTMF_HIGH[key] = [1209, 1336, 1477, 1633][c] ?? 0;
  }
});

/** DTMF audio for `digits`: each tone `toneMs` at `levelDbm0` per component, then `gapMs` of silence. */
export function dtmfAudio(digits: string, toneMs = 70, gapMs = 70, levelDbm0 = -10): Int16Array {
  const parts: Int16Array[] = [];
  for (const d of digits) {
    parts.push(tone([DTMF_LOW[d] ?? 0, DTMF_HIGH[d] ?? 0], toneMs, levelDbm0), silence(gapMs));
  }
  return concat(...parts);
}
