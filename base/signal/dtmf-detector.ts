/**
 * In-band DTMF detection (ITU-T Q.23 frequencies, Q.24 receiver tolerances) on the engine's
 * 20 ms frames, for PSTN legs and for peers that send digits as audio.
 *
 *              1209 Hz  1336 Hz  1477 Hz  1633 Hz
 *     697 Hz      1        2        3        A
 *     770 Hz      4        5        6        B
 *     852 Hz      7        8        9        C
 *     941 Hz      *        0        #        D
 *
 * Analysis: a 160-sample window (20 ms) slides by 40 samples (5 ms), kept across frames in a ring,
 * so frames of any length can be fed. Why these sizes:
 * - 160 samples give 50 Hz bins: the nearest other row (73 Hz away) is 13 dB down at the nominal
 *   Goertzel of the right one, enough to pick the row and column; the exact frequency is then
 *   located with off-nominal Goertzels (`locatePeak`), which is what the Q.24 frequency
 *   tolerance is judged on (bin attenuation alone cannot do it: a fixed window is 3× more
 *   selective in per cent at 1633 Hz than at 697 Hz).
 * - A window counts as "tone" only if the two tones carry ≥ 80 % of its energy. A window that
 *   only partly overlaps a tone burst fails that test in proportion to the silence it holds, so
 *   the count of consecutive tone windows measures duration to about ±3 ms: ≥ 5 windows is
 *   guaranteed for a 40 ms tone and impossible for a 30 ms one. (102- or 205-sample blocks
 *   without overlap measure duration only to ±13 or ±26 ms: they cannot separate 30 from 40 ms.)
 * - The energy test also rejects speech and music (energy spread over many frequencies) and
 *   single tones such as the 1004 Hz test tone.
 *
 * The detector emits `begin` once a digit has lasted the minimum duration and `end` (with its
 * duration) once a pause is seen: one of each per key press.
 */
import { digitForEvent, type DtmfDigit } from './dtmf-digits.ts';
import { goertzelAmplitude, goertzelCoefficient, goertzelPower, locatePeak } from './goertzel.ts';
import { DBM0_REFERENCE_PEAK } from './tone-plan.ts';

export const DTMF_ROW_HZ = [697, 770, 852, 941] as const;
export const DTMF_COLUMN_HZ = [1209, 1336, 1477, 1633] as const;
/** Keypad by row then column; values are RFC 4733 event codes. */
const KEYPAD_EVENTS = [1, 2, 3, 12, 4, 5, 6, 13, 7, 8, 9, 14, 10, 0, 11, 15] as const;

export const DETECTOR_WINDOW_SAMPLES = 160;
export const DETECTOR_HOP_SAMPLES = 40;
/** While idle, one window in this many is analysed (see `DtmfDetector.hop`). */
const COARSE_HOPS = 4;
/** The window and the hops a coarse step may look back over. */
const HISTORY_SAMPLES = DETECTOR_WINDOW_SAMPLES + (COARSE_HOPS - 1) * DETECTOR_HOP_SAMPLES;
const SAMPLE_RATE_HZ = 8000;

export interface DtmfDetectorOptions {
  /**
   * Frequency deviation accepted, as a ratio. Q.24: a receiver must accept ±1.5 % and must reject
   * ±3.5 %; the decision is made in the middle.
   */
  maxDeviation?: number;
  /** Q.24: the high-group tone may be this much weaker than the low-group one (normal twist). */
  normalTwistDb?: number;
  /** Q.24: the high-group tone may be this much stronger than the low-group one (reverse twist). */
  reverseTwistDb?: number;
  /** Each tone must be at least this level (dBm0). */
  minLevelDbm0?: number;
  /** Share of the window's energy the two tones must carry. */
  minToneEnergyRatio?: number;
  /** Q.24: tones of 40 ms and more are digits. */
  minDurationMs?: number;
  /** Q.24: pauses of 40 ms and more separate digits; shorter drop-outs (≤ 10 ms) are bridged. */
  minPauseMs?: number;
  /** Analyse every window even while idle (no coarse stepping): the reference the tests compare with. */
  everyWindow?: boolean;
}

export type DtmfDetectorEvent =
  | { type: 'begin'; digit: DtmfDigit; atMs: number }
  | { type: 'end'; digit: DtmfDigit; atMs: number; durationMs: number };

export type DtmfDetectorState = 'idle' | 'tone' | 'closed';

export interface DtmfDetectorDump {
  state: DtmfDetectorState;
  digit: DtmfDigit | null;
  samples: number;
  digits: number;
  /** Windows analysed, and windows passed over while idle (coarse stepping). */
  windowsAnalysed: number;
  windowsPassedOver: number;
}

