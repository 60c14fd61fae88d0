/**
 * Line audio as the signalling cores see it: 20 ms frames of 160 linear 16-bit samples at 8 kHz,
 * levels in dBm0 (ITU-T G.711: 0 dBm0 is a sine whose peak is 3.17 dB below the µ-law overload
 * point, 22 656 on the 16-bit scale).
 */
import { ZERO_DBM0_PEAK } from './milliwatt.ts';

export const SAMPLE_RATE_HZ = 8000;
export const FRAME_SAMPLES = 160;
export const FRAME_MS = 20;

const ZERO_DBM0 = ZERO_DBM0_PEAK.pcmu;

/** Peak amplitude of a sine at `levelDbm0`. */
export function dbm0ToPeak(levelDbm0: number): number {
  return ZERO_DBM0 * 10 ** (levelDbm0 / 20);
}

/** Mean power (x²) of a sine at `levelDbm0`: peak² / 2. */
export function dbm0ToPower(levelDbm0: number): number {
  const peak = dbm0ToPeak(levelDbm0);
  return (peak * peak) / 2;
}

/** Level in dBm0 of a mean power (x² per sample). */
export function powerToDbm0(power: number): number {
  if (power <= 0) return -Infinity;
  return 10 * Math.log10(power / dbm0ToPower(0));
}

export function meanPower(samples: ArrayLike<number>, from = 0, to = samples.length): number {
  let sum = 0;
  for (let i = from; i < to; i++) {
    const x = samples[i] ?? 0;
    sum += x * x;
  }
  return to > from ? sum / (to - from) : 0;
}

/** Cut a sample stream into whole 20 ms frames; the tail is padded with silence. */
export function toFrames(samples: ArrayLike<number>): Int16Array[] {
  const frames: Int16Array[] = [];
  for (let at = 0; at < samples.length; at += FRAME_SAMPLES) {
    const frame = new Int16Array(FRAME_SAMPLES);
    const n = Math.min(FRAME_SAMPLES, samples.length - at);
    for (let i = 0; i < n; i++) frame[i] = samples[at + i] ?? 0;
    frames.push(frame);
  }
  return frames;
}

/** Saturate to the 16-bit range. */
export function clamp16(x: number): number {
  return x > 32767 ? 32767 : x < -32768 ? -32768 : Math.round(x);
}
