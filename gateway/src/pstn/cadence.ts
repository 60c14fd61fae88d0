/**
 * Call-progress tones by frequency and cadence: busy, congestion (reorder) and dial tone, per
 * country plan, and a procedure that learns a line's own busy tone.
 *
 * The tones are the media tone plans' (`media/tone-plan.ts`, after ITU-T E.180 Suppl. 2):
 *
 * | plan | busy                 | congestion / reorder  | dial tone        |
 * |------|----------------------|-----------------------|------------------|
 * | cn   | 450 Hz 350/350 ms    | 450 Hz 700/700 ms     | 450 Hz steady    |
 * | etsi | 425 Hz 500/500 ms    | 425 Hz 250/250 ms     | 425 Hz steady    |
 * | nanp | 480+620 Hz 500/500   | 480+620 Hz 250/250    | 350+440 Hz steady|
 *
 * Analysis is per 20 ms frame: the Goertzel power at each of the tone's frequencies (probed at the
 * nominal frequency and ± the frequency tolerance) must carry most of the frame's energy. A frame
 * is "on" or "off"; runs of frames are the cadence's elements, each matched against its nominal
 * duration ± a ratio (E.180 §2: "a tolerance of ±20 %" is the usual latitude exchanges keep).
 */
import { err, ok, type ParseError, type Result } from '../../../base/result.ts';
import type { ErrorCode } from '../../../base/error-codes.ts';
import { goertzelCoefficient, goertzelPower } from '../../../base/signal/goertzel.ts';
import {
  CHINA_TONE_PLAN,
  ETSI_TONE_PLAN,
  NANP_TONE_PLAN,
  type TonePlan,
  type TonePlanId,
} from '../../../base/signal/tone-plan.ts';
import { dbm0ToPower, FRAME_MS, meanPower, SAMPLE_RATE_HZ } from '../../../base/signal/line-audio.ts';

export type CadenceKind = 'busy' | 'congestion';

export interface CadenceProfile {
  name: string;
  kind: CadenceKind;
  frequenciesHz: number[];
  onMs: number;
  offMs: number;
  /** Each element may be this fraction longer or shorter than nominal (0.2 = ±20 %). */
  toleranceRatio: number;
  /** A frequency may be off nominal by this much. */
  frequencyToleranceHz: number;
  /** Cycles to observe before declaring; counted as 2·cycles − 1 elements (on, off, on). */
  cycles: number;
  /** Quieter tones are ignored. */
  minLevelDbm0: number;
}

function profile(
  name: string,
  kind: CadenceKind,
  frequenciesHz: readonly number[],
  onMs: number,
  offMs: number,
): CadenceProfile {
  return {
    name,
    kind,
    frequenciesHz: [...frequenciesHz],
    onMs,
    offMs,
    toleranceRatio: 0.2,
    frequencyToleranceHz: 15,
    cycles: 2,
    minLevelDbm0: -40,
  };
}

/** The tones that end a call in `plan`: its busy and congestion (reorder) tones. */
export function disconnectProfiles(plan: TonePlan): CadenceProfile[] {
  const out: CadenceProfile[] = [];
  for (const kind of ['busy', 'congestion'] as const) {
    const spec = plan.tones[kind];
    const [onMs, offMs] = spec.cadenceMs;
    if (onMs !== undefined && offMs !== undefined)
      out.push(profile(`${plan.id}-${kind}`, kind, spec.frequenciesHz, onMs, offMs));
  }
  return out;
}

export const DISCONNECT_TONES: Readonly<Record<TonePlanId, readonly CadenceProfile[]>> = {
  cn: disconnectProfiles(CHINA_TONE_PLAN),
  etsi: disconnectProfiles(ETSI_TONE_PLAN),
  nanp: disconnectProfiles(NANP_TONE_PLAN),
};

/** Share of the frame's energy the tone must carry for the frame to count as "on". */
const MIN_PURITY = 0.6;
/** In a dual tone each component carries at least this share of the pair's energy. */
const MIN_COMPONENT_SHARE = 0.2;

/**
 * Mean power of the component at `freqHz` (A²/2 for a sine of amplitude A), the best of the
 * nominal and the two tolerance probes.
 */
function componentPower(frame: ArrayLike<number>, freqHz: number, toleranceHz: number): number {
  const n = frame.length;
  let best = 0;
  const probes = toleranceHz > 0 ? [freqHz - toleranceHz, freqHz, freqHz + toleranceHz] : [freqHz];
  for (const f of probes) {
    const p = goertzelPower(frame, goertzelCoefficient(f, SAMPLE_RATE_HZ));
    if (p > best) best = p;
  }
  return (2 * best) / (n * n);
}

