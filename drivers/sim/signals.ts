/**
 * Signal sources of the simulated exchange and card: DTMF bursts, queued sample streams (caller
 * ID, prompts, digits), white noise. All deterministic, all written into reused 20 ms frames.
 */
import { DTMF_COLUMN_HZ, DTMF_ROW_HZ } from '../../base/signal/dtmf-detector.ts';
import { ToneGenerator } from '../../base/signal/tone-generator.ts';
import { DBM0_REFERENCE_PEAK } from '../../base/signal/tone-plan.ts';
import { SAMPLE_RATE_HZ } from '../api/types.ts';

/** ITU-T Q.23 keypad, by row then column. */
const KEYPAD = '123A456B789C*0#D';

export const DTMF_DIGITS = /^[0-9*#A-D]*$/;

/** The (low, high) frequency pair of a DTMF key, or undefined for a character that is not one. */
export function dtmfFrequencies(digit: string): [number, number] | undefined {
  const i = KEYPAD.indexOf(digit.toUpperCase());
  if (digit.length !== 1 || i < 0) return undefined;
  const row = DTMF_ROW_HZ[Math.floor(i / 4)];
  const col = DTMF_COLUMN_HZ[i % 4];
  return row === undefined || col === undefined ? undefined : [row, col];
}

export interface DtmfTiming {
  toneMs: number;
  gapMs: number;
  /** Level of each tone. Telephones send the high group a little louder (ES 201 235-2). */
  levelDbm0: number;
}

export const DEFAULT_DTMF_TIMING: DtmfTiming = { toneMs: 100, gapMs: 100, levelDbm0: -8 };

function msToSamples(ms: number): number {
  return Math.round((ms * SAMPLE_RATE_HZ) / 1000);
}

/** The samples of a digit string: each digit a tone pair for `toneMs`, then `gapMs` of silence. */
export function synthesizeDtmf(digits: string, timing: DtmfTiming = DEFAULT_DTMF_TIMING): Int16Array {
  const tone = msToSamples(timing.toneMs);
  const step = tone + msToSamples(timing.gapMs);
  const out = new Int16Array(step * digits.length);
  for (let k = 0; k < digits.length; k++) {
    const freqs = dtmfFrequencies(digits[k] ?? '');
    if (!freqs) continue;
    const gen = new ToneGenerator({ frequenciesHz: freqs, levelDbm0: timing.levelDbm0, cadenceMs: [] });
    gen.fill(out.subarray(k * step, k * step + tone));
  }
  return out;
}

/** A sine (or sum of sines) of `ms` at `levelDbm0` each. */
export function synthesizeTone(frequenciesHz: number[], levelDbm0: number, ms: number): Int16Array {
  const out = new Int16Array(msToSamples(ms));
  new ToneGenerator({ frequenciesHz, levelDbm0, cadenceMs: [] }).fill(out);
  return out;
}

export function silence(ms: number): Int16Array {
  return new Int16Array(msToSamples(ms));
}

/** A tone block of a `SampleQueue`: its generator keeps the phase from one frame to the next. */
interface ToneBlock {
  length: number;
  gen: ToneGenerator;
}

/**
 * A queue of sample blocks played out frame by frame. `fill` writes what it has into the frame
 * (silence after the end) and says how many samples were real.
 */
export class SampleQueue {
  private blocks: Array<Int16Array | ToneBlock> = [];
  private offset = 0;
  private queued = 0;

  push(samples: Int16Array): void {
    if (samples.length === 0) return;
    this.blocks.push(samples);
    this.queued += samples.length;
  }

  /** A tone of `ms`, rendered as it plays (as `synthesizeTone`, without holding its samples). */
  pushTone(frequenciesHz: number[], levelDbm0: number, ms: number): void {
    const length = msToSamples(ms);
    if (length === 0) return;
    this.blocks.push({ length, gen: new ToneGenerator({ frequenciesHz, levelDbm0, cadenceMs: [] }) });
    this.queued += length;
  }

  get pendingSamples(): number {
    return this.queued;
  }

  get empty(): boolean {
    return this.queued === 0;
  }

  clear(): void {
    this.blocks = [];
    this.offset = 0;
    this.queued = 0;
  }

  fill(frame: Int16Array): number {
    let at = 0;
    while (at < frame.length) {
      const block = this.blocks[0];
      if (!block) break;
      const n = Math.min(frame.length - at, block.length - this.offset);
      if (block instanceof Int16Array) frame.set(block.subarray(this.offset, this.offset + n), at);
      else block.gen.fill(frame.subarray(at, at + n));
      at += n;
      this.offset += n;
      this.queued -= n;
      if (this.offset === block.length) {
        this.blocks.shift();
        this.offset = 0;
      }
    }
    if (at < frame.length) frame.fill(0, at);
    return at;
  }
}

/** White noise at a set level from a small deterministic PRNG (mulberry32), for faulty lines. */
export class NoiseSource {
  private state: number;
  private readonly amplitude: number;

  constructor(levelDbm0: number, seed = 1) {
    this.state = seed >>> 0;
    // A uniform variable on [−A, A] has power A²/3; a 0 dBm0 sine has power peak²/2.
    const power = (DBM0_REFERENCE_PEAK * DBM0_REFERENCE_PEAK * 10 ** (levelDbm0 / 10)) / 2;
    this.amplitude = Math.sqrt(3 * power);
  }

  private next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  sample(): number {
    return Math.round((this.next() * 2 - 1) * this.amplitude);
  }

  fill(frame: Int16Array): Int16Array {
    for (let i = 0; i < frame.length; i++) frame[i] = this.sample();
    return frame;
  }
}

/** Add `b` into `a` in place, saturating to 16 bits. */
export function mixInto(a: Int16Array, b: Int16Array): void {
  for (let i = 0; i < a.length; i++) {
    const v = (a[i] ?? 0) + (b[i] ?? 0);
    a[i] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
  }
}
