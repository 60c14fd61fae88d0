/**
 * Sample-rate conversion between 16 kHz (wideband prompts) and the engine's 8 kHz.
 *
 * Decimating by 2 folds everything above 4 kHz back into the telephone band, so the signal is
 * low-pass filtered first: a linear-phase windowed-sinc FIR (Blackman window, 63 taps, cutoff
 * 3.6 kHz). The Blackman window's first sidelobe is about −74 dB; with 63 taps the transition band
 * is about ±700 Hz around the cutoff, so the pass band is flat to about 3 kHz and content above about
 * 4.3 kHz is attenuated well beyond 40 dB before it can alias. Interpolating by 2 inserts zeros and
 * removes the image with the same filter (gain 2 to restore the level).
 *
 * Both work on whole buffers with the filter centred on each output sample (zero phase), which is
 * what prompts need: the output lines up with the input and has no leading delay.
 */
import { saturate16 } from './pcm-frame.ts';

export const RESAMPLE_TAPS = 63;
const CUTOFF_HZ = 3600;
const RATE_HZ = 16000;

function designLowPass(taps: number, cutoffHz: number, rateHz: number): Float64Array {
  const h = new Float64Array(taps);
  const mid = (taps - 1) / 2;
  const fc = cutoffHz / rateHz;
  let sum = 0;
  for (let n = 0; n < taps; n++) {
    const x = n - mid;
    const sinc = x === 0 ? 2 * fc : Math.sin(2 * Math.PI * fc * x) / (Math.PI * x);
    const w =
      0.42 - 0.5 * Math.cos((2 * Math.PI * n) / (taps - 1)) + 0.08 * Math.cos((4 * Math.PI * n) / (taps - 1));
    h[n] = sinc * w;
    sum += h[n] ?? 0;
  }
  // Unity gain at DC.
  for (let n = 0; n < taps; n++) h[n] = (h[n] ?? 0) / sum;
  return h;
}

const LOW_PASS = designLowPass(RESAMPLE_TAPS, CUTOFF_HZ, RATE_HZ);
const HALF = (RESAMPLE_TAPS - 1) / 2;

/** The filter's coefficients (for tests and dumps). */
export function lowPassCoefficients(): readonly number[] {
  return Array.from(LOW_PASS);
}

/** 16 kHz → 8 kHz: low-pass, keep every other sample. Output length is ceil(n/2). */
export function downsample16kTo8k(input: Int16Array): Int16Array {
  const out = new Int16Array(Math.ceil(input.length / 2));
  for (let o = 0; o < out.length; o++) {
    const centre = o * 2;
    let acc = 0;
    for (let k = 0; k < RESAMPLE_TAPS; k++) {
      const i = centre + k - HALF;
      if (i >= 0 && i < input.length) acc += (LOW_PASS[k] ?? 0) * (input[i] ?? 0);
    }
    out[o] = saturate16(Math.round(acc));
  }
  return out;
}

/** 8 kHz → 16 kHz: zero insertion, then the same low-pass with gain 2 removes the image. */
export function upsample8kTo16k(input: Int16Array): Int16Array {
  const out = new Int16Array(input.length * 2);
  for (let o = 0; o < out.length; o++) {
    let acc = 0;
    // Only the taps that land on real (even-index) samples contribute; the inserted zeros don't.
    for (let k = (o - HALF) & 1 ? 1 : 0; k < RESAMPLE_TAPS; k += 2) {
      const i = o + k - HALF;
      if (i >= 0 && i < out.length) acc += (LOW_PASS[k] ?? 0) * (input[i >> 1] ?? 0);
    }
    out[o] = saturate16(Math.round(2 * acc));
  }
  return out;
}