/** Is this frame the tone (and loud enough)? */
export function toneInFrame(
  frame: ArrayLike<number>,
  frequenciesHz: readonly number[],
  toleranceHz: number,
  minLevelDbm0: number,
): boolean {
  const total = meanPower(frame);
  if (total < dbm0ToPower(minLevelDbm0)) return false;
  let sum = 0;
  let weakest = Infinity;
  for (const f of frequenciesHz) {
    const p = componentPower(frame, f, toleranceHz);
    sum += p;
    if (p < weakest) weakest = p;
  }
  if (sum < MIN_PURITY * total) return false;
  return frequenciesHz.length < 2 || weakest >= MIN_COMPONENT_SHARE * sum;
}

export interface CadenceMatch {
  profile: string;
  kind: CadenceKind;
  /** Stream time of the declaration, in ms since the detector started. */
  atMs: number;
}

interface Tracker {
  profile: CadenceProfile;
  on: boolean;
  runMs: number;
  /** Consecutive elements that matched their nominal duration. */
  matched: number;
}

/**
 * Cadence matching for one line. `push` returns a match once, the moment the required elements
 * have been seen: the last one counts as soon as it has lasted its minimum duration, so a
 * 500/500 busy tone heard from any point of its cycle is declared within 1.9 s.
 */
export class CadenceDetector {
  private readonly trackers: Tracker[];
  private elapsedMs = 0;
  private declared: CadenceMatch | undefined;

  constructor(profiles: readonly CadenceProfile[]) {
    this.trackers = profiles.map((p) => ({ profile: p, on: false, runMs: 0, matched: 0 }));
  }

  push(frame: Int16Array): CadenceMatch | undefined {
    this.elapsedMs += FRAME_MS;
    if (this.declared) return undefined;
    for (const t of this.trackers) {
      const p = t.profile;
      const on = toneInFrame(frame, p.frequenciesHz, p.frequencyToleranceHz, p.minLevelDbm0);
      if (on !== t.on) {
        // An element has ended: does its duration fit?
        const nominal = t.on ? p.onMs : p.offMs;
        const fits = Math.abs(t.runMs - nominal) <= nominal * p.toleranceRatio;
        t.matched = fits ? t.matched + 1 : 0;
        t.on = on;
        t.runMs = 0;
      }
      t.runMs += FRAME_MS;
      const nominal = t.on ? p.onMs : p.offMs;
      if (t.runMs > nominal * (1 + p.toleranceRatio)) t.matched = 0;
      const required = 2 * p.cycles - 1;
      if (t.matched >= required - 1 && t.matched > 0 && t.runMs >= nominal * (1 - p.toleranceRatio)) {
        this.declared = { profile: p.name, kind: p.kind, atMs: this.elapsedMs };
        return this.declared;
      }
    }
    return undefined;
  }

  /** Forget what was heard (a new call on the line). */
  reset(): void {
    this.elapsedMs = 0;
    this.declared = undefined;
    for (const t of this.trackers) {
      t.on = false;
      t.runMs = 0;
      t.matched = 0;
    }
  }

  close(): void {
    this.reset();
  }

  dump(): {
    elapsedMs: number;
    declared: CadenceMatch | null;
    trackers: { profile: string; on: boolean; runMs: number; matched: number }[];
  } {
    return {
      elapsedMs: this.elapsedMs,
      declared: this.declared ?? null,
      trackers: this.trackers.map((t) => ({
        profile: t.profile.name,
        on: t.on,
        runMs: t.runMs,
        matched: t.matched,
      })),
    };
  }
}

/** A steady tone (dial tone) heard without a break for `minMs`. */
export class SteadyToneDetector {
  private runMs = 0;

  constructor(
    private readonly frequenciesHz: readonly number[],
    private readonly minMs = 300,
    private readonly toleranceHz = 15,
    private readonly minLevelDbm0 = -40,
  ) {}

  push(frame: Int16Array): boolean {
    if (toneInFrame(frame, this.frequenciesHz, this.toleranceHz, this.minLevelDbm0)) this.runMs += FRAME_MS;
    else this.runMs = 0;
    return this.runMs >= this.minMs;
  }

  reset(): void {
    this.runMs = 0;
  }

  dump(): { frequenciesHz: number[]; runMs: number } {
    return { frequenciesHz: [...this.frequenciesHz], runMs: this.runMs };
  }
}

export const LearnErrors = {
  NO_TONE: 'EDGE_ERR_PSTN_LEARN_NO_TONE',
  TOO_SHORT: 'EDGE_ERR_PSTN_LEARN_TOO_SHORT',
  IRREGULAR: 'EDGE_ERR_PSTN_LEARN_IRREGULAR',
} as const satisfies Record<string, ErrorCode>;

export interface CadenceLearnerOptions {
  /** Frames beyond this are ignored (bounded memory). */
  maxMs?: number;
  lowHz?: number;
  highHz?: number;
  minLevelDbm0?: number;
}

const SCAN_STEP_HZ = 5;

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

/**
 * "Learn this line's busy tone": the technician makes the far end hang up and the line listens for
 * a few seconds. The learner finds the dominant frequency (and a second one if the tone is a
 * pair), then the on/off durations, and returns a profile the `CadenceDetector` uses for this line.
 */
