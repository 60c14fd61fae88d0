/**
 * The Goertzel algorithm: the power of one frequency over a block of samples, as a second-order
 * recursion instead of a full DFT. The frequency need not fall on a DFT bin: the power formula
 * evaluates the block's DTFT at any frequency, which the DTMF detector uses to locate a tone
 * finely around its nominal frequency.
 */

/** Recursion coefficient 2·cos(2π·f/fs); compute once per frequency and reuse. */
export function goertzelCoefficient(freqHz: number, sampleRateHz: number): number {
  return 2 * Math.cos((2 * Math.PI * freqHz) / sampleRateHz);
}

/**
 * |X(f)|² of `samples[start, start+length)`. A sine of amplitude A filling the block at exactly f
 * gives (A·N/2)².
 */
export function goertzelPower(
  samples: ArrayLike<number>,
  coeff: number,
  start = 0,
  length = samples.length - start,
): number {
  let s1 = 0;
  let s2 = 0;
  const end = start + length;
  for (let i = start; i < end; i++) {
    const s0 = (samples[i] ?? 0) + coeff * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  return s1 * s1 + s2 * s2 - coeff * s1 * s2;
}

/** Amplitude of the sine that would give `power` over a block of `n` samples: 2·|X|/N. */
export function goertzelAmplitude(power: number, n: number): number {
  return (2 * Math.sqrt(Math.max(0, power))) / n;
}

/**
 * The frequency of the strongest component near `nominalHz` and its power: Goertzel at
 * `nominalHz·(1 + k·stepRatio)` for k = −steps…steps, then a parabola through the peak and its
 * neighbours (in dB, where the main lobe is close to a parabola). A peak on the edge of the
 * search range is returned as it is: the caller reads it as "too far off".
 */
export function locatePeak(
  samples: ArrayLike<number>,
  sampleRateHz: number,
  nominalHz: number,
  steps: number,
  stepRatio: number,
  start = 0,
  length = samples.length - start,
): { freqHz: number; power: number } {
  let bestK = -steps;
  let bestP = -1;
  let below = 0;
  let above = 0;
  let prev = 0;
  let pendingAbove = false;
  for (let k = -steps; k <= steps; k++) {
    const f = nominalHz * (1 + k * stepRatio);
    const p = goertzelPower(samples, goertzelCoefficient(f, sampleRateHz), start, length);
    if (pendingAbove) {
      above = p;
      pendingAbove = false;
    }
    if (p > bestP) {
      bestP = p;
      bestK = k;
      below = k > -steps ? prev : 0;
      pendingAbove = true;
      above = 0;
    }
    prev = p;
  }
  let offset = 0;
  if (bestK > -steps && bestK < steps && below > 0 && above > 0 && bestP > 0) {
    const a = 10 * Math.log10(below);
    const b = 10 * Math.log10(bestP);
    const c = 10 * Math.log10(above);
    const denom = a - 2 * b + c;
    if (denom < 0) offset = Math.max(-0.5, Math.min(0.5, (0.5 * (a - c)) / denom));
  }
  const freqHz = nominalHz * (1 + (bestK + offset) * stepRatio);
  // The peak's own power (at the located frequency) keeps the energy checks independent of how
  // far off-nominal the tone is.
  const power =
    offset === 0 ? bestP : goertzelPower(samples, goertzelCoefficient(freqHz, sampleRateHz), start, length);
  return { freqHz, power: Math.max(power, bestP) };
}
