/**
 * Plays one tone of a plan into the engine's frames: a sum of sines at the plan's level, gated by
 * its cadence, continuous across frames.
 *
 * Every sample is computed from the integer sample position, never from an accumulated phase:
 * for an integer frequency f the phase index (n·f mod fs) is exact, so the tone neither drifts nor
 * clicks at frame boundaries, and cadence edges fall on the exact sample (ms × 8) however the
 * frames are cut.
 */
import { DBM0_REFERENCE_PEAK, type ToneSpec } from './tone-plan.ts';

const SAMPLE_RATE_HZ = 8000;

export interface ToneGeneratorDump {
  frequenciesHz: number[];
  levelDbm0: number;
  cadenceMs: number[];
  positionSamples: number;
  on: boolean;
}

export class ToneGenerator {
  private readonly amplitude: number;
  private readonly freqs: number[];
  /** Phase index per frequency, in 1/fs cycle units (n·f mod fs). */
  private readonly phase: number[];
  private readonly cadence: number[];
  private readonly cycle: number;
  private segment = 0;
  private leftInSegment = 0;
  private position = 0;
  private closed = false;

  constructor(private readonly spec: ToneSpec) {
    this.amplitude = DBM0_REFERENCE_PEAK * 10 ** (spec.levelDbm0 / 20);
    this.freqs = [...spec.frequenciesHz];
    this.phase = this.freqs.map(() => 0);
    this.cadence = spec.cadenceMs.map((ms) => Math.round((ms * SAMPLE_RATE_HZ) / 1000));
    this.cycle = this.cadence.reduce((a, b) => a + b, 0);
    this.leftInSegment = this.cadence[0] ?? 0;
  }

  /** Write the next `frame.length` samples into `frame` (reused by the caller) and return it. */
  fill(frame: Int16Array): Int16Array {
    if (this.closed) {
      frame.fill(0);
      return frame;
    }
    const twoPiOverFs = (2 * Math.PI) / SAMPLE_RATE_HZ;
    const continuous = this.cycle === 0;
    for (let i = 0; i < frame.length; i++) {
      let on = true;
      if (!continuous) {
        while (this.leftInSegment === 0) {
          this.segment = (this.segment + 1) % this.cadence.length;
          this.leftInSegment = this.cadence[this.segment] ?? 0;
        }
        on = this.segment % 2 === 0;
        this.leftInSegment--;
      }
      let v = 0;
      for (let k = 0; k < this.freqs.length; k++) {
        const p = this.phase[k] ?? 0;
        if (on) v += Math.sin(p * twoPiOverFs);
        // The oscillators keep running through the off parts of the cadence.
        const next = p + (this.freqs[k] ?? 0);
        this.phase[k] = next >= SAMPLE_RATE_HZ ? next - SAMPLE_RATE_HZ : next;
      }
      frame[i] = Math.round(v * this.amplitude);
      this.position++;
    }
    return frame;
  }

  /** Back to the start of the cadence (a new call of the same tone). */
  reset(): void {
    this.position = 0;
    this.segment = 0;
    this.leftInSegment = this.cadence[0] ?? 0;
    for (let k = 0; k < this.phase.length; k++) this.phase[k] = 0;
  }

  close(): void {
    this.closed = true;
  }

  dump(): ToneGeneratorDump {
    const inCycle = this.cycle === 0 ? 0 : this.position % this.cycle;
    let on = true;
    if (this.cycle !== 0) {
      let acc = 0;
      for (let s = 0; s < this.cadence.length; s++) {
        acc += this.cadence[s] ?? 0;
        if (inCycle < acc) {
          on = s % 2 === 0;
          break;
        }
      }
    }
    return {
      frequenciesHz: [...this.freqs],
      levelDbm0: this.spec.levelDbm0,
      cadenceMs: [...this.spec.cadenceMs],
      positionSamples: this.position,
      on,
    };
  }
}