interface Resolved {
  maxDeviation: number;
  normalTwistDb: number;
  reverseTwistDb: number;
  minAmplitude: number;
  minToneEnergyRatio: number;
  minOnWindows: number;
  minOffWindows: number;
}

const ROW_COEFF = DTMF_ROW_HZ.map((f) => goertzelCoefficient(f, SAMPLE_RATE_HZ));
const COLUMN_COEFF = DTMF_COLUMN_HZ.map((f) => goertzelCoefficient(f, SAMPLE_RATE_HZ));

/** Which digit, if any, a full window holds; pure, for tests and for callers with whole blocks. */
export function classifyWindow(
  window: ArrayLike<number>,
  opts: DtmfDetectorOptions = {},
): DtmfDigit | undefined {
  return classify(window, resolve(opts));
}

function resolve(opts: DtmfDetectorOptions): Resolved {
  const hopMs = (DETECTOR_HOP_SAMPLES * 1000) / SAMPLE_RATE_HZ;
  const windowMs = (DETECTOR_WINDOW_SAMPLES * 1000) / SAMPLE_RATE_HZ;
  // A window counts as tone when ≥ ratio·N of it is tone, so a burst of D ms gives
  // (D − (2·ratio − 1)·N) / hop tone windows, give or take one.
  const ratio = opts.minToneEnergyRatio ?? 0.8;
  const edgeMs = (2 * ratio - 1) * windowMs;
  const minDurationMs = opts.minDurationMs ?? 40;
  const minPauseMs = opts.minPauseMs ?? 40;
  return {
    maxDeviation: opts.maxDeviation ?? 0.025,
    normalTwistDb: opts.normalTwistDb ?? 8,
    reverseTwistDb: opts.reverseTwistDb ?? 4,
    minAmplitude: DBM0_REFERENCE_PEAK * 10 ** ((opts.minLevelDbm0 ?? -36) / 20),
    minToneEnergyRatio: ratio,
    minOnWindows: Math.max(1, Math.floor((minDurationMs - edgeMs) / hopMs)),
    // A pause of P ms spoils (P + edge) / hop windows; end the digit at about 70 % of the
    // minimum pause so a 40 ms pause always separates digits while 10 ms drop-outs never do.
    minOffWindows: Math.max(1, Math.floor((0.7 * minPauseMs + edgeMs) / hopMs)),
  };
}

function argmax(values: number[]): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if ((values[i] ?? 0) > (values[best] ?? 0)) best = i;
  return best;
}

/** The least share of a window's energy each tone group holds at its nominal bin (see `classify`). */
const MIN_GROUP_SHARE = 0.003;

const rowPowers = [0, 0, 0, 0];
const columnPowers = [0, 0, 0, 0];

function classify(w: ArrayLike<number>, o: Resolved): DtmfDigit | undefined {
  const n = w.length;
  let energy = 0;
  for (let i = 0; i < n; i++) {
    const x = w[i] ?? 0;
    energy += x * x;
  }
  // Two tones at the minimum level hold at least N·A²/2 each.
  if (energy < n * o.minAmplitude * o.minAmplitude) return undefined;
  for (let k = 0; k < 4; k++) {
    rowPowers[k] = goertzelPower(w, ROW_COEFF[k] ?? 0, 0, n);
    columnPowers[k] = goertzelPower(w, COLUMN_COEFF[k] ?? 0, 0, n);
  }
  const r = argmax(rowPowers);
  const c = argmax(columnPowers);
  // Cheap screens before locating the peaks (the located search costs 22 Goertzels more):
  // - the pair must already hold a fair share of the energy at the nominal frequencies;
  // - each group on its own must hold some: the weaker tone carries at least 1/(1 + 10^(8/10))
  //   of the pair at the largest twist, and at the largest accepted deviation its nominal bin
  //   keeps about 1/25 of its power (2.5 % of 1633 Hz is 0.8 of a 50 Hz bin), hence
  //   0.137 · 0.8 · 0.04 ≈ 0.0045 of the window's energy; a single tone (a test tone, the
  //   note of a melody) leaks far less than that into the other group and stops here.
  const rowShare = (2 * (rowPowers[r] ?? 0)) / n / energy;
  const columnShare = (2 * (columnPowers[c] ?? 0)) / n / energy;
  if (rowShare + columnShare < o.minToneEnergyRatio / 4) return undefined;
  if (Math.min(rowShare, columnShare) < MIN_GROUP_SHARE) return undefined;
  const rowHz = DTMF_ROW_HZ[r] ?? 0;
  const colHz = DTMF_COLUMN_HZ[c] ?? 0;
  const row = locatePeak(w, SAMPLE_RATE_HZ, rowHz, 5, 0.01, 0, n);
  const col = locatePeak(w, SAMPLE_RATE_HZ, colHz, 5, 0.01, 0, n);
  // Q.24 frequency tolerance, judged on the located frequency.
  if (Math.abs(row.freqHz / rowHz - 1) > o.maxDeviation) return undefined;
  if (Math.abs(col.freqHz / colHz - 1) > o.maxDeviation) return undefined;
  // Nearly all the energy in the two tones: no speech, no third tone, whole window covered.
  const toneEnergy = (2 * (row.power + col.power)) / n;
  if (toneEnergy < o.minToneEnergyRatio * energy) return undefined;
  const rowAmp = goertzelAmplitude(row.power, n);
  const colAmp = goertzelAmplitude(col.power, n);
  if (rowAmp < o.minAmplitude || colAmp < o.minAmplitude) return undefined;
  // Twist: Q.24 "normal" is the high-group tone weaker (lines attenuate high frequencies more).
  const twistDb = 20 * Math.log10(rowAmp / colAmp);
  if (twistDb > o.normalTwistDb || -twistDb > o.reverseTwistDb) return undefined;
  return digitForEvent(KEYPAD_EVENTS[r * 4 + c] ?? 0);
}

