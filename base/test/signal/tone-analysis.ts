/** Measurements of a decoded tone, shared by the unit and end-to-end tests of the milliwatt. */

/**
 * Frequency from positive-going zero crossings, each located by linear interpolation between
 * the samples around it: (crossings − 1) full cycles over the time between the first and last.
 */
export function zeroCrossingFrequencyHz(samples: ArrayLike<number>, sampleRateHz: number): number {
  const crossings: number[] = [];
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1] ?? 0;
    const b = samples[i] ?? 0;
    if (a < 0 && b >= 0) crossings.push(i - 1 + -a / (b - a));
  }
  const first = crossings[0];
  const last = crossings[crossings.length - 1];
  if (first === undefined || last === undefined || crossings.length < 2) return 0;
  return ((crossings.length - 1) * sampleRateHz) / (last - first);
}

/** Goertzel power of one frequency, normalised so that a full-scale-amplitude sine A gives A²/4·N². */
export function goertzelPower(samples: ArrayLike<number>, sampleRateHz: number, freqHz: number): number {
  const coeff = 2 * Math.cos((2 * Math.PI * freqHz) / sampleRateHz);
  let s1 = 0;
  let s2 = 0;
  for (let i = 0; i < samples.length; i++) {
    const s0 = (samples[i] ?? 0) + coeff * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  return s1 * s1 + s2 * s2 - coeff * s1 * s2;
}

export function rms(samples: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < samples.length; i++) sum += (samples[i] ?? 0) ** 2;
  return Math.sqrt(sum / Math.max(1, samples.length));
}

/** Level relative to a sine of peak `zeroDbm0Peak` (the 0 dBm0 reference), in dB. */
export function levelDbm0(samples: ArrayLike<number>, zeroDbm0Peak: number): number {
  return 20 * Math.log10(rms(samples) / (zeroDbm0Peak / Math.SQRT2));
}
