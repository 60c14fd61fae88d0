/**
 * The digital milliwatt (`*44`): a 1004 Hz sine at 0 dBm0 in the negotiated G.711 law (the
 * packets themselves are sent by the media worker, `leg-service.ts`).
 *
 * ITU-T O.133 / G.711: the test tone is 1004 Hz (not 1000 Hz, which is a submultiple of the
 * 8 kHz sampling rate and would exercise only eight code words). 0 dBm0 is the level of a sine
 * whose peak is 3.17 dB below µ-law's overload point (peak 5664 of 8159 on the 14-bit scale) and
 * 3.14 dB below A-law's (2851 of 4096 on the 13-bit scale).
 *
 * 1004/8000 = 251/2000: the sampled sine repeats exactly every 2000 samples. One period is
 * encoded once per law and packets are cut from it, so the phase is continuous across packets and
 * never drifts, and building a packet is a copy.
 */
import { linearToAlaw, linearToUlaw, type G711Law } from './g711.ts';

export const MILLIWATT_HZ = 1004;
export const SAMPLE_RATE_HZ = 8000;
/** Samples in one exact period of the sampled 1004 Hz sine (8000 / gcd(8000, 1004)). */
export const MILLIWATT_PERIOD_SAMPLES = 2000;
/** 0 dBm0 peak on the 16-bit linear scale the codec tables use (14-bit × 4, 13-bit × 8). */
export const ZERO_DBM0_PEAK: Readonly<Record<G711Law, number>> = { pcmu: 5664 * 4, pcma: 2851 * 8 };

const tables: Partial<Record<G711Law, Uint8Array>> = {};

/** One period of the tone, encoded. */
export function milliwattPeriod(law: G711Law): Uint8Array {
  const cached = tables[law];
  if (cached) return cached;
  const table = new Uint8Array(MILLIWATT_PERIOD_SAMPLES);
  const peak = ZERO_DBM0_PEAK[law];
  const encode = law === 'pcmu' ? linearToUlaw : linearToAlaw;
  for (let k = 0; k < MILLIWATT_PERIOD_SAMPLES; k++) {
    table[k] = encode(Math.round(peak * Math.sin((2 * Math.PI * MILLIWATT_HZ * k) / SAMPLE_RATE_HZ)));
  }
  tables[law] = table;
  return table;
}

/** Copy `count` tone samples starting at `position` into `out` at `offset`; returns the next position. */
export function fillMilliwatt(
  law: G711Law,
  position: number,
  out: Uint8Array,
  offset: number,
  count: number,
): number {
  const period = milliwattPeriod(law);
  let pos = position % MILLIWATT_PERIOD_SAMPLES;
  let at = offset;
  let left = count;
  while (left > 0) {
    const n = Math.min(left, MILLIWATT_PERIOD_SAMPLES - pos);
    out.set(period.subarray(pos, pos + n), at);
    at += n;
    left -= n;
    pos = (pos + n) % MILLIWATT_PERIOD_SAMPLES;
  }
  return pos;
}