export class DtmfDetector {
  private state: DtmfDetectorState = 'idle';
  private readonly o: Resolved;
  /** The last window and the hops before it that a coarse step may have to look at again. */
  private readonly ring = new Float64Array(HISTORY_SAMPLES);
  private readonly window = new Float64Array(DETECTOR_WINDOW_SAMPLES);
  private writeAt = 0;
  private filled = 0;
  private sinceHop = 0;
  /** Window positions passed over since the last one analysed (coarse stepping). */
  private skipped = 0;
  /** Windows analysed, and passed over unanalysed as certain misses (the dump). */
  private analysed = 0;
  private passedOver = 0;
  /** Samples consumed since the detector started. */
  private samples = 0;
  private digit: DtmfDigit | undefined;
  private firstOnStart = 0;
  private lastOnStart = 0;
  private offWindows = 0;
  private candidate: DtmfDigit | undefined;
  private candidateCount = 0;
  private candidateFirstStart = 0;
  private digits = 0;

  /** Coarse stepping is exact only when a digit needs at least `COARSE_HOPS` tone windows. */
  private readonly coarseAllowed: boolean;

  constructor(
    private readonly onEvent: (ev: DtmfDetectorEvent) => void,
    opts: DtmfDetectorOptions = {},
  ) {
    this.o = resolve(opts);
    this.coarseAllowed = opts.everyWindow !== true && this.o.minOnWindows >= COARSE_HOPS;
  }

  /** Feed one frame (any length; normally 160 samples). Events are delivered synchronously. */
  process(frame: ArrayLike<number>): void {
    if (this.state === 'closed') return;
    const ring = this.ring;
    for (let i = 0; i < frame.length; i++) {
      ring[this.writeAt] = frame[i] ?? 0;
      this.writeAt = this.writeAt === HISTORY_SAMPLES - 1 ? 0 : this.writeAt + 1;
      if (this.filled < HISTORY_SAMPLES) this.filled++;
      this.samples++;
      if (++this.sinceHop === DETECTOR_HOP_SAMPLES) {
        this.sinceHop = 0;
        if (this.filled >= DETECTOR_WINDOW_SAMPLES) this.hop();
      }
    }
  }

  /**
   * One window position. While nothing is going on (idle, no candidate digit) only every
   * `COARSE_HOPS`-th window is analysed: a key press long enough to count (≥ 40 ms) gives a run
   * of at least `minOnWindows` ≥ `COARSE_HOPS` tone windows, so it cannot fall between two
   * analysed ones, and a shorter run cannot start a digit whatever its position. When a coarse
   * window finds a candidate, the windows passed over since the last analysed one are analysed
   * now, oldest first, from the history, so the state machine sees exactly the sequence of
   * verdicts the full 5 ms grid would give. From then on every window is analysed until the
   * detector is idle with no candidate again.
   */
  private hop(): void {
    const coarse = this.state === 'idle' && this.candidate === undefined && this.coarseAllowed;
    if (coarse && this.skipped < COARSE_HOPS - 1 && this.filled >= HISTORY_SAMPLES) {
      this.skipped++;
      return;
    }
    const seen = this.classifyAt(0);
    if (seen !== undefined && this.skipped > 0) {
      for (let back = this.skipped; back >= 1; back--) {
        this.step(
          this.classifyAt(back),
          this.samples - DETECTOR_WINDOW_SAMPLES - back * DETECTOR_HOP_SAMPLES,
        );
      }
    } else this.passedOver += this.skipped;
    this.skipped = 0;
    this.step(seen, this.samples - DETECTOR_WINDOW_SAMPLES);
  }