export class CadenceLearner {
  private readonly frames: Int16Array[] = [];
  private readonly maxFrames: number;
  private readonly lowHz: number;
  private readonly highHz: number;
  private readonly minLevelDbm0: number;

  constructor(options: CadenceLearnerOptions = {}) {
    this.maxFrames = Math.ceil((options.maxMs ?? 10_000) / FRAME_MS);
    this.lowHz = options.lowHz ?? 300;
    this.highHz = options.highHz ?? 1000;
    this.minLevelDbm0 = options.minLevelDbm0 ?? -40;
  }

  push(frame: Int16Array): void {
    if (this.frames.length < this.maxFrames) this.frames.push(Int16Array.from(frame));
  }

  get heardMs(): number {
    return this.frames.length * FRAME_MS;
  }

  finish(name = 'learned-busy'): Result<CadenceProfile> {
    const minPower = dbm0ToPower(this.minLevelDbm0);
    const loud = this.frames.filter((f) => meanPower(f) >= minPower);
    if (loud.length === 0) return err(fail(LearnErrors.NO_TONE, 'nothing above the minimum level was heard'));
    // Spectrum of the loud frames, 5 Hz apart.
    const bins = Math.floor((this.highHz - this.lowHz) / SCAN_STEP_HZ) + 1;
    const spectrum = new Float64Array(bins);
    for (let b = 0; b < bins; b++) {
      const coeff = goertzelCoefficient(this.lowHz + b * SCAN_STEP_HZ, SAMPLE_RATE_HZ);
      for (const f of loud) spectrum[b] = (spectrum[b] ?? 0) + goertzelPower(f, coeff);
    }
    const peaks = localPeaks(spectrum);
    const first = peaks[0];
    if (first === undefined) return err(fail(LearnErrors.NO_TONE, 'no tone in the band'));
    const freqs = [this.lowHz + first.bin * SCAN_STEP_HZ];
    // A second component of a dual tone: a separate peak at least 80 Hz away with a fair share.
    const second = peaks.find(
      (p) => Math.abs(p.bin - first.bin) * SCAN_STEP_HZ >= 80 && p.power >= 0.3 * first.power,
    );
    if (second) freqs.push(this.lowHz + second.bin * SCAN_STEP_HZ);
    freqs.sort((a, b) => a - b);

    const runs: { on: boolean; ms: number }[] = [];
    for (const f of this.frames) {
      const on = toneInFrame(f, freqs, 15, this.minLevelDbm0);
      const last = runs[runs.length - 1];
      if (last && last.on === on) last.ms += FRAME_MS;
      else runs.push({ on, ms: FRAME_MS });
    }
    // The first and last runs were cut by the start and end of listening.
    const whole = runs.slice(1, -1);
    // Listening starts with the call being set up (dial tone, the pause while the digits go out)
    // before the tone settles into its cadence: leading runs far from the medians are not part of it.
    const fits = (r: { on: boolean; ms: number }): boolean => {
      const same = whole.filter((x) => x.on === r.on).map((x) => x.ms);
      const m = median(same);
      return Math.abs(r.ms - m) <= 0.2 * m;
    };
    while (whole.length > 4 && whole[0] && !fits(whole[0])) whole.shift();
    const ons = whole.filter((r) => r.on).map((r) => r.ms);
    const offs = whole.filter((r) => !r.on).map((r) => r.ms);
    if (ons.length < 2 || offs.length < 2) {
      return err(
        fail(
          LearnErrors.TOO_SHORT,
          `heard ${ons.length} whole tone bursts and ${offs.length} gaps; need 2 of each`,
        ),
      );
    }
    const onMs = median(ons);
    const offMs = median(offs);
    const irregular = [...ons.map((v) => [v, onMs]), ...offs.map((v) => [v, offMs])].some(
      ([v, m]) => Math.abs((v ?? 0) - (m ?? 0)) > 0.2 * (m ?? 0),
    );
    if (irregular)
      return err(
        fail(
          LearnErrors.IRREGULAR,
          `bursts ${ons.join('/')} ms and gaps ${offs.join('/')} ms are not one cadence`,
        ),
      );
    return ok({
      ...profile(name, 'busy', freqs, Math.round(onMs), Math.round(offMs)),
      minLevelDbm0: this.minLevelDbm0,
    });
  }

  close(): void {
    this.frames.length = 0;
  }

  dump(): { heardMs: number } {
    return { heardMs: this.heardMs };
  }
}

function fail(code: ErrorCode, message: string): ParseError {
  return { code, message };
}

function localPeaks(spectrum: Float64Array): { bin: number; power: number }[] {
  const peaks: { bin: number; power: number }[] = [];
  for (let b = 0; b < spectrum.length; b++) {
    const p = spectrum[b] ?? 0;
    if (p > 0 && p >= (spectrum[b - 1] ?? 0) && p > (spectrum[b + 1] ?? 0)) peaks.push({ bin: b, power: p });
  }
  return peaks.sort((a, b) => b.power - a.power);
}