  /** The verdict on the window that ended `hopsBack` hops ago (0: the window ending now). */
  private classifyAt(hopsBack: number): DtmfDigit | undefined {
    this.analysed++;
    const endAt = (this.writeAt - hopsBack * DETECTOR_HOP_SAMPLES + HISTORY_SAMPLES) % HISTORY_SAMPLES;
    const startAt = (endAt - DETECTOR_WINDOW_SAMPLES + HISTORY_SAMPLES) % HISTORY_SAMPLES;
    if (startAt < endAt) this.window.set(this.ring.subarray(startAt, endAt), 0);
    else {
      const head = HISTORY_SAMPLES - startAt;
      this.window.set(this.ring.subarray(startAt), 0);
      this.window.set(this.ring.subarray(0, endAt), head);
    }
    return classify(this.window, this.o);
  }

  private step(seen: DtmfDigit | undefined, windowStart: number): void {
    if (seen !== undefined && seen === this.candidate) this.candidateCount++;
    else {
      this.candidate = seen;
      this.candidateCount = seen === undefined ? 0 : 1;
      this.candidateFirstStart = windowStart;
    }
    switch (this.state) {
      case 'tone':
        if (seen === this.digit) {
          this.offWindows = 0;
          this.lastOnStart = windowStart;
          return;
        }
        if (++this.offWindows < this.o.minOffWindows) return;
        this.endDigit();
        // A different digit that followed without a pause may already have lasted long enough.
        if (this.candidateCount >= this.o.minOnWindows) this.beginDigit(windowStart);
        return;
      case 'idle':
        if (this.candidateCount >= this.o.minOnWindows) this.beginDigit(windowStart);
        return;
      case 'closed':
        return;
      default: {
        const never: never = this.state;
        throw new Error(`unreachable detector state ${String(never)}`);
      }
    }
  }

  private beginDigit(windowStart: number): void {
    const digit = this.candidate;
    if (digit === undefined) return;
    this.digit = digit;
    this.firstOnStart = this.candidateFirstStart;
    this.lastOnStart = windowStart;
    this.offWindows = 0;
    this.digits++;
    this.transition('tone');
    // The first tone window starts (1 − ratio)·N before the burst, less half a hop on average.
    const leadMs =
      (1 - this.o.minToneEnergyRatio) * this.toMs(DETECTOR_WINDOW_SAMPLES) -
      this.toMs(DETECTOR_HOP_SAMPLES) / 2;
    this.onEvent({ type: 'begin', digit, atMs: this.toMs(this.firstOnStart) + leadMs });
  }

  private endDigit(): void {
    const digit = this.digit;
    this.digit = undefined;
    this.transition('idle');
    if (digit === undefined) return;
    // Tone windows start from (1 − ratio)·N before the burst to the burst's end − ratio·N: the
    // burst is the span of their starts plus (2·ratio − 1)·N, plus half a hop that the grid of
    // window starts loses on average.
    const spanMs = this.toMs(this.lastOnStart - this.firstOnStart);
    this.onEvent({
      type: 'end',
      digit,
      atMs: this.toMs(this.samples),
      durationMs: Math.round(spanMs + this.edgeMs() + this.toMs(DETECTOR_HOP_SAMPLES) / 2),
    });
  }

  private edgeMs(): number {
    return (2 * this.o.minToneEnergyRatio - 1) * this.toMs(DETECTOR_WINDOW_SAMPLES);
  }

  private toMs(samples: number): number {
    return (samples * 1000) / SAMPLE_RATE_HZ;
  }

  private transition(to: DtmfDetectorState): void {
    const from = this.state;
    const legal =
      (from === 'idle' && (to === 'tone' || to === 'closed')) ||
      (from === 'tone' && (to === 'idle' || to === 'closed'));
    if (!legal) throw new Error(`illegal DTMF detector transition ${from} -> ${to}`);
    this.state = to;
  }

  /** Ends a digit in progress (reported with the duration seen so far). */
  close(): void {
    if (this.state === 'tone') this.endDigit();
    if (this.state === 'idle') this.transition('closed');
  }

  dump(): DtmfDetectorDump {
    return {
      state: this.state,
      digit: this.digit ?? null,
      samples: this.samples,
      digits: this.digits,
      windowsAnalysed: this.analysed,
      windowsPassedOver: this.passedOver,
    };
  }
}
